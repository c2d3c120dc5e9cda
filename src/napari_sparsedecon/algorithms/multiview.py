"""Multi-view deconvolution for every method that declares ``views_plan``: V images of
one object (the detector elements of an Airyscan, the two arms of a dual-view light
sheet), each with its own PSF, camera model and background, registered to one grid.

Each view is prepared as the method prepares a single image (camera model, background,
levels, the per-image choices); the method then builds one plan whose data term sums
over the views (:mod:`napari_sparsedecon.ops.multiview`), and the estimate is returned
in the first view's camera units. Per-image choices made by data splitting are made
per view and combined as each method's ``views_plan`` says (rl: the largest iteration
count, as the views together hold more photons than any one; sparse_psf / rl_tv: the
median output resolution). NumPy only for now.
"""

from __future__ import annotations

import numpy as np

from ..progress import Progress, Stage


def multiview_methods() -> list[str]:
    """The registered methods that have a multi-view form (``views_plan``)."""
    from .registry import get_method, methods

    return [n for n in methods() if get_method(n).views_plan is not None]


def check_views(views, psfs) -> tuple[list, list]:
    """(views, PSFs) as lists of arrays of one shape each; a clear error otherwise."""
    psfs = [np.asarray(p) for p in psfs]
    if isinstance(views, np.ndarray) or not isinstance(views, (list, tuple)):
        arr = np.asarray(views)
        if arr.ndim < 3:
            raise ValueError(f"multi-view: give the views as a list of images or an array "
                             f"with the views on its first axis (V, ...), got shape "
                             f"{arr.shape}")
        views = list(arr)
    views = [np.asarray(v) for v in views]
    if len(views) != len(psfs):
        raise ValueError(f"multi-view: {len(views)} views for {len(psfs)} PSFs; give one "
                         f"PSF per view (psf=[psf_1, ..., psf_V])")
    if not views:
        raise ValueError("multi-view: give at least one view and its PSF")
    shapes = {v.shape for v in views}
    if len(shapes) != 1:
        raise ValueError(f"multi-view: every view needs the same shape (registered to one "
                         f"grid), got {sorted(shapes)}")
    return views, psfs


def iter_views(m, views, psfs, params, *, return_estimate=False, info=None,
               clip_negative=False):
    """Generator: the method's multi-view run; returns the float32 estimate."""
    if m.views_plan is None or m.prepare is None:
        raise ValueError(f"method {m.name!r} has no multi-view form; methods with one: "
                         f"{multiview_methods()}")
    views, psfs = check_views(views, psfs)
    preps, ys, ps = [], [], []
    for v, p in zip(views, psfs, strict=True):
        prep, ye, pp = m.prepare(v, p, params, clip_negative=clip_negative)
        preps.append(prep)
        ys.append(ye)
        ps.append(pp)
    plan, output, n, extra, stop = m.views_plan(ys[0].shape, ps, params, preps)
    plan.set_data(ys, [prep.background for prep in preps])
    done, hist = n, []
    for k in range(n):
        plan.step()
        hist.append(plan.chi2)
        est = output(plan.result()) if return_estimate else None
        yield Progress(Stage.DECONV, k + 1, n, est)
        if stop is not None and stop(hist):
            done = k + 1
            break
    if info is not None:
        info.update(views=len(views), per_view=[prep.record() for prep in preps],
                    iterations_run=done, chi2_per_pixel=plan.chi2, backend="numpy",
                    device="CPU (NumPy/SciPy)", **extra)
    return np.asarray(output(plan.result()), dtype=np.float32)
