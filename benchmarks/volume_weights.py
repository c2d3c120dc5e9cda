"""`sparse_psf`'s prior weights on the 3-D cases of the held-out benchmark (issue 26):
the factors on strength and sparsity that `rl_reg.VOLUME_PRIOR_SCALE` was chosen from.

    PYTHONPATH=src .venv/bin/python benchmarks/volume_weights.py            # tuning split
    ... volume_weights.py --split heldout --factors 1x1,0.25x0.25 --rl      # ~10 min

Each factor pair ``SxL`` multiplies the *effective* weights of the 2-D defaults (strength
0.005, sparsity 1): the run passes strength and sparsity divided by the volume scale
now applied inside, so ``1x1`` is the old (unscaled) default and ``0.25x0.25`` the
current one. Prints RSNR against the object / the half-PSF object per case, the medians,
and with ``--rl`` classic RL at its best iteration count (chosen with the truth).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import heldout as B  # noqa: E402
import heldout_cases as H  # noqa: E402

import napari_sparsedecon as nsd  # noqa: E402
from napari_sparsedecon.algorithms.rl_reg import VOLUME_PRIOR_SCALE  # noqa: E402

STRENGTH, SPARSITY = 0.005, 1.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="tuning", choices=["tuning", "heldout"])
    ap.add_argument("--factors", default="1x1,0.25x1,0.25x0.25,0.25x0")
    ap.add_argument("--rl", action="store_true", help="also classic RL at its best count")
    a = ap.parse_args(argv)
    pairs = [tuple(float(v) for v in f.split("x")) for f in a.factors.split(",")]
    print(f"# 3-D cases, {a.split} split, {time.strftime('%Y-%m-%d %H:%M')}, "
          f"{os.cpu_count()} cores")
    res = {p: [] for p in pairs}
    rl = []
    for s in [s for s in H.specs(a.split) if s["dim"] == "3d"]:
        case = H.make_case(s)
        cells = [s["name"]]
        if a.rl:
            outs = B._estimates("rl", case, {"acceleration": "none", "stop": "none"},
                                B.RL_GRID)
            best, _ = B.best_of(outs, case, True)
            rl.append((best["obj"][0], best["half"][0]))
            cells.append(f"RL* {rl[-1][0]:.2f}/{rl[-1][1]:.2f}")
        for fs, fl in pairs:
            out = nsd.deconvolve(case.data, "sparse_psf", psf=case.psf, backend="numpy",
                                 strength=STRENGTH * fs / VOLUME_PRIOR_SCALE,
                                 sparsity=SPARSITY * fl / VOLUME_PRIOR_SCALE)
            sc = B.scores(out / case.gain, case, False)
            res[(fs, fl)].append((sc["obj"], sc["half"]))
            cells.append(f"{fs:g}x{fl:g} {sc['obj']:.2f}/{sc['half']:.2f}")
        print(" | ".join(cells), flush=True)
    print("\nmedians obj/half:")
    if rl:
        print(f"  RL*: {np.median([v[0] for v in rl]):.2f}/{np.median([v[1] for v in rl]):.2f}")
    for (fs, fl), v in res.items():
        o, h = np.array(v).T
        line = f"  {fs:g}x{fl:g}: {np.median(o):.2f}/{np.median(h):.2f}"
        if rl:
            do = o - np.array([r[0] for r in rl])
            line += f"  (vs RL* obj: median {np.median(do):+.2f}, >= -0.5 dB on " \
                    f"{int((do >= -0.5).sum())}/{len(do)})"
        print(line)


if __name__ == "__main__":
    main()
