"""Command line: ``napari-sparsedecon run`` and ``napari-sparsedecon rl``.

Runs the same library functions as the napari widgets, headless.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

from .backends import BACKENDS


def _bar(i, n, width=20):
    full = int(width * i / max(n, 1))
    return "#" * full + "." * (width - full)


def _progress_printer(stream=None, prefix=""):
    """Progress bars: one line rewritten on a terminal, every 10% otherwise."""
    state = {"stage": None, "t0": time.perf_counter()}

    def show(p):
        out = stream or sys.stderr
        tty = getattr(out, "isatty", lambda: False)()
        every = max(1, p.total // 10)
        dt = time.perf_counter() - state["t0"]
        line = (f"  {prefix}{p.stage:<8} [{_bar(p.iteration, p.total)}] "
                f"{p.iteration:>4}/{p.total:<4} {dt:7.2f} s")
        if tty:
            end = "\n" if p.iteration == p.total else ""
            print("\r" + line, end=end, file=out, flush=True)
        elif p.stage != state["stage"] or p.iteration % every == 0 or p.iteration == p.total:
            print(line, file=out, flush=True)
        state["stage"] = p.stage

    return show


def _add_threads_flag(p):
    p.add_argument("--threads", metavar="N",
                   help="worker threads for the FFTs of each process (default: the "
                        "environment variable NAPARI_SPARSEDECON_THREADS, else all cores; "
                        "with --workers, the cores shared between the workers)")


def _apply_threads(args) -> None:
    """Check --threads (and the environment variable) up front; export the choice so the
    library and dask workers started from here read it."""
    from .ops.threads import ENV_THREADS, available_cores, check_threads, default_threads

    if args.threads is not None:
        os.environ[ENV_THREADS] = str(check_threads(args.threads, "--threads"))
        return
    default_threads()  # a bad NAPARI_SPARSEDECON_THREADS fails here, before any work
    workers = getattr(args, "workers", None)
    if workers and ENV_THREADS not in os.environ:  # N processes share the cores
        os.environ[ENV_THREADS] = str(max(1, available_cores() // workers))


def _add_ngff_flag(p):
    p.add_argument("--ngff", choices=["0.5", "0.4"], default="0.5",
                   help="OME-Zarr output: NGFF 0.5 on Zarr v3 (default) or NGFF 0.4 on Zarr "
                        "v2 for tools that cannot read Zarr v3 (Fiji n5-ij, MoBIE)")


def _add_method_aliases(sub) -> None:
    """``rl``, ``rl_tv``, ``sparse_psf``, ...: aliases of ``run --method NAME`` (listed in
    the help; :func:`main` rewrites them before parsing)."""
    from .algorithms.registry import get_method, methods

    for m in map(get_method, methods()):
        if m.name != "sparse":
            sub.add_parser(m.name, help=f"alias of 'run --method {m.name}' ({m.title}); "
                                        f"'{m.name} --help' lists its flags", add_help=False)


def method_of(argv) -> str:
    """The ``--method`` of a ``run`` command line (its flags depend on it), or the
    library's default method."""
    from .algorithms.registry import DEFAULT_METHOD

    argv = list(argv or [])
    for i, a in enumerate(argv):
        if a == "--method" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--method="):
            return a.split("=", 1)[1]
    return DEFAULT_METHOD


