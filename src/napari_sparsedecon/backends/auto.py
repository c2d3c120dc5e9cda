"""``backend="auto"``: the fastest path measured on this machine, for this shape.

:class:`AutoBackend` is a backend whose plans come from whichever candidate
won a short timed probe:

- candidates: NumPy (always), numba (where installed), every usable OpenCL GPU and the first usable
  OpenCL CPU device (PoCL here) -- or only the device named by ``device=`` /
  ``NAPARI_SPARSEDECON_DEVICE``. A candidate that cannot be made (no OpenCL,
  a failed build) is left out, with its reason in the choice line.
- work below :data:`PROBE_MIN_VOXELS` goes straight to NumPy: there the
  probe would cost more than any difference could save.
- the probe: for each candidate, the actual plan (same kind, shape, PSF and
  settings) on synthetic data; two warm-up steps (kernel builds, FFT plans),
  then :data:`PROBE_STEPS` timed steps, the device queue drained before the
  clock is read. The fastest median wins; NumPy wins ties within
  :data:`MARGIN` (it needs no device memory and no transfers).
- the choice is cached per *shape class* (plan kind, ndim, size rounded to a
  power of two per axis, PSF support class for RL), device set and thread
  count: in memory, and on disk as JSON under the user cache dir
  (``NAPARI_SPARSEDECON_PROBE_CACHE``: a file path, or ``off``), keyed also
  by the library version and the core count so a new machine probes anew.
- it says once per class what it chose and why (log warning, logger
  ``napari_sparsedecon``), with the measured ms per iteration.

Tests inject candidates and a clock: ``AutoBackend(candidates=..., clock=...)``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("napari_sparsedecon")

#: Work smaller than this (voxels of the plan's shape) runs on NumPy without a probe:
#: a 512x512 image is probed (numba and PoCL each halve its sparse step here, and the
#: probe, once per shape class and machine, costs a few steps plus first-use builds);
#: a 256x256 preview ROI is not.
PROBE_MIN_VOXELS = 1 << 18
#: Timed steps per candidate, after WARMUP_STEPS untimed ones: two, because a
#: sparse-Hessian plan's first step is the g-solve alone (its Bregman-update kernels
#: are built and first run in the second step; timing that step made PoCL look 3x
#: slower than it is).
PROBE_STEPS = 2
WARMUP_STEPS = 2
#: An OpenCL candidate must beat NumPy by this fraction to be chosen.
MARGIN = 0.1
ENV_PROBE_CACHE = "NAPARI_SPARSEDECON_PROBE_CACHE"

_SAID: set = set()


def _say_once(msg: str) -> None:
    if msg not in _SAID:
        _SAID.add(msg)
        log.warning(msg)


def shape_class(kind: str, shape, psf_shape=None) -> str:
    """The cache key of a plan's size: kind, each axis rounded up to a power of two,
    and for RL the PSF's support rounded the same way (``rl:64x256x256/16x16x16``)."""
    def p2(dims):
        return "x".join(str(1 << max(0, math.ceil(math.log2(max(int(n), 1))))) for n in dims)

    key = f"{kind}:{p2(shape)}"
    if psf_shape is not None:
        key += f"/{p2(psf_shape)}"
    return key


def default_cache_path() -> Path | None:
    """Where probe results persist: ``NAPARI_SPARSEDECON_PROBE_CACHE`` (a file, or
    ``off``/``0``/``none`` for memory only), else ``<user cache dir>/backend_probe.json``."""
    env = os.environ.get(ENV_PROBE_CACHE)
    if env is not None:
        if env.strip().lower() in ("", "0", "off", "none", "false", "no"):
            return None
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "napari-sparsedecon" / "backend_probe.json"


class _Candidate:
    """A lazily made backend: ``make()`` returns it or raises with the reason."""

    def __init__(self, label: str, make):
        self.label = label
        self._make = make
        self._backend = None
        self.error: str | None = None

    def get(self):
        if self._backend is None and self.error is None:
            try:
                self._backend = self._make()
            except Exception as err:  # noqa: BLE001 - any failure leaves it out, said why
                self.error = str(err).strip().splitlines()[0][:160] if str(err) else repr(err)
        return self._backend


