"""The one entry point for every registered method: :func:`deconvolve`."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .algorithms.registry import DEFAULT_METHOD, get_method, methods
from .core.progress import Progress

__all__ = ["deconvolve", "iter_deconvolve", "methods", "method_info"]


def method_info(name: str):
    """The registry entry of a method: title, summary, schema (parameters), backends."""
    return get_method(name)


def _psf_for(method, image_ndim, psf, psf_fwhm_px):
    from .core.psf import gaussian_psf
    from .core.validation import per_axis

    if psf is not None:
        if psf_fwhm_px is not None:
            raise ValueError("give psf or psf_fwhm_px, not both")
        return np.asarray(psf)
    if psf_fwhm_px is None:
        raise ValueError(f"method {method.name!r} needs a PSF: pass psf=<array summing to 1> "
                         f"or psf_fwhm_px=<FWHM in pixels>")
    n = 3 if (np.ndim(psf_fwhm_px) and len(psf_fwhm_px) == 3 and image_ndim == 3) else 2
    return gaussian_psf(None, per_axis(psf_fwhm_px, n, "psf_fwhm_px"))


def iter_deconvolve(image, method: str = DEFAULT_METHOD, *, psf=None, psf_fwhm_px=None,
                    backend="auto", device=None, clip_negative: bool = False,
                    return_estimate: bool = False, info: dict | None = None,
                    threads: int | None = None, **params) -> Iterator[Progress]:
    """Generator form of :func:`deconvolve`: yields :class:`Progress` (with the overall
    ``fraction``), returns the result. ``info`` (a dict, optional) receives what was
    estimated and used (camera model, weights, iterations run, backend, threads)."""
    from .ops.threads import check_threads, current_threads, threaded, using_threads

    if threads is not None:
        threads = check_threads(threads, "threads")
    m = get_method(method)
    if m.psf_in_schema:
        if psf_fwhm_px is not None:
            params["psf_fwhm_px"] = psf_fwhm_px
        checked = m.validate(params)
        p = psf
    else:
        checked = m.validate(params)
        p = _psf_for(m, np.ndim(image), psf, psf_fwhm_px)
    if backend == "auto" and m.backends == ("numpy",):
        backend = "numpy"
    elif backend == "auto":
        from .backends import get_backend

        backend = get_backend("auto", device)
    name = getattr(backend, "name", backend)
    if name is not None and name not in m.backends:
        raise ValueError(f"method {m.name!r} runs on {list(m.backends)} only for now (got "
                         f"backend={name!r}); use backend='numpy' or 'auto'")
    if info is not None:
        info.update(method=m.name, params=checked,
                    threads=threads if threads is not None else current_threads())
        if p is not None and not m.psf_in_schema:
            _record_psf(info, p)
    kw = {"backend": backend, "device": device, "return_estimate": return_estimate,
          "clip_negative": clip_negative}
    if not m.psf_in_schema:
        kw["info"] = info
    with using_threads(threads):
        gen = m.iterate(image, p, checked, **kw)
    return _with_fraction(threaded(gen, threads))


def _record_psf(info, psf) -> None:
    """The PSF's stored shape and the support RL pads by (a bad PSF is reported by the
    method itself, with its own message, when the run starts)."""
    from .ops.padding import rl_psf_info

    try:
        info.update(rl_psf_info(psf))
    except (ValueError, TypeError):
        pass


def _with_fraction(gen):
    from .core.sparse_hessian import relay

    return relay(gen, lambda pr: pr if pr.fraction is not None
                 else pr._replace(fraction=pr.iteration / max(pr.total, 1)))


def deconvolve(image, method: str = DEFAULT_METHOD, *, psf=None, psf_fwhm_px=None,
               backend="auto", device=None, return_info: bool = False,
               threads: int | None = None, **params):
    """Deconvolve ``image`` with any registered method at its own defaults.

    Parameters
    ----------
    image : array_like, shape (Y, X), (T, Y, X) or (Z, Y, X)
        One channel, any real dtype; offset-subtracted data with negative values
        are fine. Not modified.
    method : str
        One of :func:`methods` (``"sparse_psf"`` by default; ``"sparse"`` is the
        paper pipeline, ``"rl"`` Richardson-Lucy, ``"rl_tv"`` RL with total
        variation). Each method's parameters: ``method_info(name).schema``.
    psf, psf_fwhm_px
        A PSF array summing to 1 at the input pixel size, or a Gaussian FWHM in
        pixels (one value, ``(axial, lateral)`` or three values).
    backend, device
        ``"auto"`` (default), ``"numpy"`` or ``"opencl"``; methods marked NumPy
        only run on NumPy under ``"auto"`` and refuse ``"opencl"``.
    threads : int, optional
        Worker threads for the FFTs/DCTs (>= 1). Default: the environment variable
        ``NAPARI_SPARSEDECON_THREADS``, else every core this process may use.
    return_info : bool
        Also return a dict of what was estimated and used.
    **params
        The method's parameters; unknown names raise a ValueError listing the
        known ones.

    Examples
    --------
    >>> import numpy as np, napari_sparsedecon as nsd
    >>> img = np.random.default_rng(0).poisson(20, (64, 64)).astype(np.float32)
    >>> out = nsd.deconvolve(img, "rl", psf_fwhm_px=3.0, iterations=5)
    >>> out.shape, out.dtype
    ((64, 64), dtype('float32'))
    """
    from .core.sparse_hessian import run

    info: dict = {}
    out = run(iter_deconvolve(image, method, psf=psf, psf_fwhm_px=psf_fwhm_px,
                              backend=backend, device=device, info=info, threads=threads,
                              **params))
    return (out, info) if return_info else out
