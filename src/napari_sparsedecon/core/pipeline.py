"""The full sparse-deconvolution pipeline.

background estimation -> (x2 up-sampling) -> scale to max 1 -> sparse-Hessian
step -> iterative deconvolution (RL or Biggs-accelerated RL) -> intensity
scale back (quantitative) or to max 1 (as the reference does).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..base.validation import FLOAT, as_float_image, check_psf, per_axis
from ..progress import Progress, Stage
from ..psf.basic import gaussian_psf, zoom_psf
from .background import estimate_background
from .params import SparseParams, as_params
from .richardson_lucy import iter_richardson_lucy
from .sparse_hessian import iter_sparse_hessian, relay, run
from .upsample import upsample2x


def _working_psf(psf, fwhm, img_shape, upsample, ndim_data):
    """PSF at the working pixel size (after up-sampling)."""
    if psf is not None:
        p = check_psf(psf, img_shape)
        if upsample == 2:
            p = zoom_psf(p, (1,) * (p.ndim - 2) + (2, 2))
        return p
    n = 3 if (np.ndim(fwhm) and len(fwhm) == 3 and ndim_data == 3) else 2
    f = list(per_axis(fwhm, n, "psf_fwhm_px"))
    f[-2:] = [v * upsample for v in f[-2:]]
    return gaussian_psf(None, tuple(f))


def deconv_psf(params, psf, img_shape, ndim_data):
    """The PSF at the working pixel size, or None when the pipeline does not deconvolve.
    ``params``: the pipeline's validated dict or its :class:`SparseParams`."""
    params = as_params(params)
    if not params.deconvolves:
        return None
    return _working_psf(psf, params.psf_fwhm_px, img_shape, params.upsample, ndim_data)


def _check_moved_plane(shape, axis):
    """The planes the sparse step sees once ``axis`` is moved first: at least 4x4."""
    from ..base.validation import MIN_YX

    if min(shape[-2:]) < MIN_YX:
        raise ValueError(
            f"axis={axis} leaves planes of {shape[-2]}x{shape[-1]} pixels (the other two "
            f"axes); each needs at least {MIN_YX}x{MIN_YX}: choose another axis (0 is "
            f"the first)")


def iter_sparse_deconvolve(image, *, psf=None, clip_negative: bool = False, backend="numpy",
                           device=None, return_estimate: bool = False,
                           **params) -> Iterator[Progress]:
    """Generator form of :func:`sparse_deconvolve`; yields :class:`Progress`.

    The generator's return value (``StopIteration.value``) is the result.
    Stopping it (``close()``, or simply not resuming) between two yields
    cancels the run; nothing else is changed.
    """
    params = SparseParams.from_dict(params)
    axis, psf_fwhm_px = params.axis, params.psf_fwhm_px
    img = as_float_image(image, name="image", clip_negative=clip_negative)
    if not -img.ndim <= axis < img.ndim or (img.ndim == 2 and axis != 0):
        raise ValueError(f"axis must be 0 for 2-D data and -3..2 for 3-D data, got {axis}")
    moved = img.ndim == 3 and axis not in (0, -3)
    if img.ndim == 3:
        img = np.ascontiguousarray(np.moveaxis(img, axis, 0))
        _check_moved_plane(img.shape, axis)
    if params.deconvolves and psf is None and psf_fwhm_px is None:
        raise ValueError(
            "the deconvolution step needs a PSF: pass psf=<array> or psf_fwhm_px=<FWHM in "
            "pixels>, or deconv_method='none' to run the sparse step alone"
        )
    work_psf = deconv_psf(params, psf, img.shape, img.ndim)
    if work_psf is not None and work_psf.ndim > img.ndim:
        raise ValueError("a 3-D PSF needs 3-D data")
    # Everything above validates eagerly (errors raise here, not at the first next()).
    return _pipeline(img, params, work_psf, moved, axis, backend, device, return_estimate)


def prepare(img, params) -> np.ndarray:
    """Background subtraction and up-sampling of a (Y, X) or (N, Y, X) float32 array.

    Modifies and/or replaces ``img`` (pass a copy); returns the working array
    whose maximum is the pipeline's intensity scale. ``params``: the pipeline's
    validated dict or its :class:`SparseParams`.
    """
    params = as_params(params)
    if params.background != "none":
        img -= estimate_background(img, params.background)
        np.maximum(img, 0, out=img)
    if params.upsample == 2:
        img = upsample2x(img, params.upsample_method)
    return img


def iter_solve(work, scale: float, params: SparseParams, work_psf, *, backend="numpy",
               device=None, return_estimate=False):
    """Sparse-Hessian step and deconvolution of a prepared block at a given scale.

    ``work / scale`` is what the sparse step sees (so tiles of one image share
    one scale). Returns the result in the input's units (times ``scale``); the
    caller applies the max-1 normalisation of the non-quantitative mode.
    """
    f = work / FLOAT(scale)
    g = yield from iter_sparse_hessian(f, fidelity=params.fidelity, sparsity=params.sparsity,
                                       continuity=params.continuity,
                                       iterations=params.iterations, axis=0,
                                       backend=backend, device=device,
                                       return_estimate=return_estimate)
    del f
    np.maximum(g, 0, out=g)
    if params.deconvolves and g.any():
        g = yield from iter_richardson_lucy(
            g, work_psf, iterations=params.deconv_iterations,
            acceleration="biggs" if params.deconv_method == "biggs" else None,
            backend=backend, device=device, return_estimate=return_estimate)
    g *= FLOAT(scale)
    return g


