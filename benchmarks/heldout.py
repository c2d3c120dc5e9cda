"""Held-out quality benchmark (issue 26): methods at their defaults on cases nobody
tuned to, against classic RL at its best iteration count and their own best grid point.

    PYTHONPATH=src .venv/bin/python benchmarks/heldout.py            # held-out split
    PYTHONPATH=src .venv/bin/python benchmarks/heldout.py --quick    # every 3rd case
    PYTHONPATH=src .venv/bin/python benchmarks/heldout.py --tuning   # the tuning split too
    ... --methods rl,sparse_psf,rl_tv

Cases: benchmarks/heldout_cases.py (seeded; the two splits differ in scenes and optics).
Scores (per method, per case), outputs converted to photons with the true gain:
- RSNR (dB, after the best affine fit) against the object itself ("obj") and against the
  object through a Gaussian of half the PSF FWHM ("half");
- pairs: the smallest pair separation (in PSF FWHMs; nm for the SIM-like cases) from
  which every larger pair is resolved (dip >= 20 %);
- empty: mean and max of the output over the empty region, as a fraction of the true
  mean background there (methods that keep the background: rl, raw, have the true
  background subtracted first);
- below raw: cases where a score falls below the raw input's;
- vs RL*: against classic RL (no acceleration) at its best iteration count, chosen
  with the truth per score; vs own best: against the method's best grid point
  (``rl``: its iteration count; ``sparse_psf``/``rl_tv``: strength x resolution).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
from scipy.ndimage import gaussian_filter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import heldout_cases as H  # noqa: E402

import napari_sparsedecon as nsd  # noqa: E402
from napari_sparsedecon.algorithms.registry import get_method  # noqa: E402
from napari_sparsedecon.core.phantom import pair_resolved  # noqa: E402

RL_GRID = (1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150)
STRENGTH_FACTORS = (0.5, 1.0, 2.0)
RES_GRID = (0.0, 0.125, 0.25, 0.375, 0.5, 0.75)


def rsnr(x, t):
    x, t = np.ravel(x).astype(float), np.ravel(t).astype(float)
    a = np.vstack([x, np.ones_like(x)]).T
    fit = a @ np.linalg.lstsq(a, t, rcond=None)[0]
    return float(10 * np.log10(np.sum((t - t.mean()) ** 2) / np.sum((t - fit) ** 2)))


def pairs_resolved(img, case):
    plane = img[case.pair_index] if case.pair_index else img
    ok = None
    for sep, p1, p2 in sorted(case.pairs, reverse=True):
        if not pair_resolved(plane, p1, p2, dip=0.8):
            break
        ok = sep
    return ok


def scores(out_ph, case, keeps_background):
    o = out_ph - case.background if keeps_background else out_ph
    bgm = float(np.mean(case.background[case.empty])) if case.empty.any() else np.nan
    e = o[case.empty] if case.empty.any() else np.array([np.nan])
    return {"obj": rsnr(out_ph, case.truth), "half": rsnr(out_ph, case.truth_half),
            "pairs": pairs_resolved(out_ph, case),
            "empty_mean": float(np.mean(e)) / bgm, "empty_max": float(np.max(e)) / bgm}


def _estimates(name, case, params, at):
    """Outputs of method ``name`` after each iteration count in ``at`` (one run)."""
    m = get_method(name)
    p = m.validate({**params, "iterations": max(at)})
    gen = m.iterate(case.data, case.psf, p, backend="numpy", device=None,
                    return_estimate=True)
    got = {}
    try:
        while True:
            pr = next(gen)
            if pr.iteration in at:
                got[pr.iteration] = np.asarray(pr.estimate, np.float32) / case.gain
    except StopIteration:
        pass
    return got


def best_of(outs, case, keeps):
    """{score: (best value, key)} over a dict of outputs."""
    sc = {k: scores(v, case, keeps) for k, v in outs.items()}
    return {s: max((v[s], k) for k, v in sc.items()) for s in ("obj", "half")}, sc


def run_case(case, methods):
    row = {"name": case.spec["name"], "spec": case.spec}
    raw = case.data / case.gain
    row["raw"] = scores(raw, case, True)
    # classic RL at its best iteration count (oracle, per score)
    outs = _estimates("rl", case, {"acceleration": "none", "stop": "none"}, RL_GRID)
    row["rl_best"], _ = best_of(outs, case, True)
    for name in methods:
        t0 = time.perf_counter()
        out, info = nsd.deconvolve(case.data, name, psf=case.psf, return_info=True,
                                   backend="numpy")
        dt = time.perf_counter() - t0
        r = scores(out / case.gain, case, name == "rl")
        r["time"] = dt
        if name == "rl":
            ch = info.get("stop_choice", {})
            r["chosen"] = info["iterations_run"]
            r["half_best"] = ch.get("best_on_half")
            outs = _estimates("rl", case, {"stop": "none"}, set(range(1, 151)))
            r["grid"], gsc = best_of(outs, case, True)
            r["curve_obj"] = {k: v["obj"] for k, v in gsc.items()}
        else:
            ch = info.get("resolution_choice", {})
            r["chosen"] = info.get("resolution_used")
            r["half_best"] = ch.get("deviance_best")
            default = get_method(name).defaults()["strength"]
            grid = {}
            for f in STRENGTH_FACTORS:
                raw_est = nsd.deconvolve(case.data, name, psf=case.psf, backend="numpy",
                                         strength=default * f, resolution=0.0)
                for res in RES_GRID:
                    sig = _sigma(case, res)
                    grid[(f, res)] = (gaussian_filter(raw_est, sig) if res > 0
                                      else raw_est) / case.gain
            r["grid"], gsc = best_of(grid, case, False)
            r["fixed_default"] = gsc[(1.0, 0.5)]  # the old default: resolution 0.5
            r["excess_se"] = ch.get("excess_se")
            r["whitened_by_tau"] = ch.get("whitened_by_tau")
            r["res_scores"] = {k[1]: (v["obj"], v["half"]) for k, v in gsc.items()
                               if k[0] == 1.0}
            r["res_obj_best"] = max((v["obj"], k[1]) for k, v in gsc.items()
                                    if k[0] == 1.0)[1]
            r["res_half_best"] = max((v["half"], k[1]) for k, v in gsc.items()
                                     if k[0] == 1.0)[1]
        row[name] = r
    return row


def _sigma(case, res):
    """The output blur the methods use for ``resolution`` (their own PSF width measure)."""
    from napari_sparsedecon.algorithms.rl_reg import _output_sigma

    return _output_sigma(case.psf, case.data.ndim, res)


def fmt(v, nd=1):
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else \
        (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def report(rows, methods, title):
    print(f"\n## {title}: {len(rows)} cases")
    print("\n| case | raw obj/half | RL* obj/half | " + " | ".join(
        f"{m} obj/half (chosen)" for m in methods) + " |")
    print("|---|---|---|" + "---|" * len(methods))
    for r in rows:
        cells = [f"{r['raw']['obj']:.1f}/{r['raw']['half']:.1f}",
                 f"{r['rl_best']['obj'][0]:.1f}/{r['rl_best']['half'][0]:.1f}"]
        for m in methods:
            x = r[m]
            cells.append(f"{x['obj']:.1f}/{x['half']:.1f} ({fmt(x['chosen'], 3)})")
        print(f"| {r['name']} | " + " | ".join(cells) + " |")
    print("\n| method | median obj | median half | d obj vs RL* (median; >= -0.5 dB) | "
          "d half vs RL* (median; >= +1 dB) | below raw (obj or half) | within 1 dB of "
          "own best: obj / half / both | empty mean / max (median of cases) | time s "
          "(median) |")
    print("|---|---|---|---|---|---|---|---|---|")
    n = len(rows)
    summary = {}
    for m in methods + ["fixed_default"]:
        base = [m] if m != "fixed_default" else None
        if m == "fixed_default":
            if "sparse_psf" not in methods:
                continue
            xs = [r["sparse_psf"]["fixed_default"] for r in rows]
            label = "sparse_psf, resolution 0.5 (old default)"
            grids = [r["sparse_psf"]["grid"] for r in rows]
            times = [np.nan]
        else:
            xs = [r[m] for r in rows]
            label = m + " (defaults)"
            grids = [r[m]["grid"] for r in rows]
            times = [x["time"] for x in xs]
        del base
        do = np.array([x["obj"] - r["rl_best"]["obj"][0] for x, r in zip(xs, rows,
                                                                           strict=True)])
        dh = np.array([x["half"] - r["rl_best"]["half"][0] for x, r in zip(xs, rows,
                                                                            strict=True)])
        below = sum(x["obj"] < r["raw"]["obj"] or x["half"] < r["raw"]["half"]
                    for x, r in zip(xs, rows, strict=True))
        within = sum(x["obj"] >= g["obj"][0] - 1 and x["half"] >= g["half"][0] - 1
                     for x, g in zip(xs, grids, strict=True))
        w_obj = sum(x["obj"] >= g["obj"][0] - 1 for x, g in zip(xs, grids, strict=True))
        w_half = sum(x["half"] >= g["half"][0] - 1 for x, g in zip(xs, grids, strict=True))
        em = [x["empty_mean"] for x in xs if np.isfinite(x["empty_mean"])]
        ex = [x["empty_max"] for x in xs if np.isfinite(x["empty_max"])]
        summary[m] = dict(do=do, dh=dh, below=below, within=within, em=em, ex=ex,
                          w_obj=w_obj, w_half=w_half)
        print(f"| {label} | {np.median([x['obj'] for x in xs]):.2f} | "
              f"{np.median([x['half'] for x in xs]):.2f} | {np.median(do):+.2f} | "
              f"{np.median(dh):+.2f} | {below}/{n} | {w_obj} / {w_half} / {within} (of {n}) | "
              f"{np.median(em):.3f} / {np.median(ex):.3f} | "
              f"{fmt(float(np.median(times)), 2) if np.isfinite(times).all() else '-'} |")
    # pairs
    print("\n| case | raw pairs | RL* pairs (obj-best it.) | " + " | ".join(
        f"{m}" for m in methods) + " |  (smallest resolved separation, PSF FWHMs)")
    print("|---|---|---|" + "---|" * len(methods))
    for r in rows:
        print(f"| {r['name']} | {fmt(r['raw']['pairs'], 2)} | - | " + " | ".join(
            fmt(r[m]['pairs'], 2) for m in methods) + " |")
    return summary


def targets(rows, summary, methods):
    n = len(rows)
    print("\n## Targets (issue 26), on this split")
    if "sparse_psf" in summary:
        s = summary["sparse_psf"]
        ok = int(np.sum((s["dh"] >= 1.0) & (s["do"] >= -0.5)))
        print(f"- [{'x' if ok >= 0.9 * n else ' '}] default method >= RL* + 1 dB (half) and "
              f">= RL* - 0.5 dB (obj) on >= 90 % of cases: {ok}/{n}")
        print(f"- [{'x' if s['below'] == 0 else ' '}] never below the raw input: "
              f"{s['below']} case(s) below")
        print(f"- [{'x' if s['within'] >= 0.8 * n else ' '}] within 1 dB of its own best grid "
              f"point on >= 80 %: {s['within']}/{n} on both scores at once (against the "
              f"object alone {s['w_obj']}/{n}, against the half-PSF truth alone "
              f"{s['w_half']}/{n})")
        em, ex = np.array(s["em"]), np.array(s["ex"])
        print(f"- [{'x' if (em < 0.01).all() and (ex < 0.25).all() else ' '}] empty regions: "
              f"mean < 1 % and max < 25 % of the background: mean < 1 % in "
              f"{int((em < 0.01).sum())}/{em.size}, max < 25 % in {int((ex < 0.25).sum())}/"
              f"{ex.size}")
        sim = [r for r in rows if r["spec"]["optics"] == "sim_110"]
        for r in sim:
            fw_nm = r["spec"]["photons"]
            a, b = r["raw"]["pairs"], r["sparse_psf"]["pairs"]
            f_nm = 110.0
            ok = a is not None and b is not None and (a - b) * f_nm >= 30 or \
                (a is None and b is not None)
            print(f"- [{'x' if ok else ' '}] SIM-like {r['name']} ({fw_nm:g} photons): pairs "
                  f"from {fmt(b and b * f_nm, 0)} nm vs raw {fmt(a and a * f_nm, 0)} nm "
                  f"(>= 30 nm closer wanted)")
    if "rl" in summary:
        ok = sum(r["rl"]["obj"] >= r["rl"]["grid"]["obj"][0] - 0.5 for r in rows)
        print(f"- [{'x' if ok >= 0.8 * n else ' '}] rl's stop within 0.5 dB (obj) of its best "
              f"iteration count on >= 80 %: {ok}/{n}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="every 3rd case")
    ap.add_argument("--tuning", action="store_true", help="also run the tuning split")
    ap.add_argument("--only-tuning", action="store_true")
    ap.add_argument("--methods", default="rl,sparse_psf,rl_tv")
    ap.add_argument("--dims", default="2d,2dt,3d")
    ap.add_argument("--save", default="", help="write the per-case rows (JSON) here")
    ap.add_argument("--from-json", default="", help="only print the report of saved rows")
    a = ap.parse_args(argv)
    methods = a.methods.split(",")
    print(f"# held-out benchmark: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}, napari-sparsedecon "
          f"{nsd.__version__}")
    splits = (["tuning"] if a.tuning or a.only_tuning else []) + \
        ([] if a.only_tuning else ["heldout"])
    dims = a.dims.split(",")
    if a.from_json:
        import json

        rows = json.load(open(a.from_json))
        split = rows[0]["spec"]["split"]
        summary = report(rows, methods, f"{split} split (from {a.from_json})")
        targets(rows, summary, methods)
        if split == "tuning":
            calibration(rows, methods)
        return
    t_all = time.perf_counter()
    for split in splits:
        sp = [s for s in H.specs(split) if s["dim"] in dims]
        if a.quick:
            sp = sp[::3]
        rows = []
        for s in sp:
            t0 = time.perf_counter()
            rows.append(run_case(H.make_case(s), methods))
            print(f"  ({s['name']}: {time.perf_counter() - t0:.1f} s)", file=sys.stderr,
                  flush=True)
        if a.save:
            import json

            with open(f"{a.save}.{split}.json", "w") as fh:
                json.dump(rows, fh, default=_jsonable)
        summary = report(rows, methods, f"{split} split")
        targets(rows, summary, methods)
        if split == "tuning":
            calibration(rows, methods)
    print(f"\n(total {time.perf_counter() - t_all:.0f} s)")


def _jsonable(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    return str(o)


def calibration(rows, methods):
    """What the tuning split says about the half->full constants of algorithms.selection."""
    print("\n## Calibration (tuning split)")
    if "rl" in methods:
        rat = []
        for r in rows:
            hb, fb = r["rl"]["half_best"], r["rl"]["grid"]["obj"][1]
            if hb:
                rat.append(fb / hb)
        print(f"rl: best full-data iteration count (obj) / best on half: median "
              f"{np.median(rat):.2f}, quartiles {np.percentile(rat, 25):.2f}-"
              f"{np.percentile(rat, 75):.2f} over {len(rat)} cases")
        for ratio in (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0):
            ok, loss = 0, []
            for r in rows:
                c = {int(k): v for k, v in r["rl"]["curve_obj"].items()}
                hb = r["rl"]["half_best"] or 1
                n = int(min(100, max(1, round(ratio * hb))))
                d = max(c.values()) - c[n]
                ok += d <= 0.5
                loss.append(d)
            print(f"  half_to_full {ratio}: within 0.5 dB of the best on {ok}/{len(rows)}, "
                  f"median loss {np.median(loss):.2f} dB, mean {np.mean(loss):.2f}")
    for m in ("sparse_psf", "rl_tv"):
        if m in methods:
            pairs = [(r[m]["half_best"], r[m]["res_obj_best"], r[m]["res_half_best"])
                     for r in rows]
            print(f"{m}: (best res on half by deviance, truth-best res obj, truth-best res "
                  f"half): {pairs}")
            for k in (0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 1e9):
                within, so, sh = 0, [], []
                for r in rows:
                    x = r[m]
                    x["res_scores"] = {float(c): v for c, v in x["res_scores"].items()}
                    cand = list(x["res_scores"])
                    z = x["excess_se"]
                    ch = max(c for c, v in zip(cand, z, strict=True) if v <= k)
                    o, h = x["res_scores"][ch]
                    bo = max(v[0] for v in x["res_scores"].values())
                    bh = max(v[1] for v in x["res_scores"].values())
                    within += o >= bo - 1 and h >= bh - 1
                    so.append(o - r["rl_best"]["obj"][0])
                    sh.append(h - r["rl_best"]["half"][0])
                print(f"  deviance, se_rule {k:g}: within 1 dB of the best resolution (both "
                      f"scores) {within}/{len(rows)}; median vs RL* obj {np.median(so):+.2f}, "
                      f"half {np.median(sh):+.2f}")
            for tau in rows[0][m]["whitened_by_tau"]:
                within, so, sh = 0, [], []
                for r in rows:
                    x = r[m]
                    x["res_scores"] = {float(c): v for c, v in x["res_scores"].items()}
                    cand = list(x["res_scores"])
                    ch = cand[int(np.argmin(x["whitened_by_tau"][tau]))]
                    o, h = x["res_scores"][ch]
                    bo = max(v[0] for v in x["res_scores"].values())
                    bh = max(v[1] for v in x["res_scores"].values())
                    within += o >= bo - 1 and h >= bh - 1
                    so.append(o - r["rl_best"]["obj"][0])
                    sh.append(h - r["rl_best"]["half"][0])
                print(f"  whitened, tau {tau}: within 1 dB of the best resolution (both "
                      f"scores) {within}/{len(rows)}; median vs RL* obj {np.median(so):+.2f},"
                      f" half {np.median(sh):+.2f}")


if __name__ == "__main__":
    main()
