"""`sparse_psf`'s continuity on the 2-D+t cases of the held-out benchmark (issue 26):
is the default (1, along t for a stack with a 2-D PSF) what loses to RL on moving
structure, and can the data-splitting score choose it per image?

    PYTHONPATH=src .venv/bin/python benchmarks/continuity_2dt.py     # ~5 min on 2 cores

Per case and continuity value: RSNR against the object / the half-PSF object, and the
smallest whitened held-out score of the resolution rule (lower is the rule's pick).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import heldout as B  # noqa: E402
import heldout_cases as H  # noqa: E402

import napari_sparsedecon as nsd  # noqa: E402

VALUES = (1.0, 0.25, 0.0)


def main():
    for split in ("tuning", "heldout"):
        for s in [s for s in H.specs(split) if s["dim"] == "2dt"]:
            case = H.make_case(s)
            line = [s["name"]]
            for c in VALUES:
                out, info = nsd.deconvolve(case.data, "sparse_psf", psf=case.psf,
                                           return_info=True, backend="numpy", continuity=c)
                sc = B.scores(out / case.gain, case, False)
                w = min(info["resolution_choice"]["whitened"])
                line.append(f"c={c}: {sc['obj']:.2f}/{sc['half']:.2f} w={w:.5g} "
                            f"r={info.get('resolution_used')}")
            print(" | ".join(line), flush=True)


if __name__ == "__main__":
    main()
