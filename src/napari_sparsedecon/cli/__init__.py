"""Command line: ``napari-sparsedecon run [--method NAME]``, the methods' aliases
(``rl``, ``rl_tv``, ``sparse_psf``: ``run --method NAME``), ``devices``, ``presets``.

Runs the same library functions as the napari docks, headless. Modules: :mod:`.parser`
(flags generated from each method's schema), :mod:`.run` (the batch over files),
:mod:`.presets`, :mod:`.common` (progress, threads, signals).
"""

from __future__ import annotations

import os
import signal
import sys

from .common import _devices, _env_kept, _signals_unwind
from .parser import _expand_alias, _other_method_hint, build_parser, method_of  # noqa: F401
from .presets import _presets
from .run import PARAMS_FILE_MAX_BYTES, _run, read_params_file  # noqa: F401


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
