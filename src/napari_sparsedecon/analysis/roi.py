"""Qt-free helpers behind the widgets: units, ROI boxes, result geometry, metadata."""

from __future__ import annotations

import numpy as np

NM_PER_UNIT = {"nm": 1.0, "nanometer": 1.0, "um": 1000.0, "µm": 1000.0, "micron": 1000.0,
               "micrometer": 1000.0, "mm": 1e6, "millimeter": 1e6}


def pixel_nm(pixel_size: float, unit: str | None) -> float:
    """A pixel size given in ``unit`` in nm.

    Raises ValueError when the pixel size is unknown (unit 'pixel' or None),
    the unit is not a length, or the size is not positive.
    """
    if unit is None or str(unit).lower() in ("pixel", "px", ""):
        raise ValueError(
            "the image has no physical pixel size (its scale is in pixels); enter the PSF "
            "FWHM in pixels, or set the layer's scale and units (e.g. 0.032 um)"
        )
    key = str(unit).lower()
    if key not in NM_PER_UNIT:
        raise ValueError(f"unknown length unit {unit!r}; use nm or um")
    px_nm = float(pixel_size) * NM_PER_UNIT[key]
    if not px_nm > 0:
        raise ValueError(f"pixel size must be > 0, got {pixel_size} {unit}")
    return px_nm


def fwhm_nm_to_px(fwhm_nm: float, pixel_size: float, unit: str | None) -> float:
    """Convert a FWHM in nm to pixels given the pixel size in ``unit``.

    Raises ValueError when the pixel size is unknown (unit 'pixel' or None).
    """
    return float(fwhm_nm) / pixel_nm(pixel_size, unit)


def clamp_box(start, stop, shape):
    """Clamp a (Y, X) box to an image; return (y0, y1, x0, x1) or raise if empty."""
    y0, x0 = (int(np.floor(v + 1e-3)) for v in start)  # float32 vertices: tolerate round-off
    y1, x1 = (int(np.ceil(v - 1e-3)) for v in stop)
    y0, x0 = max(y0, 0), max(x0, 0)
    y1, x1 = min(y1, shape[-2]), min(x1, shape[-1])
    if y1 - y0 < 8 or x1 - x0 < 8:
        raise ValueError("the ROI is smaller than 8x8 pixels inside the image; draw a larger "
                         "rectangle")
    return y0, y1, x0, x1


def centered_box(center, size, shape):
    """A (Y, X) box of ``size`` around ``center``, shifted to lie inside the image."""
    out = []
    for c, n, s in zip(center, shape[-2:], size, strict=True):
        s = min(s, n)
        a = int(round(c - s / 2))
        a = min(max(a, 0), n - s)
        out += [a, a + s]
    return tuple(out)


def frame_window(index: int, n: int, half: int = 2):
    """Frames [a, b) around ``index`` that a preview of 3-D data needs for continuity."""
    a = max(0, index - half)
    b = min(n, index + half + 1)
    if b - a < 2:
        b = min(n, a + 2)
    return a, b


def result_geometry(scale, translate, upsample: int):
    """Scale and translate of a result layer; x2 up-sampling halves the Y/X pixel size
    and moves the first pixel centre by a quarter of an input pixel."""
    scale = [float(s) for s in scale]
    translate = [float(t) for t in translate]
    if upsample == 2:
        for ax in (-2, -1):
            translate[ax] -= scale[ax] / 4
            scale[ax] /= 2
    return scale, translate


def roi_geometry(scale, translate, y0: int, x0: int, upsample: int):
    """Y/X scale and translate of a result computed on a ROI starting at pixel (y0, x0)
    of a layer with Y/X ``scale`` and ``translate``."""
    sc, tr = result_geometry(scale[-2:], translate[-2:], upsample)
    return sc, [tr[0] + y0 * float(scale[-2]), tr[1] + x0 * float(scale[-1])]
