"""The live ROI preview of any method: the window it runs on, and the run itself.

A preview solves a rectangle of the image (plus the method's halo, so that the ROI
looks as it will in the whole-image run) with the whole image's estimates (camera,
background, levels: ``Method.prepare`` once per image, cut to the window). On a
stack, the window takes enough planes for the PSF (at least :data:`MIN_PLANES`, the
PSF's own depth for a 3-D PSF), centred on the plane the viewer shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Fewest planes a stack's preview solves (continuity along z/t needs neighbours).
MIN_PLANES = 5


@dataclass(frozen=True)
class Window:
    """Where a preview runs: ``solve`` (slices of the image solved) and ``keep`` (slices
    of the solved block that are the ROI itself); ``planes``: (first, stop) or None."""

    solve: tuple
    keep: tuple
    planes: tuple | None

    def describe(self) -> str:
        ys, xs = self.solve[-2], self.solve[-1]
        where = f"y {ys.start}:{ys.stop}, x {xs.start}:{xs.stop} (with the halo)"
        if self.planes is None:
            return where
        a, b = self.planes
        return f"planes {a}-{b - 1} ({b - a} for the PSF), {where}"


def preview_window(shape, box, *, psf_shape=None, plane=None, halo: int = 0) -> Window:
    """The window of a preview of ``box`` = ((y0, y1), (x0, x1)) on an image of ``shape``
    ((Y, X), or (N, Y, X) with the viewer at plane ``plane``): the box grown by ``halo``
    inside the image, and on a stack the planes the PSF needs around ``plane``."""
    (y0, y1), (x0, x1) = box
    ny, nx = shape[-2:]
    y0, y1 = max(0, int(y0)), min(ny, int(y1))
    x0, x1 = max(0, int(x0)), min(nx, int(x1))
    if y1 - y0 < 2 or x1 - x0 < 2:
        raise ValueError(f"the ROI {box} holds no pixels of the {ny}x{nx} image; draw the "
                         f"rectangle over the image")
    sy, sx = slice(max(0, y0 - halo), min(ny, y1 + halo)), slice(max(0, x0 - halo),
                                                                   min(nx, x1 + halo))
    keep = (slice(y0 - sy.start, y1 - sy.start), slice(x0 - sx.start, x1 - sx.start))
    if len(shape) == 2:
        return Window((sy, sx), keep, None)
    n = int(shape[0])
    depth = int(psf_shape[0]) if psf_shape is not None and len(psf_shape) == 3 else 1
    k = min(n, max(MIN_PLANES, depth))
    z = n // 2 if plane is None else min(max(int(plane), 0), n - 1)
    a = min(max(0, z - k // 2), n - k)
    return Window((slice(a, a + k), sy, sx), (slice(None),) + keep, (a, a + k))


def iter_preview(image, method, params: dict, psf, box, *, plane=None, prep=None,
                 backend="numpy", device=None, info=None):
    """Run ``method`` on the preview window of ``box``; returns (the ROI's result,
    the :class:`Window`). ``prep``: the method's whole-image estimates (made from
    ``image`` when None; pass them to reuse them across previews)."""
    from ..algorithms.registry import get_method

    m = get_method(method) if isinstance(method, str) else method
    img = np.asarray(image)
    halo = int(m.halo(params, psf)) if m.halo is not None else 0
    w = preview_window(img.shape, box, psf_shape=np.shape(psf), plane=plane, halo=halo)
    block = np.ascontiguousarray(img[w.solve], dtype=np.float32)
    kw = {"backend": backend, "device": device, "return_estimate": False}
    if m.prepare is not None:
        if prep is None:
            prep, _, _ = m.prepare(np.asarray(img, dtype=np.float32), psf, params)
        kw["prep"] = prep.block(w.solve)
        kw["info"] = info
    res = yield from m.iterate(block, psf, params, **kw)
    if info is not None:
        info["window"] = w.describe()
    return np.asarray(res)[w.keep], w