def build_parser(method: str | None = None) -> argparse.ArgumentParser:
    """The parser; ``run`` gets the flags of ``method`` (default: the library's default
    method; ``run --method NAME --help`` lists another method's)."""
    from .algorithms.registry import DEFAULT_METHOD, get_method, methods

    method = method or DEFAULT_METHOD
    known = methods()
    m = get_method(method) if method in known else get_method(DEFAULT_METHOD)
    ap = argparse.ArgumentParser(prog="napari-sparsedecon",
                                 description="Sparse deconvolution and Richardson-Lucy, headless.",
                                 epilog="exit status: 0 ok, 1 some file failed, 2 bad usage, "
                                        "128+N stopped by signal N (cleaned up). Inputs, PSF "
                                        "and parameter files are never overwritten.")
    from . import __version__

    ap.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser(
        "run", help="deconvolution of files, lists, globs or folders with any method",
        description=f"Deconvolution of TIFF, OME-TIFF or OME-Zarr files, a glob or a folder "
                    f"with any registered method ({', '.join(known)}; default "
                    f"{DEFAULT_METHOD}); large images are processed in overlapping tiles "
                    f"within a memory budget. The flags below are those of method "
                    f"{m.name!r} ({m.title}); 'run --method NAME --help' lists another's.")
    r.add_argument("--method", choices=list(known), default=DEFAULT_METHOD,
                   help=f"deconvolution method (default {DEFAULT_METHOD}: {m.summary}); "
                        f"'sparse' is the paper pipeline of Zhao et al. 2022")
    r.add_argument("inputs", nargs="*",
                   help="files, globs or folders (*.tif, *.tiff, *.zarr); default: the "
                        "bundled C. elegans image")
    r.add_argument("-o", "--output", help="output file (one input; .tif, .tiff or .zarr) or "
                                          "folder (a name without extension)")
    r.add_argument("--out-dir", help="output folder (default: beside each input, "
                                     "<name>_sparse.<format>)")
    r.add_argument("--format", choices=["tif", "ome.tif", "zarr"], default=None,
                   help="output format: ImageJ TIFF, OME-TIFF or OME-Zarr (default: from -o "
                        "(x.ome.tif is OME-TIFF), else tif)")
    _add_ngff_flag(r)
    r.add_argument("--overwrite", action="store_true", help="replace existing outputs "
                                                            "(default: skip them)")
    r.add_argument("--dry-run", action="store_true",
                   help="print what would be done, with estimated memory and time; write "
                        "nothing")
    r.add_argument("--memory-budget", help="memory for the whole run, e.g. 4GiB (bytes; "
                                           "with --workers it covers the client and every "
                                           "worker; default: half the available memory)")
    r.add_argument("--tile", type=int, help="tile size in working pixels (default: from the "
                                            "memory budget)")
    r.add_argument("--workers", type=int, help="run on a local dask cluster of N worker "
                                               "processes (needs 'distributed')")
    r.add_argument("--scheduler", help="address of a dask.distributed scheduler, "
                                       "e.g. tcp://10.0.0.5:8786")
    r.add_argument("--psf", nargs="+", metavar="PSF",
                   help="PSF TIFF (odd-sized, centred, summing to 1) at the input pixel "
                        "size; one file for all channels, or one per channel in channel "
                        "order")
    r.add_argument("--psf-fwhm-px", type=float, nargs="+", metavar="PX",
                   help="Gaussian PSF FWHM in input pixels (1 value, or axial lateral)")
    r.add_argument("--psf-fwhm-nm", type=float, nargs="+", metavar="NM",
                   help="Gaussian PSF lateral FWHM in nm, converted with each file's pixel "
                        "size from its metadata; one value, or one per channel")
    r.add_argument("--wavelength-nm", type=float, nargs="+", metavar="NM",
                   help="with --preset: emission wavelength(s) of the preset's Airy PSF "
                        "instead of the preset's; one value, or one per channel")
    r.add_argument("--backend", default="numpy" if m.name == "sparse" else "auto",
                   choices=list(BACKENDS),
                   help="numpy (default of the paper pipeline), auto (default of the other "
                        "methods: the fastest backend the method has here), opencl, numba")
    r.add_argument("--params", help="JSON parameter file (as the widget exports); flags "
                                    "given explicitly override it")
    # every algorithm parameter, with its type, range and help, from the method's schema
    from .params import add_cli_flags

    add_cli_flags(r.add_argument_group(f"{m.name} parameters"), m.schema,
                  skip=("psf_fwhm_px",))
    r.add_argument("--device", help="OpenCL device index or name part")
    _add_threads_flag(r)
    if m.name == "sparse":  # the paper pipeline's presets and max-1 scaling
        _add_preset_flag(r)
        r.add_argument("--max-one", action="store_true",
                       help="scale the output to max 1 instead of keeping intensity units")
    else:
        r.add_argument("--clip-negative", action="store_true",
                       help="set negative input values to 0 first (not needed: offset-"
                            "subtracted data with negative values are accepted as they are)")
    r.set_defaults(preset=None, max_one=False, clip_negative=False)
    _add_method_aliases(sub)
    sub.add_parser("devices", help="list OpenCL devices with their memory")
    _add_presets_parser(sub)
    return ap


