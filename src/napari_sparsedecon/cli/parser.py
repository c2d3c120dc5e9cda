"""The argument parser: ``run`` with the flags of its ``--method``, the methods' aliases,
``devices`` and ``presets``."""

from __future__ import annotations

import argparse

from ..backends import BACKENDS
from .common import _add_ngff_flag, _add_threads_flag


def _add_method_aliases(sub) -> None:
    """``rl``, ``rl_tv``, ``sparse_psf``, ...: aliases of ``run --method NAME`` (listed in
    the help; :func:`main` rewrites them before parsing)."""
    from ..algorithms.registry import get_method, methods

    for m in map(get_method, methods()):
        if m.name != "sparse":
            sub.add_parser(m.name, help=f"alias of 'run --method {m.name}' ({m.title}); "
                                        f"'{m.name} --help' lists its flags", add_help=False)


def method_of(argv) -> str:
    """The ``--method`` of a ``run`` command line (its flags depend on it), or the
    library's default method."""
    from ..algorithms.registry import DEFAULT_METHOD

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
    from ..algorithms.registry import DEFAULT_METHOD, get_method, methods

    method = method or DEFAULT_METHOD
    known = methods()
    m = get_method(method) if method in known else get_method(DEFAULT_METHOD)
    ap = argparse.ArgumentParser(prog="napari-sparsedecon",
                                 description="Sparse deconvolution and Richardson-Lucy, headless.",
                                 epilog="exit status: 0 ok, 1 some file failed, 2 bad usage, "
                                        "128+N stopped by signal N (cleaned up). Inputs, PSF "
                                        "and parameter files are never overwritten.")
    from .. import __version__

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
                        "order (with --views: one per view, in the inputs' order)")
    r.add_argument("--views", action="store_true",
                   help="the inputs are views of one object, registered onto one grid "
                        "(the arms of a dual-view light sheet, detector elements): one "
                        "output, the data term summed over the views, each with its own "
                        "PSF (--psf) and background; needs -o; rl, rl_tv, sparse_psf, garl")
    r.add_argument("--views-axis", metavar="AXIS",
                   help="one input file whose axis AXIS (e.g. C: the views saved as the "
                        "channels of a hyperstack) holds the views; implies --views")
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
    from ..params import add_cli_flags

    add_cli_flags(r.add_argument_group(f"{m.name} parameters"), m.schema,
                  skip=("psf_fwhm_px",))
    r.add_argument("--device", help="OpenCL device index or name part")
    _add_threads_flag(r)
    _add_preset_flag(r, m.name)
    if m.name == "sparse":  # the paper pipeline's max-1 scaling
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


def _expand_alias(argv: list) -> list:
    """``NAME args`` (a registered method but the paper pipeline) -> ``run --method NAME
    args``."""
    from ..algorithms.registry import methods

    if argv and argv[0] in methods() and argv[0] != "sparse":
        return ["run", "--method", argv[0], *argv[1:]]
    return argv


def _other_method_hint(unknown) -> str:
    """' (--x is a parameter of method 'y': add --method y)' for a flag of another method."""
    from ..algorithms.registry import get_method, methods

    for flag in unknown:
        name = flag.lstrip("-").split("=")[0].replace("-", "_")
        owners = [n for n in methods() if name in {p.name for p in get_method(n).schema}]
        if flag.startswith("--") and owners:
            return (f" ({flag} is a parameter of method {' / '.join(map(repr, owners))}: "
                    f"add --method {owners[0]})")
    return ""


def _add_preset_flag(p, method="sparse"):
    if method == "sparse":
        text = ("fills every parameter and an Airy PSF at each file's pixel size; --params "
                "and explicit flags override it")
    else:
        text = (f"gives the microscope's Airy PSF at each file's pixel size (--psf or "
                f"--psf-fwhm-* override it); the parameters of {method} stay its own")
    p.add_argument("--preset", help="microscope preset (see 'napari-sparsedecon presets'): "
                                    + text)


def _add_presets_parser(sub):
    p = sub.add_parser("presets", help="list the microscope presets (published settings and "
                                       "project starting points)",
                       description="Presets of the sparse pipeline: the eight published "
                                   "settings of Zhao et al. 2022 and three project starting "
                                   "points that are not from the table. Values are in this "
                                   "project's convention (docs/presets.md).")
    p.add_argument("name", nargs="?", help="show one preset in full")
