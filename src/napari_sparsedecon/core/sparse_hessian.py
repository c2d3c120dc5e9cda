"""The sparse-Hessian reconstruction step (Zhao et al., Nat. Biotechnol. 2022).

A denoiser with an identity forward model: the PSF is not inside it. It
solves

    g* = argmin_g (fidelity/2)||f - g||^2 + ||g_yy|| + ||g_xx|| + 2||g_xy||
         + c||g_tt|| + 2 sqrt(c)(||g_ty|| + ||g_tx||) + sparsity ||g||

(L1 norms) by split Bregman. See ``backends/numpy_backend.py`` for the solver.

Design choice on the sparsity term: the published code puts ``sparsity^2`` in
the Fourier denominator but ``sparsity * (d - b)`` in the right-hand side. We
solve the objective as written (``sparsity`` in both, with its shrink
threshold 1). For a flat region this yields the soft threshold
``g = f - sparsity/fidelity``; the published variant additionally scales
everything by ``fidelity / (fidelity + sparsity^2 - sparsity)`` (0.625 at the
defaults), which its renormalisation to max 1 hides but which would bias
intensities in the quantitative mode. ``tests/core/test_sparse_hessian.py``
checks the fixed point.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..backends import get_backend
from ..base.validation import FLOAT, as_float_image, count, positive
from ..progress import Progress, Stage

#: Most iterations accepted (as the registered methods' schemas).
MAX_ITERATIONS = 10_000


def _prepare(image, axis):
    img = np.asarray(image)
    if img.ndim == 3 and axis not in (0, -3):
        img = np.moveaxis(img, axis, 0)
    return img


def iter_sparse_hessian(f, *, fidelity: float = 150.0, sparsity: float = 10.0,
                        continuity: float = 0.5, iterations: int = 100, axis: int = 0,
                        backend="numpy", device=None,
                        return_estimate: bool = False) -> Iterator[Progress]:
    """Run the sparse-Hessian step, yielding progress after every iteration.

    Parameters
    ----------
    f : array_like, shape (Y, X), (T, Y, X) or (Z, Y, X)
        Non-negative data, normally background-subtracted and scaled to max 1
        (the shrink threshold is 1, so the scale matters; see
        :func:`sparse_deconvolve`). Not modified.
    fidelity : float
        Weight of the data term (> 0). Lower it for noisier data.
    sparsity : float
        Weight of the L1 term on intensities (>= 0); keep below fidelity / 10.
    continuity : float
        Weight ``c`` of the t/z Hessian terms (>= 0); ignored for 2-D input.
    iterations : int
        Split-Bregman iterations (>= 1).
    axis : int
        For 3-D input, the axis continuity acts on (default 0).
    backend, device
        See :func:`napari_sparsedecon.backends.get_backend`.
    return_estimate : bool
        Attach the current estimate to each :class:`Progress`.

    Yields
    ------
    Progress
        ``stage="sparse"``. After the last one, the generator returns the
        float32 result (``StopIteration.value``), in the input's axis order.
    """
    img = as_float_image(f, name="f", copy=False)  # only read: the plan never writes f
    fidelity = positive(fidelity, "fidelity")
    sparsity = positive(sparsity, "sparsity", allow_zero=True)
    continuity = positive(continuity, "continuity", allow_zero=True)
    iterations = count(iterations, "iterations", maximum=MAX_ITERATIONS)
    moved = img.ndim == 3 and axis not in (0, -3)
    img = _prepare(img, axis)
    be = get_backend(backend, device)
    plan = be.sparse_hessian_plan(img.shape, fidelity=fidelity, sparsity=sparsity,
                                  continuity=continuity)
    plan.set_data(np.ascontiguousarray(img))
    return _iterate(plan, iterations, moved, axis, return_estimate)


def _iterate(plan, iterations, moved, axis, return_estimate):
    with plan:  # closed on return, error or cancel (the generator closed early)
        for k in range(iterations):
            plan.step()
            est = None
            if return_estimate:
                # a copy: the plan reuses its buffers in the next iteration
                est = np.array(_host(plan.result()), dtype=FLOAT, copy=True)
                est = np.moveaxis(est, 0, axis) if moved else est
            yield Progress(Stage.SPARSE, k + 1, iterations, est)
        # No copy of a host result: the plan is closed here, its buffer becomes the
        # result (a copy would be one more input-sized array at the step's peak).
        out = np.asarray(_host(plan.result()), dtype=FLOAT)
    del plan
    return np.ascontiguousarray(np.moveaxis(out, 0, axis)) if moved else out


def _host(a):
    get = getattr(a, "get", None)
    return get() if callable(get) else a


def run(gen, on_progress=None):
    """Drive an ``iter_...`` generator to its end and return its result;
    ``on_progress`` (if given) is called with every item it yields."""
    while True:
        try:
            item = next(gen)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(item)


def relay(gen, fn):
    """Yield ``fn(item)`` for every item of ``gen``; return ``gen``'s result
    (``result = yield from relay(gen, fn)`` passes progress on, changed)."""
    while True:
        try:
            item = next(gen)
        except StopIteration as stop:
            return stop.value
        yield fn(item)


def sparse_hessian(f, **kwargs) -> np.ndarray:
    """Plain-function form of :func:`iter_sparse_hessian` (same arguments).

    Examples
    --------
    >>> import numpy as np
    >>> f = np.zeros((32, 32), np.float32); f[16, 16] = 1
    >>> g = sparse_hessian(f, iterations=20)
    >>> g.shape, g.dtype
    ((32, 32), dtype('float32'))
    """
    return run(iter_sparse_hessian(f, **kwargs))