def _devices() -> int:
    from .backends.opencl import OpenCLUnavailable, list_devices

    try:
        rows = list_devices()
    except OpenCLUnavailable as err:
        print(f"no OpenCL device: {err}")
        return 1
    for r in rows:
        ok = "usable" if r["usable"] else "cannot compile kernels"
        print(f"[{r['index']}] {r['name']} ({r['platform']}, {r['type']}): "
              f"{r['memory_mib']} MiB, {r['compute_units']} compute units, {ok}")
    return 0


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM / SIGHUP, so they unwind like Ctrl-C."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _signals_unwind():
    """SIGTERM and SIGHUP (schedulers, ``timeout``, a closed terminal) raise
    :class:`Terminated` while a command runs, so its temporary files are removed
    exactly as on Ctrl-C. The previous handlers are restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, _frame):
        raise Terminated(signum)

    sigs = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None))
            if s is not None]
    old = {s: signal.signal(s, handler) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def _env_kept():
    """Restore the thread variable that --threads / --workers export (main() called twice
    in one process, as tests do, must not inherit the first call's setting)."""
    from .ops.threads import ENV_THREADS

    old = os.environ.get(ENV_THREADS)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(ENV_THREADS, None)
        else:
            os.environ[ENV_THREADS] = old


def main(argv=None) -> int:
    """Exit codes: 0 ok, 1 some file failed, 2 bad usage, 128+N on signal N (130 Ctrl-C)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    argv = _expand_alias(argv)
    ap = build_parser(method_of(argv) if argv[:1] == ["run"] else None)
    args, unknown = ap.parse_known_args(argv)
    if unknown:
        ap.error(f"unrecognized arguments: {' '.join(unknown)}{_other_method_hint(unknown)}")
    with _signals_unwind(), _env_kept():
        try:
            if args.command == "devices":
                return _devices()
            if args.command == "presets":
                return _presets(args)
            return _run(args)
        except (ValueError, TypeError, OSError, MemoryError, RuntimeError, ImportError,
                OverflowError) as err:
            print(f"napari-sparsedecon: error: {err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as err:
            signum = getattr(err, "signum", signal.SIGINT)
            name = signal.Signals(signum).name
            print(f"napari-sparsedecon: interrupted ({name}); temporary files removed, no "
                  f"partial output left", file=sys.stderr)
            return 128 + int(signum)


def _expand_alias(argv: list) -> list:
    """``NAME args`` (a registered method but the paper pipeline) -> ``run --method NAME
    args``."""
    from .algorithms.registry import methods

    if argv and argv[0] in methods() and argv[0] != "sparse":
        return ["run", "--method", argv[0], *argv[1:]]
    return argv


def _other_method_hint(unknown) -> str:
    """' (--x is a parameter of method 'y': add --method y)' for a flag of another method."""
    from .algorithms.registry import get_method, methods

    for flag in unknown:
        name = flag.lstrip("-").split("=")[0].replace("-", "_")
        owners = [n for n in methods() if name in {p.name for p in get_method(n).schema}]
        if flag.startswith("--") and owners:
            return (f" ({flag} is a parameter of method {' / '.join(map(repr, owners))}: "
                    f"add --method {owners[0]})")
    return ""


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
    from .ops.threads import available_cores

    cores = available_cores()
    if args.workers is not None and args.workers > cores:
        print(f"--workers {args.workers}: this run has {cores} core(s); starting {cores} "
              f"worker(s) (more processes than cores only add memory and set-up)",
              file=sys.stderr)
        args.workers = cores


def _check_run_numbers(args) -> None:
    """Refuse values argparse lets through: non-positive tiles and workers, bad sizes."""
    from .largedata.batch import parse_size

    if args.tile is not None and args.tile <= 0:
        raise ValueError(f"--tile must be a positive number of pixels, got {args.tile}")
    if args.workers is not None and args.workers <= 0:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    _capped_workers(args)
    if args.memory_budget is not None:
        parse_size(args.memory_budget)


def _check_params_up_front(params) -> None:
    """Values the files would each fail on, refused once before any file is read."""
    from .base.validation import per_axis

    f = params.psf_fwhm_px
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
    from .io.outputs import check_not_protected

    for d in dsts:
        check_not_protected(d, protected)


def _clean_parts(dsts) -> None:
    """Remove stale .part leftovers of these outputs (a killed earlier run), saying so."""
    from .io.outputs import clean_stale_parts

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
    from .io.outputs import output_format
    from .largedata import batch

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


def _merge_params_file(base, values):
    """``base`` (the preset's or the defaults) with a file's values on top, key by key:
    a file that names some parameters leaves the others as they were."""
    type(base).from_dict(values)  # unknown names, wrong types and ranges refused here
    return base.replace(**values)


def _params_from_args(args):
    from .algorithms.sparse import SCHEMA
    from .core.params import SparseParams
    from .params import cli_values

    base = _preset_base(args) or SparseParams()
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
    return base.replace(**changes)


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
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    return Client(cluster), cluster


def _run(args) -> int:
    """``run``: files, globs or folders through ``--method`` (any registered method)."""
    from . import datasets
    from .largedata import batch

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
        from .backends import ENV_DEVICE

        os.environ[ENV_DEVICE] = str(args.device)
    files, earlier = batch.expand_inputs(inputs)
    for f in earlier:
        print(f"skip: {f} is named like an output of an earlier run (give its name on its "
              f"own to process it)", file=sys.stderr)
    if not files:
        raise ValueError(f"no input files match {inputs}")
    jobs, skipped = _plan_run(args, files)
    _check_outputs([j.dst for j in jobs] + skipped,
                   _protected_paths(files, psf=args.psf, params_file=args.params))
    if not args.dry_run:
        _clean_parts([j.dst for j in jobs] + skipped)
    for s in skipped:
        print(f"skip: {s} exists (use --overwrite to replace it)", file=sys.stderr)
    budget = batch.parse_size(args.memory_budget) if args.memory_budget else None
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


def _sparse_run(args):
    """(dry-run lines, job runner) of the paper pipeline (presets, t-chunks, max-1)."""
    from .largedata import batch

    params = _params_from_args(args)
    _check_params_up_front(params)
    if args.wavelength_nm and _preset_psf(args, params) is None:
        raise ValueError("--wavelength-nm is for the preset's Airy PSF, but the parameter "
                         "file sets psf_fwhm_px (a Gaussian); drop one of them")
    if args.psf_fwhm_nm is not None:  # converted per file; a placeholder keeps validation
        params = params.replace(psf_fwhm_px=None)
    elif (params.psf_fwhm_px is None and args.psf is None and params.deconv_method != "none"
          and not _preset_psf(args)):
        raise ValueError("the deconvolution step needs --psf, --psf-fwhm-px or --psf-fwhm-nm "
                         "(or --deconv-method none)")
    pdict = params.to_dict()

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
    from .params import cli_values

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
    from .algorithms.registry import get_method
    from .largedata import method_batch

    m = get_method(args.method)
    params, explicit = _method_params(args, m)
    if args.psf is None and args.psf_fwhm_px is None and args.psf_fwhm_nm is None:
        raise ValueError(f"method {m.name!r} needs --psf, --psf-fwhm-px or --psf-fwhm-nm")
    if args.psf_fwhm_px is not None:
        _check_fwhm(args.psf_fwhm_px)
    backend = "numpy" if args.backend == "auto" and m.backends == ("numpy",) else args.backend
    if backend not in (*m.backends, "auto"):
        raise ValueError(f"method {m.name!r} runs on {list(m.backends)} (got --backend "
                         f"{backend})")
    kw = {"psf_path": args.psf, "psf_fwhm_px": args.psf_fwhm_px,
          "psf_fwhm_nm": args.psf_fwhm_nm, "tile": args.tile, "backend": backend,
          "device": args.device, "ngff": args.ngff, "clip_negative": args.clip_negative,
          "explicit": tuple(explicit)}

    def dry(jobs, budget):
        return method_batch.method_dry_run_lines(jobs, m.name, params, memory_budget=budget,
                                                 tile=args.tile)

    def run_jobs(jobs, budget, client, on_file, progress):
        return method_batch.run_method_batch(jobs, m.name, params, client=client,
                                             on_file=on_file, progress=progress,
                                             memory_budget=budget, **kw)

    return dry, run_jobs


def _check_fwhm(f) -> None:
    from .base.validation import per_axis

    if len(f) not in (1, 2, 3):
        raise ValueError(f"--psf-fwhm-px needs 1 to 3 values, got {len(f)}")
    per_axis(f[0] if len(f) == 1 else tuple(f), len(f), "psf_fwhm_px")


# -- presets (napari-sparsedecon presets; run --preset NAME) -----------------------------
def _add_preset_flag(p):
    p.add_argument("--preset", help="microscope preset (see 'napari-sparsedecon presets'): "
                                    "fills every parameter and an Airy PSF at each file's "
                                    "pixel size; --params and explicit flags override it")


def _add_presets_parser(sub):
    p = sub.add_parser("presets", help="list the microscope presets (published settings and "
                                       "project starting points)",
                       description="Presets of the sparse pipeline: the eight published "
                                   "settings of Zhao et al. 2022 and three project starting "
                                   "points that are not from the table. Values are in this "
                                   "project's convention (docs/presets.md).")
    p.add_argument("name", nargs="?", help="show one preset in full")


def _preset_base(args):
    """SparseParams from --preset, or None."""
    if not getattr(args, "preset", None):
        return None
    from .core.params import SparseParams
    from .presets import get_preset

    return SparseParams.from_dict(get_preset(args.preset).params)


def _preset_psf(args, params=None):
    """The preset's PSF recipe (for batch) when it makes the PSF: a preset is given and no
    --psf / --psf-fwhm-px / --psf-fwhm-nm (nor a psf_fwhm_px from --params)."""
    if not getattr(args, "preset", None) or args.psf or args.psf_fwhm_nm is not None:
        return None
    if params is not None and params.psf_fwhm_px is not None:
        return None
    from .presets import get_preset

    pr = get_preset(args.preset)
    recipe = {**pr.psf_recipe, "preset": pr.name}
    wl = getattr(args, "wavelength_nm", None)
    if wl:  # one wavelength for all channels, or one per channel
        recipe["wavelength_nm"] = wl[0] if len(wl) == 1 else list(wl)
    return recipe


def _presets(args) -> int:
    from .presets import get_preset, list_presets

    if args.name:
        p = get_preset(args.name)
        print(f"{p.name}: {p.microscope}{' ' + p.camera if p.camera else ''}, {p.sample}")
        print(f"  source: {p.source}; {p.reference}")
        print(f"  PSF: Airy, effective NA {p.effective_na:g}, emission {p.wavelength_nm:g} nm, "
              f"at the image's pixel size"
              + (f" (published data: {p.pixel_nm:g} nm)" if p.pixel_nm else ""))
        print("  parameters (this project's convention): "
              + ", ".join(f"{k}={v}" for k, v in p.params.items()))
        if p.published:
            print("  as published: " + ", ".join(f"{k}={v}" for k, v in p.published.items()))
        for n in p.notes:
            print(f"  note: {n}")
        return 0
    head = (f"{'name':<18} {'microscope':<10} {'camera':<6} {'sample':<11} {'NA':>4} "
            f"{'em nm':>5} {'fidelity':>8} {'sparsity':>8} {'cont':>4} {'iter':>4} "
            f"{'background':<10} {'deconv':<9} {'x2':<8} source")
    print(head)
    for p in list_presets():
        q = p.params
        up = q["upsample_method"] if q["upsample"] == 2 else "-"
        print(f"{p.name:<18} {p.microscope:<10} {p.camera or '-':<6} {p.sample:<11} "
              f"{p.effective_na:>4g} {p.wavelength_nm:>5g} {q['fidelity']:>8g} "
              f"{q['sparsity']:>8g} {q['continuity']:>4g} {q['iterations']:>4} "
              f"{q['background']:<10} {q['deconv_method'] + ' ' + str(q['deconv_iterations']):<9} "
              f"{up:<8} {'published' if p.source == 'published' else 'project (not published)'}")
    print("\nNA: effective NA; values in this project's convention (the published sparsity "
          "carries over unchanged, docs/presets.md). 'napari-sparsedecon presets NAME' shows "
          "one in full; 'run --preset NAME' uses it.")
    return 0


def entry() -> None:
    """The console script: :func:`main`, then exit. After a signal (exit code 128+N, the
    temporary files already removed) the process ends at once with that code: a second
    delivery of the same signal during interpreter shutdown (seen with SIGINT: the run
    cleaned up, then died by the signal, exit -2) cannot replace it."""
    code = main()
    if code >= 128:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
