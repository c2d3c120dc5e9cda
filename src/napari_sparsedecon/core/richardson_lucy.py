"""Richardson-Lucy deconvolution with background, classic or accelerated.

    x <- x * H^T( y / max(H x + b, eps) ) / H^T 1

Edges: the data are mirror-padded by half the PSF size (then to an
FFT-friendly size) so that circular convolution does not wrap one edge onto
the other; on that domain H^T 1 = 1 for a PSF summing to 1. The estimate stays
non-negative.

Acceleration ``"biggs"``: Biggs & Andrews (Appl. Opt. 1997) vector
extrapolation, ``y_k = x_k + alpha (x_k - x_{k-1})`` with
``alpha = <g_{k-1}, g_{k-2}> / <g_{k-2}, g_{k-2}>`` clipped to [0, 1], where
``g`` is the change made by the last RL update.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..backends import get_backend
from ..base.validation import FLOAT, as_float_image, check_psf, choice, count
from ..progress import Progress, Stage
from .sparse_hessian import _host, run

ACCELERATIONS = (None, "biggs")


#: Most iterations accepted (as the registered methods' schemas).
MAX_ITERATIONS = 10_000


def iter_richardson_lucy(image, psf, *, iterations: int = 30, background=0.0,
                         acceleration: str | None = None, clip_negative: bool = False,
                         backend="numpy", device=None, return_estimate: bool = False,
                         ) -> Iterator[Progress]:
    """Richardson-Lucy as a generator yielding :class:`Progress` per iteration.

    Parameters
    ----------
    image : array_like, shape (Y, X), (T, Y, X) or (Z, Y, X)
        Measured, non-negative intensities (any real dtype). Not modified.
    psf : array_like
        Odd-sized, centred PSF summing to 1. 2-D for 2-D data or for
        plane-by-plane deconvolution of a stack; 3-D for volumes.
    iterations : int
        Number of RL iterations (>= 1).
    background : float or array_like
        Known additive background b (>= 0), same units as ``image``.
    acceleration : None or "biggs"
        Biggs-Andrews extrapolation; reaches the quality of 100 classic
        iterations in far fewer.
    clip_negative : bool
        Set negative pixels to 0 instead of raising.

    Yields
    ------
    Progress
        ``stage="deconv"``; the generator returns the float32 estimate.

    References
    ----------
    W. H. Richardson, J. Opt. Soc. Am. 62, 55 (1972); L. B. Lucy, Astron. J.
    79, 745 (1974); D. S. C. Biggs and M. Andrews, Appl. Opt. 36, 1766 (1997).
    """
    y = as_float_image(image, name="image", clip_negative=clip_negative)
    _check_some_positive(y)
    p = check_psf(psf, y.shape)
    iterations = count(iterations, "iterations", maximum=MAX_ITERATIONS)
    acceleration = choice(acceleration, "acceleration", ACCELERATIONS)
    try:
        with np.errstate(over="ignore"):
            bg = np.asarray(background, dtype=FLOAT)
    except (TypeError, ValueError):
        raise TypeError(f"background must be a number or an array of the image's shape, "
                        f"got {background!r:.60}") from None
    if bg.ndim and bg.shape != y.shape:
        raise ValueError(f"background shape {bg.shape} must match the image {y.shape}")
    if not np.isfinite(bg).all() or (bg < 0).any():
        raise ValueError("background must be finite and >= 0")
    be = get_backend(backend, device)
    plan = be.rl_plan(y.shape, p, background=bg, acceleration=acceleration)
    plan.set_data(y)
    return _iterate(plan, iterations, return_estimate)


def _check_some_positive(y) -> None:
    """RL divides by its blurred estimate: an image without a positive value gives NaN."""
    hi = float(y.max())
    if hi <= 0:
        raise ValueError(f"image has no positive values (maximum {hi:.3g}); Richardson-Lucy "
                         f"needs intensities >= 0: add the camera offset back (or subtract "
                         f"a smaller one), or use a photon method (deconvolve(image, 'rl', "
                         f"offset=...)) for offset-subtracted data")


def _iterate(plan, iterations, return_estimate):
    with plan:  # closed on return, error or cancel (the generator closed early)
        for k in range(iterations):
            plan.step()
            # a copy: the plan reuses its buffers in the next iteration
            est = np.array(_host(plan.result()), copy=True) if return_estimate else None
            yield Progress(Stage.DECONV, k + 1, iterations, est)
        return np.asarray(_host(plan.result()), dtype=FLOAT)


def richardson_lucy(image, psf, *, iterations: int = 30, **kwargs) -> np.ndarray:
    """Richardson-Lucy deconvolution (plain form of :func:`iter_richardson_lucy`).

    Returns
    -------
    numpy.ndarray
        float32 estimate, same shape as ``image``, in the same intensity units.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_sparsedecon import gaussian_psf
    >>> img = np.ones((64, 64), np.float32)
    >>> out = richardson_lucy(img, gaussian_psf((9, 9), 2.0), iterations=5)
    >>> bool(np.allclose(out, 1, atol=1e-3))
    True
    """
    return run(iter_richardson_lucy(image, psf, iterations=iterations, **kwargs))