def _pipeline(img, params, work_psf, moved, axis, backend, device, return_estimate):
    # overall fraction: preparation counts as one iteration, RL as 1.5 sparse ones
    units = 1 + params.iterations + (1.5 * params.deconv_iterations if params.deconvolves
                                     else 0)

    def frac(pr):
        done = {Stage.PREPARE: pr.iteration,
                Stage.SPARSE: 1 + pr.iteration,
                Stage.DECONV: 1 + params.iterations + 1.5 * pr.iteration}[pr.stage]
        return pr._replace(fraction=min(done / units, 1.0))

    return (yield from relay(_stages(img, params, work_psf, moved, axis, backend, device,
                                     return_estimate), frac))


def _nothing_left(background) -> str:
    """Why an image has no positive value left once prepared, and what to do about it."""
    if background == "none":  # (then the image itself has none)
        return ("the image has no positive values (nothing to deconvolve): the sparse "
                "method needs intensities above zero; add the camera offset back, or use "
                "a photon method ('rl', 'sparse_psf') for offset-subtracted data")
    return (f"nothing is left after background subtraction ({background!r}); choose "
            f"background='none' or a 'low/...' mode")


def _stages(img, params, work_psf, moved, axis, backend, device, return_estimate):
    yield Progress(Stage.PREPARE, 0, 1)
    img = prepare(img, params)
    yield Progress(Stage.PREPARE, 1, 1)
    scale = float(img.max())
    if scale <= 0:
        raise ValueError(_nothing_left(params.background))
    g = yield from iter_solve(img, scale, params, work_psf, backend=backend, device=device,
                              return_estimate=return_estimate)
    if not params.quantitative and g.max() > 0:
        g /= g.max()
    if moved:
        g = np.ascontiguousarray(np.moveaxis(g, 0, axis))
    return g


def sparse_deconvolve(image, *, psf=None, clip_negative: bool = False, backend="numpy",
                      device=None, **params) -> np.ndarray:
    """Sparse deconvolution: background, (x2 up-sampling), sparse-Hessian step, then RL.

    Parameters
    ----------
    image : array_like, shape (Y, X), (T, Y, X) or (Z, Y, X)
        One channel, any real dtype (negative values of offset-subtracted data
        are fine). Not modified. For 3-D data
        the ``axis`` (default 0, the first) is the one ``continuity`` acts on:
        time for a time-lapse, z for a stack.
    psf : array_like, optional
        Odd-sized, centred PSF summing to 1 at the *input* pixel size; 2-D
        (applied plane by plane to 3-D data) or 3-D (a volume PSF for z-stacks).
    psf_fwhm_px : float or tuple, optional
        Instead of ``psf``: Gaussian PSF FWHM in input pixels (one value;
        ``(axial, lateral)`` or three values for a 3-D PSF).
    fidelity : float
        Data-term weight (paper default 150; lower for noisier data).
    sparsity : float
        L1 weight on intensities (paper default 10; GUI default 15); more
        sparsity gives an effectively narrower PSF. Keep below fidelity / 10.
    continuity : float
        t/z continuity weight (0.5-1 typical; ignored for 2-D data).
    iterations : int
        Sparse-Hessian (split Bregman) iterations (paper default 100).
    background : str
        ``"none"``, ``"high/2"``, ``"high/2.5"``, ``"low/1"``, ``"low/2"``,
        ``"low/2.5"``; see :func:`estimate_background`.
    upsample : {1, 2}
        x2 up-sampling in Y and X before the sparse step (the PSF is
        resampled to the finer grid).
    upsample_method : {"fourier", "spatial"}
    deconv_iterations : int
        Iterations of the final deconvolution (0 skips it).
    deconv_method : {"rl", "biggs", "none"}
        Classic Richardson-Lucy, Biggs-Andrews accelerated RL, or none.
    axis : int
        Continuity axis of 3-D data.
    quantitative : bool
        True (default): the output is in the input's intensity units
        (background-subtracted, per output pixel). False: scaled to max 1, as
        the reference implementation returns it.
    clip_negative : bool
        Set negative input values to 0 instead of raising.
    backend, device
        ``"numpy"`` (reference), ``"opencl"`` or ``"auto"``; see
        :func:`napari_sparsedecon.get_backend`.

    Returns
    -------
    numpy.ndarray
        float32, shape of ``image`` (Y and X doubled when ``upsample=2``).

    References
    ----------
    W. Zhao et al., "Sparse deconvolution improves the resolution of live-cell
    super-resolution fluorescence microscopy", Nat. Biotechnol. 40, 606-617
    (2022).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.default_rng(0).poisson(20, (64, 64)).astype(np.float32)
    >>> out = sparse_deconvolve(img, psf_fwhm_px=3.0, iterations=10, deconv_iterations=2)
    >>> out.shape, out.dtype
    ((64, 64), dtype('float32'))
    """
    return run(iter_sparse_deconvolve(image, psf=psf, clip_negative=clip_negative,
                                      backend=backend, device=device, **params))
