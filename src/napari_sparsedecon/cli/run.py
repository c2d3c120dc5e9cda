"""``napari-sparsedecon run``: files, globs or folders through any registered method."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from .common import _apply_threads, _bar, _progress_printer
from .presets import _preset_base, _preset_psf


def _check_per_channel_flags(args) -> None:
    """--psf-fwhm-nm and --wavelength-nm: positive numbers; --wavelength-nm only where a
    preset makes the PSF."""
    for flag, vals in (("--psf-fwhm-nm", args.psf_fwhm_nm),
                       ("--wavelength-nm", args.wavelength_nm)):
        for v in vals or []:
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"{flag} values must be positive numbers of nm, got {v:g}")
    if args.wavelength_nm:
        if not args.preset:
            raise ValueError("--wavelength-nm sets the emission wavelength of a preset's Airy "
                             "PSF: give it with --preset (or give --psf / --psf-fwhm-nm)")
        if args.psf or args.psf_fwhm_nm or args.psf_fwhm_px:
            raise ValueError("--wavelength-nm makes the preset's Airy PSF; it cannot be "
                             "combined with --psf, --psf-fwhm-nm or --psf-fwhm-px")


def _capped_workers(args) -> None:
    """No more worker processes than cores this process may run on (each is a whole
    Python process with its own memory: 100000 of them sat in set-up while memory grew):
    a larger --workers is lowered to the cores, saying so."""
    from ..ops.threads import available_cores

    cores = available_cores()
    if args.workers is not None and args.workers > cores:
        print(f"--workers {args.workers}: this run has {cores} core(s); starting {cores} "
              f"worker(s) (more processes than cores only add memory and set-up)",
              file=sys.stderr)
        args.workers = cores


def _check_run_numbers(args) -> None:
    """Refuse values argparse lets through: non-positive tiles and workers, bad sizes."""
    from ..largedata.batch import parse_size

    if args.tile is not None and args.tile <= 0:
        raise ValueError(f"--tile must be a positive number of pixels, got {args.tile}")
    if args.workers is not None and args.workers <= 0:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    _capped_workers(args)
    if args.memory_budget is not None:
        parse_size(args.memory_budget)


def _check_params_up_front(params) -> None:
    """Values the files would each fail on, refused once before any file is read."""
    from ..base.validation import per_axis

    f = params["psf_fwhm_px"]
    if f is not None:
        n = 1 if isinstance(f, int | float) else len(f)
        if n not in (1, 2, 3):
            raise ValueError(f"psf_fwhm_px needs 1 to 3 values, got {n}")
        per_axis(f, n, "psf_fwhm_px")


def _protected_paths(inputs, *, psf=None, params_file=None):
    out = [(f, "an input") for f in inputs]
    for q in [psf] if isinstance(psf, str) else psf or []:
        out.append((q, "the PSF file"))
    if params_file:
        out.append((params_file, "the parameter file"))
    return out


def _check_outputs(dsts, protected) -> None:
    from ..io.outputs import check_not_protected

    for d in dsts:
        check_not_protected(d, protected)


def _clean_parts(dsts) -> None:
    """Remove stale .part leftovers of these outputs (a killed earlier run), saying so."""
    from ..io.outputs import clean_stale_parts

    for d in dsts:
        removed, unknown = clean_stale_parts(d)
        for q in removed:
            print(f"removed stale temporary {q} (left by an interrupted earlier run)",
                  file=sys.stderr)
        for q in unknown:
            print(f"note: {q} may be a leftover of an interrupted run; remove it by hand if "
                  f"no other run is writing {d}", file=sys.stderr)


def _plan_run(args, files):
    """(jobs, skipped outputs) from -o / --out-dir / --format, refusing what cannot be meant."""
    from ..io.outputs import output_format
    from ..largedata import batch

    if args.output and args.out_dir:
        raise ValueError("give -o/--output or --out-dir, not both")
    out_dir, single = args.out_dir, None
    if args.output:
        o = args.output
        suffix = Path(o.rstrip("/")).suffix
        if output_format(o):
            if len(files) > 1:
                raise ValueError(f"-o {o} names one output file but there are {len(files)} "
                                 f"inputs; give an output folder with --out-dir")
            single = o.rstrip("/") or o
        elif suffix and not Path(o).is_dir():
            raise ValueError(f"-o {o}: {suffix!r} is not an output type; name the output "
                             f".tif, .tiff (ImageJ TIFF), .ome.tif (OME-TIFF) or .zarr "
                             f"(OME-Zarr), or give a "
                             f"folder with --out-dir")
        else:
            out_dir = o
    if single:
        fmt = output_format(single)
        if args.format and args.format != fmt:
            raise ValueError(f"--format {args.format} contradicts the output name {single}; "
                             f"drop --format or rename the output")
        if os.path.lexists(single) and not args.overwrite:
            return [], [single]
        return [batch.Job(files[0], single, fmt, args.overwrite)], []
    return batch.plan_jobs(files, out_dir=out_dir, fmt=args.format or "tif",
                           overwrite=args.overwrite)


#: A parameter file is a few hundred bytes; anything over this is not one.
PARAMS_FILE_MAX_BYTES = 1 << 20


def read_params_file(path):
    """The JSON of a ``--params`` file, read with a bound: a regular file of at most
    :data:`PARAMS_FILE_MAX_BYTES` (a FIFO would block, ``/dev/zero`` never ends)."""
    import stat

    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise ValueError("not a regular file (a parameter file is a JSON file, as the "
                         "widget exports)")
    limit = PARAMS_FILE_MAX_BYTES
    with open(path, "rb") as f:
        data = f.read(limit + 1)  # (a /proc file says size 0: the read is bounded too)
    if max(st.st_size, len(data)) > limit:
        raise ValueError(f"{max(st.st_size, len(data))} bytes or more; a parameter file "
                         f"is a small JSON object (at most {limit} bytes)")
    return json.loads(data.decode("utf-8"))


def _merge_params_file(base: dict, values):
    """``base`` (the preset's or the defaults) with a file's values on top, key by key:
    a file that names some parameters leaves the others as they were."""
    from ..core.params import validate_params

    if not isinstance(values, dict):
        raise TypeError(f"expected a JSON object of name: value, got "
                        f"{type(values).__name__}")
    validate_params(values)  # unknown names, wrong types and ranges refused here
    return validate_params({**base, **values})


def _params_from_args(args):
    from ..algorithms.sparse import SCHEMA
    from ..core.params import validate_params
    from ..params import cli_values

    base = _preset_base(args) or validate_params()
    if args.params:
        try:
            base = _merge_params_file(base, read_params_file(args.params))
        except (ValueError, TypeError) as err:  # JSONDecodeError and UnicodeError too
            cls = TypeError if isinstance(err, TypeError) else ValueError
            raise cls(f"--params {args.params}: {err}") from None
    changes = cli_values(args, SCHEMA)
    if args.psf_fwhm_px:
        f = args.psf_fwhm_px
        changes["psf_fwhm_px"] = f[0] if len(f) == 1 else tuple(f)
    if args.max_one:
        changes["quantitative"] = False
    return validate_params({**base, **changes})


def _budget_for_data(budget: int) -> int:
    """``--memory-budget`` is for the whole process: what this one already holds (Python,
    numpy, scipy, the readers; ~60-80 MiB) is taken off before the data are planned."""
    import scipy.fft  # noqa: F401 - loaded by every run; counted in what the process holds
    import scipy.ndimage  # noqa: F401
    import tifffile  # noqa: F401

    from ..base.resources import data_budget

    try:
        return data_budget(budget)
    except MemoryError as err:
        raise ValueError(f"--memory-budget: {err}") from None


def _client(args):
    if not (args.workers or args.scheduler):
        return None, None
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:
        raise ImportError("--workers/--scheduler need dask.distributed: pip install "
                          "'napari-sparsedecon[cluster]'") from err
    if args.scheduler:
        return Client(args.scheduler), None
    import dask

    # dashboard_address=None still listened on 0.0.0.0:8787 (dask's default port),
    # serving its /info pages: loopback only, a port the system picks, no pages
    with dask.config.set({"distributed.scheduler.http.routes": []}):
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address="127.0.0.1:0",
                               scheduler_kwargs={"dashboard": False})
    return Client(cluster), cluster


def _run(args) -> int:
    """``run``: files, globs or folders through ``--method`` (any registered method)."""
    from .. import datasets
    from ..largedata import batch

    inputs = args.inputs
    if not inputs:
        inputs = [str(datasets.celegans_path())]
        if not args.output and not args.out_dir:
            args.out_dir = "."  # never write into the installed package
        if args.psf is None and args.psf_fwhm_px is None and args.psf_fwhm_nm is None:
            args.psf_fwhm_px = [datasets.CELEGANS_PSF_FWHM_PX]
        print(f"no input given: using the bundled C. elegans Airyscan image "
              f"(PSF FWHM {datasets.CELEGANS_PSF_FWHM_PX} px)", file=sys.stderr)
    if args.psf_fwhm_nm is not None and args.psf_fwhm_px:
        raise ValueError("give --psf-fwhm-px or --psf-fwhm-nm, not both")
    _check_per_channel_flags(args)
    _check_run_numbers(args)
    _apply_threads(args)
    dry_lines, run_jobs = (_sparse_run(args) if args.method == "sparse"
                           else _method_run(args))
    if args.device is not None:  # read by every backend lookup, here and on dask workers
        from ..backends import ENV_DEVICE

        os.environ[ENV_DEVICE] = str(args.device)
    files, earlier = batch.expand_inputs(inputs)
    for f in earlier:
        print(f"skip: {f} is named like an output of an earlier run (give its name on its "
              f"own to process it)", file=sys.stderr)
    if not files:
        raise ValueError(f"no input files match {inputs}")
    if args.views_axis:
        args.views = True
    if args.views:
        files = _check_views(args, files)
    jobs, skipped = _plan_run(args, files[:1] if args.views else files)
    _check_outputs([j.dst for j in jobs] + skipped,
                   _protected_paths(files, psf=args.psf, params_file=args.params))
    if not args.dry_run:
        _clean_parts([j.dst for j in jobs] + skipped)
    for s in skipped:
        print(f"skip: {s} exists (use --overwrite to replace it)", file=sys.stderr)
    budget = batch.parse_size(args.memory_budget) if args.memory_budget else None
    if budget and not (args.workers or args.scheduler):
        budget = _budget_for_data(budget)
    if args.dry_run:
        for line in dry_lines(jobs, budget):
            print(line)
        print(f"dry run: {len(jobs)} file(s) to process, {len(skipped)} skipped")
        return 0
    client, cluster = _client(args)
    show = _progress_printer()
    t0 = time.perf_counter()

    def on_file(r, i, n):
        head = f"[{_bar(i, n, 10)}] {i}/{n} files:"
        if r["status"] == "ok":
            print(f"{head} ok {r['src']} -> {r['dst']} {tuple(r['shape'])} "
                  f"in {r['seconds']:.2f} s", file=sys.stderr, flush=True)
        else:
            print(f"{head} FAILED {r['src']}: {r['error']}", file=sys.stderr, flush=True)

    try:
        results = run_jobs(jobs, budget, client, on_file, show)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    failed = [r for r in results if r["status"] != "ok"]
    print(f"done: {len(results) - len(failed)} ok, {len(failed)} failed, {len(skipped)} "
          f"skipped in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 1 if failed else 0


def _check_views(args, files) -> list:
    """``--views``: two or more files in the order given, one output (-o), PSFs per view."""
    from ..largedata.views import check_view_method, check_view_psfs

    check_view_method(args.method)
    if args.views_axis:
        if len(files) != 1:
            raise ValueError(f"--views-axis {args.views_axis} takes one input file whose "
                             f"{args.views_axis} axis holds the views, got {len(files)}")
    elif len(files) < 2:
        raise ValueError(f"--views needs two or more input files (one per view), got "
                         f"{len(files)}; or one file with --views-axis AXIS")
    if not args.output:
        raise ValueError("--views makes one result from all the views: name it with -o "
                         "(e.g. -o fused.tif)")
    if args.workers or args.scheduler:
        raise ValueError("--views runs the views together in this process; drop --workers "
                         "/ --scheduler")
    if args.backend not in ("auto", "numpy"):
        raise ValueError(f"--views runs on NumPy only for now (got --backend {args.backend}); "
                         f"drop --backend")
    if not args.views_axis:  # (with an axis: checked once the file says how many)
        check_view_psfs(args.psf, len(files))
    args.view_files = list(files)
    return files


def _sparse_run(args):
    """(dry-run lines, job runner) of the paper pipeline (presets, t-chunks, max-1)."""
    from ..largedata import batch

    params = _params_from_args(args)
    _check_params_up_front(params)
    if args.wavelength_nm and _preset_psf(args, params) is None:
        raise ValueError("--wavelength-nm is for the preset's Airy PSF, but the parameter "
                         "file sets psf_fwhm_px (a Gaussian); drop one of them")
    if args.psf_fwhm_nm is not None:  # converted per file; a placeholder keeps validation
        params = {**params, "psf_fwhm_px": None}
    elif (params["psf_fwhm_px"] is None and args.psf is None
          and params["deconv_method"] != "none" and not _preset_psf(args)):
        raise ValueError("the deconvolution step needs --psf, --psf-fwhm-px or --psf-fwhm-nm "
                         "(or --deconv-method none)")
    pdict = dict(params)

    def dry(jobs, budget):
        return batch.dry_run_lines(jobs, pdict, memory_budget=budget)

    def run_jobs(jobs, budget, client, on_file, progress):
        return batch.run_batch(jobs, pdict, psf_path=args.psf, memory_budget=budget,
                               tile=args.tile, backend=args.backend, client=client,
                               on_file=on_file, progress=progress,
                               psf_fwhm_nm=args.psf_fwhm_nm, ngff=args.ngff,
                               psf_optics=_preset_psf(args, params))

    return dry, run_jobs


def _method_params(args, m) -> tuple[dict, set]:
    """(validated parameters, names given explicitly) of ``m`` from --params and flags.

    A parameter file holds the parameters as a flat object, or a result's record
    (``{"method": ..., "params": {...}}``, which must name this method)."""
    from ..params import cli_values

    base: dict = {}
    if args.params:
        try:
            d = read_params_file(args.params)
        except (ValueError, TypeError) as err:  # JSONDecodeError and UnicodeError too
            raise ValueError(f"--params {args.params}: {err}") from None
        if isinstance(d, dict) and isinstance(d.get("params"), dict):
            if d.get("method", m.name) != m.name:
                raise ValueError(f"--params {args.params} holds parameters of method "
                                 f"{d['method']!r}; add --method {d['method']} or use a "
                                 f"file of {m.name!r}")
            d = d["params"]
        if not isinstance(d, dict):
            raise ValueError(f"--params {args.params}: expected a JSON object of name: value")
        base = m.validate(d)  # unknown names and bad values raise, naming the file's keys
    given = cli_values(args, m.schema)
    return m.validate({**base, **given}), set(base) | set(given)


def _method_run(args):
    """(dry-run lines, job runner) of any method but the paper pipeline."""
    from ..algorithms.registry import get_method
    from ..largedata import method_batch, views

    m = get_method(args.method)
    params, explicit = _method_params(args, m)
    if args.views and args.preset:
        raise ValueError("--preset makes one Airy PSF; a multi-view run (--views) takes "
                         "one --psf file per view: drop --preset")
    optics = _preset_psf(args)
    if args.psf is None and args.psf_fwhm_px is None and args.psf_fwhm_nm is None \
            and optics is None:
        raise ValueError(f"method {m.name!r} needs --psf, --psf-fwhm-px, --psf-fwhm-nm or "
                         f"--preset (a microscope's Airy PSF)")
    if args.psf_fwhm_px is not None:
        _check_fwhm(args.psf_fwhm_px)
    backend = "numpy" if args.backend == "auto" and m.backends == ("numpy",) else args.backend
    if backend not in (*m.backends, "auto"):
        raise ValueError(f"method {m.name!r} runs on {list(m.backends)} (got --backend "
                         f"{backend})")
    kw = {"psf_path": args.psf, "psf_fwhm_px": args.psf_fwhm_px,
          "psf_fwhm_nm": args.psf_fwhm_nm, "tile": args.tile, "backend": backend,
          "device": args.device, "ngff": args.ngff, "clip_negative": args.clip_negative,
          "explicit": tuple(explicit), "psf_optics": optics}

    def dry(jobs, budget):
        if args.views:
            return [line for j in jobs
                    for line in views.views_dry_run_lines(j, args.view_files, m.name,
                                                          args.views_axis)]
        return method_batch.method_dry_run_lines(jobs, m.name, params, memory_budget=budget,
                                                 tile=args.tile)

    def run_jobs(jobs, budget, client, on_file, progress):
        if args.views:
            return [r for j in jobs for r in views.run_views(
                j, args.view_files, m.name, params, on_file=on_file, progress=progress,
                memory_budget=budget, **{k: kw[k] for k in (
                    "explicit", "psf_path", "psf_fwhm_px", "psf_fwhm_nm", "ngff",
                    "clip_negative")}, view_axis=args.views_axis)]
        return method_batch.run_method_batch(jobs, m.name, params, client=client,
                                             on_file=on_file, progress=progress,
                                             memory_budget=budget, **kw)

    return dry, run_jobs


def _check_fwhm(f) -> None:
    from ..base.validation import per_axis

    if len(f) not in (1, 2, 3):
        raise ValueError(f"--psf-fwhm-px needs 1 to 3 values, got {len(f)}")
    per_axis(f[0] if len(f) == 1 else tuple(f), len(f), "psf_fwhm_px")