def _default_candidates(device) -> list[_Candidate]:
    from . import get_backend

    out = [_Candidate("numpy", lambda: get_backend("numpy"))]
    import importlib.util

    if importlib.util.find_spec("numba") is not None:
        out.append(_Candidate("numba", lambda: get_backend("numba")))
    try:
        from .opencl import OpenCLBackend, list_devices

        rows = [r for r in list_devices() if r["usable"]]
    except Exception as err:  # noqa: BLE001 - no OpenCL at all: NumPy only
        c = _Candidate("opencl", None)
        c.error = str(err).strip().splitlines()[0][:160]
        return out + [c]
    if device is not None:
        out.append(_Candidate(f"opencl:{device}", lambda: OpenCLBackend(device)))
        return out
    gpus = [r for r in rows if "GPU" in r["type"]]
    cpus = [r for r in rows if "GPU" not in r["type"]][:1]
    for r in gpus + cpus:
        out.append(_Candidate(f"opencl:{r['index']}",
                              lambda i=r["index"]: OpenCLBackend(i)))
    return out


def _sync(backend) -> None:
    q = getattr(backend, "queue", None)
    if q is not None:
        q.finish()


class AutoBackend:
    """Backend whose plans are made by the fastest candidate for their shape class.

    ``name`` / ``device_name`` describe the last choice (``"auto"`` before any).
    """

    def __init__(self, device=None, *, candidates=None, clock=time.perf_counter,
                 cache_path="default", min_voxels: int | None = None,
                 steps: int | None = None):
        self.device = device
        self._candidates = candidates
        self.clock = clock
        self.cache_path = default_cache_path() if cache_path == "default" else (
            None if cache_path is None else Path(cache_path))
        self.min_voxels = PROBE_MIN_VOXELS if min_voxels is None else int(min_voxels)
        self.steps = PROBE_STEPS if steps is None else int(steps)
        self.choices: dict = {}  # in-memory cache: key -> {"label", "why", "ms"}
        self.name = "auto"
        self.device_name = "chosen per shape by a timed probe"
        self.last_choice: dict | None = None

    # -- candidates ----------------------------------------------------------
    def candidates(self) -> list[_Candidate]:
        if self._candidates is None:
            self._candidates = _default_candidates(self.device)
        elif self._candidates and not isinstance(self._candidates[0], _Candidate):
            self._candidates = [_Candidate(label, make) for label, make in self._candidates]
        return self._candidates

    def _by_label(self, label):
        for c in self.candidates():
            if c.label == label:
                return c.get()
        return None

    # -- the protocol --------------------------------------------------------
    def sparse_hessian_plan(self, shape, *, fidelity, sparsity, continuity):
        kw = {"fidelity": fidelity, "sparsity": sparsity, "continuity": continuity}
        return self._plan("sparse", shape, None, lambda be: be.sparse_hessian_plan(shape, **kw))

    def rl_plan(self, shape, psf, *, background=0.0, acceleration=None, start="data"):
        from ..ops.padding import rl_psf_info

        try:
            support = rl_psf_info(psf)["psf_support"]
        except Exception:  # noqa: BLE001 - a bad PSF is reported by the plan itself
            support = np.shape(psf)
        kind = "rl" if acceleration is None else f"rl-{acceleration}"
        return self._plan(kind, shape, support,
                          lambda be: be.rl_plan(shape, psf, background=background,
                                                acceleration=acceleration, start=start))

    def regularised_plan(self, shape, psf, *, prior, weight, sparsity=0.0, continuity=0.0,
                         t_continuity=0.0, aspect=1.0, eps=1.0, data_term="poisson"):
        """The regularised RL plan (``rl_tv``, ``sparse_psf``) of the fastest candidate
        offering one; the shape class names the prior (``reg-hessian``, ``reg-tv``)."""
        from ..ops.padding import rl_psf_info

        try:
            support = rl_psf_info(psf)["psf_support"]
        except Exception:  # noqa: BLE001 - a bad PSF is reported by the plan itself
            support = np.shape(psf)
        kw = {"prior": prior, "weight": weight, "sparsity": sparsity,
              "continuity": continuity, "t_continuity": t_continuity, "aspect": aspect,
              "eps": eps, "data_term": data_term}
        return self._plan(f"reg-{prior}", shape, support,
                          lambda be: be.regularised_plan(shape, psf, **kw),
                          needs="regularised_plan")

    # -- choice --------------------------------------------------------------
    def _key(self, kind, shape, psf_shape) -> str:
        from .. import __version__
        from ..ops.threads import available_cores, current_threads

        # the candidate set is part of the key: installing numba or a driver probes anew
        labels = ",".join(c.label for c in self.candidates())
        return "|".join([shape_class(kind, shape, psf_shape),
                         f"threads={current_threads()}", f"cores={available_cores()}",
                         f"device={self.device}", f"candidates={labels}", f"v{__version__}"])

    def _plan(self, kind, shape, psf_shape, make, needs=None):
        be = self.choose(kind, shape, psf_shape, make, needs=needs)
        return make(be)

    def choose(self, kind, shape, psf_shape=None, make=None, needs=None):
        """The backend for a plan of ``kind`` on ``shape`` (probing if needed).

        ``make(backend)`` makes the plan to time; None times a sparse-Hessian plan at
        the default weights (the cost does not depend on the weights). ``needs``: the
        plan method a candidate must have (others are left out, said why)."""
        if make is None:
            def make(be):
                return be.sparse_hessian_plan(shape, fidelity=150.0, sparsity=10.0,
                                              continuity=0.5)
        size = int(np.prod(shape))
        numpy_be = self._by_label("numpy")
        if size < self.min_voxels:
            return self._record("numpy", numpy_be, None,
                                f"{kind} on {tuple(shape)} is below the probe size "
                                f"({self.min_voxels} voxels)", say=False)
        key = self._key(kind, shape, psf_shape)
        hit = self.choices.get(key) or self._load(key)
        if hit is not None:
            be = self._by_label(hit["label"])
            if be is not None:
                self.choices[key] = hit
                return self._record(hit["label"], be, key, hit["why"])
        others = [c for c in self.candidates() if c.label != "numpy"]
        live = [c for c in others if c.get() is not None]
        if needs is not None:  # candidates without that plan kind are not timed
            live = [c for c in live if hasattr(c.get(), needs)]
        if not live:
            reasons = "; ".join(f"{c.label}: {c.error}" for c in others if c.error)
            why = "no OpenCL device" + (f" ({reasons})" if reasons else "")
            return self._record("numpy", numpy_be, None, why)
        ms = {}
        for c in [self._candidate("numpy")] + live:
            try:
                ms[c.label] = self._time(c.get(), make, shape)
            except Exception as err:  # noqa: BLE001 - e.g. out of device memory
                c.error = str(err).strip().splitlines()[0][:160] if str(err) else repr(err)
        if "numpy" not in ms:  # NumPy failing is a real error: let the run raise it
            return self._record("numpy", numpy_be, None, "the probe of NumPy failed")
        best = min(ms, key=ms.get)
        if best != "numpy" and ms[best] > (1 - MARGIN) * ms["numpy"]:
            best = "numpy"
        times = ", ".join(f"{lab} {t:.1f} ms" for lab, t in ms.items())
        why = f"measured per iteration: {times}"
        failed = [f"{c.label}: {c.error}" for c in others if c.error]
        if failed:
            why += "; left out " + "; ".join(failed)
        hit = {"label": best, "why": why, "ms": ms}
        self.choices[key] = hit
        self._save(key, hit)
        return self._record(best, self._by_label(best), key, why)

    def _candidate(self, label):
        return next(c for c in self.candidates() if c.label == label)

    def _time(self, be, make, shape) -> float:
        """Median milliseconds per step of ``make(be)`` on synthetic data."""
        rng = np.random.default_rng(0)
        with make(be) as plan:  # the probe's buffers are freed before the real plan
            plan.set_data(rng.random(tuple(shape), dtype=np.float32) + np.float32(0.1))
            for _ in range(WARMUP_STEPS):  # kernel builds, FFT plans, first touches
                plan.step()
            _sync(be)
            times = []
            for _ in range(self.steps):
                t0 = self.clock()
                plan.step()
                _sync(be)
                times.append(self.clock() - t0)
        return 1e3 * float(np.median(times))

    def _record(self, label, be, key, why, say=True):
        self.name = getattr(be, "name", label)
        self.device_name = getattr(be, "device_name", label)
        self.last_choice = {"label": label, "backend": self.name, "device": self.device_name,
                            "why": why, "key": key}
        if say:
            _say_once(f"backend 'auto': {self.name} on {self.device_name} for "
                      f"{key.split('|')[0] if key else 'this run'} ({why})")
        return be

    # -- disk cache ----------------------------------------------------------
    def _read_disk(self) -> dict:
        if self.cache_path is None or not self.cache_path.is_file():
            return {}
        try:
            data = json.loads(self.cache_path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _load(self, key):
        hit = self._read_disk().get(key)
        if isinstance(hit, dict) and isinstance(hit.get("label"), str):
            return {"label": hit["label"], "why": f"cached probe: {hit.get('why', '')}",
                    "ms": hit.get("ms", {})}
        return None

    def _save(self, key, hit) -> None:
        if self.cache_path is None:
            return
        data = self._read_disk()
        data[key] = hit
        try:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_path.with_name(f".{self.cache_path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
            os.replace(tmp, self.cache_path)
        except OSError as err:  # a read-only home must not stop a run
            _say_once(f"backend 'auto': could not save the probe cache ({err})")
