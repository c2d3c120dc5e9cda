"""The one entry point for every registered method: :func:`deconvolve`."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .algorithms.registry import DEFAULT_METHOD, get_method, methods
from .progress import Progress

__all__ = ["deconvolve", "iter_deconvolve", "methods", "method_info"]


def method_info(name: str):
    """The registry entry of a method: title, summary, schema (parameters), backends."""
    return get_method(name)


def _psf_for(method, image_ndim, psf, psf_fwhm_px, image_shape=None):
    from .base.validation import per_axis
    from .psf.basic import gaussian_psf

    if psf is not None:
        if psf_fwhm_px is not None:
            raise ValueError("give psf or psf_fwhm_px, not both")
        return np.asarray(psf)
    if psf_fwhm_px is None:
        raise ValueError(f"method {method.name!r} needs a PSF: pass psf=<array summing to 1> "
                         f"or psf_fwhm_px=<FWHM in pixels>")
    n = 3 if (np.ndim(psf_fwhm_px) and len(psf_fwhm_px) == 3 and image_ndim in (3, 4)) else 2
    try:
        fwhm = per_axis(psf_fwhm_px, n, "psf_fwhm_px")
    except OverflowError:
        raise ValueError(f"psf_fwhm_px must be a finite FWHM in pixels, got "
                         f"{psf_fwhm_px!r}") from None
    if image_shape is not None and len(image_shape) >= 2:  # (else the method refuses it)
        big = max(int(v) for v in image_shape[-n:])
        if max(fwhm) > big:
            raise ValueError(f"psf_fwhm_px {psf_fwhm_px!r} is wider than the image "
                             f"({big} px): give the FWHM in pixels (not nm)")
    return gaussian_psf(None, fwhm)


def _apply_preset(m, preset, pixel_size_nm, psf, psf_fwhm_px, params):
    """(params, psf, record) with the preset's values under the explicit ones; ``record``
    (for ``info``) is None without a preset. The paper pipeline takes the preset's
    parameters and PSF; any other method the preset's PSF only (its parameters stay its
    own, :func:`napari_sparsedecon.presets.preset_method_params`)."""
    if preset is None:
        if pixel_size_nm is not None:
            raise ValueError("pixel_size_nm is used only with preset=...; give the PSF in "
                             "pixels (psf_fwhm_px) or as an array (psf)")
        return params, psf, None
    from .presets import PARAMS_METHOD, get_preset, preset_note, preset_params, preset_psf

    pr = get_preset(preset)
    if m.name == PARAMS_METHOD:
        if psf_fwhm_px is not None:
            params = {**params, "psf_fwhm_px": psf_fwhm_px}
        made = psf is None and params.get("psf_fwhm_px") is None
        out = preset_params(preset, pixel_size_nm, psf=psf, **params)
        psf = out.pop("psf", None)
    else:
        made = psf is None and psf_fwhm_px is None
        out = params
        if made:
            psf = preset_psf(pr, pixel_size_nm).data
    record = {"name": pr.name, "source": pr.source, "reference": pr.reference,
              "applied": preset_note(pr, m.name),
              "psf": {**pr.psf_recipe, "pixel_size_nm": pixel_size_nm} if made else None}
    return out, psf, record


def iter_deconvolve(image, method: str = DEFAULT_METHOD, *, psf=None, psf_fwhm_px=None,
                    backend="auto", device=None, clip_negative: bool = False,
                    return_estimate: bool = False, info: dict | None = None,
                    threads: int | None = None, preset: str | None = None,
                    pixel_size_nm: float | None = None, **params) -> Iterator[Progress]:
    """Generator form of :func:`deconvolve`: yields :class:`Progress` (with the overall
    ``fraction``), returns the result. ``info`` (a dict, optional) receives what was
    estimated and used (camera model, weights, iterations run, backend, threads)."""
    from .ops.threads import check_threads, current_threads, threaded, using_threads

    if threads is not None:
        threads = check_threads(threads, "threads")
    m = get_method(method)
    if isinstance(psf, (list, tuple)):  # one PSF per view: a multi-view run
        return _views(m, image, psf, params, backend, return_estimate, info, threads,
                      clip_negative, psf_fwhm_px, preset)
    params, psf, preset_record = _apply_preset(m, preset, pixel_size_nm, psf, psf_fwhm_px,
                                               params)
    if m.psf_in_schema:
        if psf_fwhm_px is not None:
            params["psf_fwhm_px"] = psf_fwhm_px
        checked = m.validate(params)
        p = psf
    else:
        checked = m.validate(params)
        p = _psf_for(m, np.ndim(image), psf, psf_fwhm_px, np.shape(image))
    if backend == "auto" and m.backends == ("numpy",):
        backend = "numpy"
    elif backend == "auto":
        from .backends import get_backend

        backend = get_backend("auto", device)
    from .backends.auto import AutoBackend

    # auto chooses per plan among backends that make the same plans (its name is the
    # last choice, not a constraint)
    name = "auto" if isinstance(backend, AutoBackend) else getattr(backend, "name", backend)
    if name is not None and name not in (*m.backends, "auto"):
        raise ValueError(f"method {m.name!r} runs on {list(m.backends)} only for now (got "
                         f"backend={name!r}); use backend='numpy' or 'auto'")
    if info is not None:
        info.update(method=m.name, params=checked,
                    threads=threads if threads is not None else current_threads())
        if p is not None and not m.psf_in_schema:
            _record_psf(info, p)
        if preset_record is not None:
            info["preset"] = preset_record
    kw = {"backend": backend, "device": device, "return_estimate": return_estimate,
          "clip_negative": clip_negative}
    if not m.psf_in_schema:
        kw["info"] = info
    given = {k: v for k, v in params.items() if k != "psf_fwhm_px"}
    normalised = checked.get("quantitative") is False
    if np.ndim(image) == 4 and not checked.get("t_continuity"):
        # (T, Z, Y, X) without coupling in time: one volume per time point
        return _checked(_over_time(m, image, p, checked, kw, info, threads), image, m.name,
                        given, normalised)
    if np.ndim(image) == 4 and info is not None:
        info["time_points"] = (f"solved as one (T, Z, Y, X) problem, coupled in time "
                               f"(t_continuity={checked['t_continuity']:g})")
    with using_threads(threads):
        gen = m.iterate(image, p, checked, **kw)
    return _checked(_with_fraction(threaded(gen, threads)), image, m.name, given, normalised)


def _views(m, views, psfs, params, backend, return_estimate, info, threads, clip_negative,
           psf_fwhm_px, preset):
    """:func:`iter_deconvolve` over V views (``psf`` a list: one PSF per view)."""
    from .algorithms.multiview import check_views, iter_views
    from .ops.threads import threaded, using_threads

    if psf_fwhm_px is not None or preset is not None:
        raise ValueError("a multi-view run takes one PSF array per view (psf=[...]); "
                         "psf_fwhm_px and preset do not apply")
    name = getattr(backend, "name", backend)
    if name not in ("auto", "numpy"):
        raise ValueError(f"multi-view runs on NumPy only for now (got backend={name!r}); "
                         f"use backend='numpy' or 'auto'")
    checked = m.validate(params)
    views, psfs = check_views(views, psfs)
    if info is not None:
        info.update(method=m.name, params=checked)
    with using_threads(threads):
        gen = iter_views(m, views, psfs, checked, return_estimate=return_estimate, info=info,
                         clip_negative=clip_negative)
    given = dict(params)
    return _checked(_with_fraction(threaded(gen, threads)), np.mean(views, axis=0), m.name,
                    given, checked.get("quantitative") is False)


def _checked(gen, image, method, given, normalised):
    """``gen``'s progress, then its result once :func:`~.core.validation.check_result`
    has found it finite and not runaway (else a ValueError naming what to change)."""
    from .base.validation import check_result

    try:
        res = yield from gen
    except MemoryError as err:
        if str(err).strip():  # ours, or numpy's "Unable to allocate ...": sized already
            raise
        shape = tuple(np.shape(image))
        gib = float(np.prod(shape, dtype=float)) * 4 / 2**30
        raise MemoryError(
            f"{method}: out of memory on an image of shape {shape} ({gib:.3g} GiB as "
            f"float32; the method's work arrays need several times that); deconvolve a "
            f"smaller region, or run it in tiles that fit: napari-sparsedecon run "
            f"--memory-budget (e.g. half the free memory) or --tile") from None
    check_result(res[0] if isinstance(res, tuple) else res, image, method=method,
                 given=given, normalised=normalised)
    return res


def _over_time(m, image, p, checked, kw, info, threads):
    """A (T, Z, Y, X) array: each time point is run as its own volume (time points are not
    coupled); the overall fraction spans all of them; ``info['volumes']`` holds what each
    run estimated."""
    from .core.sparse_hessian import relay
    from .ops.threads import threaded, using_threads

    nt = int(np.shape(image)[0])
    out, vols = None, []
    for t in range(nt):
        vi: dict | None = {} if info is not None else None
        kw_t = {**kw, "info": vi} if "info" in kw else kw
        with using_threads(threads):
            g = m.iterate(np.asarray(image[t]), p, checked, **kw_t)
        res = yield from relay(_with_fraction(threaded(g, threads)),
                               lambda pr, t=t: pr._replace(fraction=(t + pr.fraction) / nt))
        if out is None:
            out = np.empty((nt,) + tuple(res.shape), dtype=res.dtype)
        out[t] = res
        vols.append(vi)
    if info is not None:
        info.update(time_points="each time point deconvolved as its own volume (not "
                                "coupled in time)", volumes=vols)
    return out


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
               threads: int | None = None, preset: str | None = None,
               pixel_size_nm: float | None = None, **params):
    """Deconvolve ``image`` with any registered method at its own defaults.

    Parameters
    ----------
    image : array_like, shape (Y, X), (T, Y, X), (Z, Y, X) or (T, Z, Y, X)
        One channel, any real dtype; offset-subtracted data with negative values
        are fine. Not modified. A 4-D array is a time-lapse of volumes: methods with
        a ``t_continuity`` parameter (``sparse_psf``, ``rl_tv``) solve it as one 4-D
        problem coupled in time when ``t_continuity > 0`` (the PSF acts on Z, Y, X);
        otherwise, and for the other methods, each time point is deconvolved as its
        own volume (not coupled in time).
    method : str
        One of :func:`methods` (``"sparse_psf"`` by default; ``"sparse"`` is the
        paper pipeline, ``"rl"`` Richardson-Lucy, ``"rl_tv"`` RL with total
        variation). Each method's parameters: ``method_info(name).schema``.
    psf, psf_fwhm_px
        A PSF array summing to 1 at the input pixel size, or a Gaussian FWHM in
        pixels (one value, ``(axial, lateral)`` or three values). A *list* of PSF
        arrays makes a multi-view run: ``image`` is then V views of one object (a
        list, or an array with the views on its first axis), one PSF per view, and
        the data term sums over the views (``rl``, ``rl_tv``, ``sparse_psf``,
        ``garl``; NumPy; :mod:`napari_sparsedecon.algorithms.multiview`).
    backend, device
        ``"auto"`` (default), ``"numpy"`` or ``"opencl"``; methods marked NumPy
        only run on NumPy under ``"auto"`` and refuse ``"opencl"``.
    threads : int, optional
        Worker threads for the FFTs/DCTs (>= 1). Default: the environment variable
        ``NAPARI_SPARSEDECON_THREADS``, else every core this process may use.
    return_info : bool
        Also return a dict of what was estimated and used.
    preset, pixel_size_nm
        Method ``"sparse"`` only: a microscope preset (``list_presets()``; the
        published settings of Zhao et al. 2022 and project starting points)
        fills every parameter and the PSF (in-focus Airy from the preset's
        effective NA and wavelength at ``pixel_size_nm``, the image's pixel
        size in nm). Explicit parameters, ``psf`` or ``psf_fwhm_px`` override
        the preset's.
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
    >>> out = nsd.deconvolve(img, "sparse", preset="sd-sim-actin", pixel_size_nm=38.23,
    ...                      iterations=5)
    """
    from .core.sparse_hessian import run

    info: dict = {}
    out = run(iter_deconvolve(image, method, psf=psf, psf_fwhm_px=psf_fwhm_px,
                              backend=backend, device=device, info=info, threads=threads,
                              preset=preset, pixel_size_nm=pixel_size_nm, **params))
    return (out, info) if return_info else out
