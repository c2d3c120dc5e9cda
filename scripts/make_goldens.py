"""Make (or check) the golden arrays in tests/data/ and their provenance record.

A golden array is the output of one documented run, stored so that a test can
tell when a change alters results. Each recipe below says how its input is
made and which call with which parameters produced it; the tests read the
same recipes (tests/core/test_goldens.py), so the test and the file cannot
drift apart. tests/data/goldens.json records, per file: the recipe, the
package version and git commit that made it, the date, the NumPy/SciPy
versions, the shape, dtype and sha256.

    python scripts/make_goldens.py            # check: recompute, compare, write nothing
    python scripts/make_goldens.py --write    # (re)make the missing goldens
    python scripts/make_goldens.py --write --force NAME --note WHY  # remake on purpose

Remaking a golden on purpose is for a deliberate change of results; say why
in the commit message. Run with the repository's src first on the path
(PYTHONPATH=src) so the package under test is the one that makes the file.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
RECORD = DATA / "goldens.json"


def _phantom_crop():
    from napari_sparsedecon.core.phantom import make_phantom

    ph = make_phantom((160, 160), seed=7)
    return ph.noisy[40:88, 60:108].copy()


def _celegans_crop():
    import napari_sparsedecon as nsd

    return nsd.datasets.celegans()[80:144, 192:256].copy()


def _sparse(img, params):
    import napari_sparsedecon as nsd

    return nsd.sparse_deconvolve(img, **params)


def _rl(img, params):
    import napari_sparsedecon as nsd

    p = dict(params)
    psf = nsd.gaussian_psf(tuple(p.pop("psf_shape")), p.pop("psf_fwhm_px"))
    # a one-sided tail: an asymmetric PSF, so that a flipped PSF or a wrong adjoint
    # (correlation vs convolution) changes the result; a symmetric one would hide it
    tail = p.pop("psf_tail")
    psf = psf + tail["weight"] * np.roll(psf, tuple(tail["shift_px"]), axis=(0, 1))
    return nsd.richardson_lucy(img, (psf / psf.sum()).astype(np.float32), **p)


#: name -> recipe. ``input`` describes the input in words; ``make_input`` and
#: ``run`` reproduce it; ``tolerance`` is what the test allows (relative to the
#: golden's maximum), chosen well above float32 reordering noise (~1e-6) and
#: well below any change of the algorithm (>= 1e-2 in practice).
RECIPES = {
    "golden_sparse_48.npy": {
        "input": "synthetic phantom make_phantom((160, 160), seed=7).noisy, crop "
                 "[40:88, 60:108] (48 x 48)",
        "call": "napari_sparsedecon.sparse_deconvolve",
        "params": {"psf_fwhm_px": 3.4375, "iterations": 40, "deconv_iterations": 10,
                   "background": "low/2"},
        "tolerance": {"rtol": 1e-3, "atol_of_max": 1e-3},
        "make_input": _phantom_crop,
        "run": _sparse,
    },
    "golden_rl_celegans_64.npy": {
        "input": "bundled real Airyscan image napari_sparsedecon.datasets.celegans(), "
                 "crop [80:144, 192:256] (64 x 64)",
        "call": "napari_sparsedecon.richardson_lucy (classic, no acceleration); PSF: "
                "g = gaussian_psf(psf_shape, psf_fwhm_px), g + weight * g shifted by "
                "shift_px (np.roll), normalised to sum 1",
        "params": {"psf_shape": [15, 15], "psf_fwhm_px": 3.53,
                   "psf_tail": {"shift_px": [1, 3], "weight": 0.4}, "iterations": 25,
                   "background": 185.0, "acceleration": None},
        "tolerance": {"rtol": 1e-4, "atol_of_max": 1e-4},
        "make_input": _celegans_crop,
        "run": _rl,
    },
}


def compute(name: str) -> np.ndarray:
    r = RECIPES[name]
    return np.asarray(r["run"](r["make_input"](), r["params"]), dtype=np.float32)


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_record() -> dict:
    return json.loads(RECORD.read_text()) if RECORD.exists() else {}


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "src"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out + (" (src modified)" if dirty else "")


def provenance(name: str, arr: np.ndarray) -> dict:
    import scipy

    import napari_sparsedecon as nsd

    r = RECIPES[name]
    return {
        "script": "scripts/make_goldens.py",
        "input": r["input"],
        "call": r["call"],
        "params": r["params"],
        "tolerance": r["tolerance"],
        "shape": list(arr.shape),
        "dtype": str(arr.dtype),
        "package_version": nsd.__version__,
        "git_commit": _git_commit(),
        "date": datetime.date.today().isoformat(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def max_rel_diff(a, b) -> float:
    return float(np.max(np.abs(a - b)) / (float(np.max(np.abs(b))) or 1.0))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="write missing goldens")
    ap.add_argument("--force", nargs="*", default=[], metavar="NAME",
                    help="with --write, remake these existing goldens on purpose")
    ap.add_argument("--note", default="",
                    help="why the forced goldens were remade (kept in their history)")
    args = ap.parse_args(argv)
    unknown = set(args.force) - set(RECIPES)
    if unknown:
        ap.error(f"no recipe named {', '.join(sorted(unknown))}; known: {', '.join(RECIPES)}")
    if args.force and not args.note:
        ap.error("say why with --note when remaking a golden (--force)")
    record = load_record()
    bad = 0
    for name in RECIPES:
        path = DATA / name
        arr = compute(name)
        if path.exists() and name not in args.force:
            ref = np.load(path)
            d = max_rel_diff(arr, ref) if arr.shape == ref.shape else float("inf")
            same_sha = record.get(name, {}).get("sha256") == sha256(path)
            ok = d <= RECIPES[name]["tolerance"]["rtol"] and same_sha
            bad += not ok
            print(f"{name}: max |recomputed - stored| = {d:.2e} of its maximum; "
                  f"sha256 {'matches' if same_sha else 'DOES NOT match'} the record"
                  f"{'' if ok else '  <- FAILS'}")
            continue
        if not args.write:
            print(f"{name}: missing (run with --write to make it)")
            bad += 1
            continue
        old = record.get(name)
        history = [*old.get("history", []), {k: old[k] for k in ("git_commit", "date", "sha256")
                                            if k in old}] if old else []
        if old and path.exists():
            history[-1]["replaced_because"] = args.note
            history[-1]["max_change_of_max"] = max_rel_diff(arr, np.load(path))
        np.save(path, arr)
        record[name] = {**provenance(name, arr), "sha256": sha256(path), "history": history}
        print(f"{name}: written, sha256 {record[name]['sha256'][:12]}...")
    if args.write:
        RECORD.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
