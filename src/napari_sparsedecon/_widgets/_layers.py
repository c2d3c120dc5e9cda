"""Layer helpers shared by the widgets: length units and coordinate conversion."""

from __future__ import annotations

import numpy as np


def layer_unit(layer) -> str | None:
    """The layer's length unit along its last axis ('micrometer', 'pixel', ...), or None."""
    units = getattr(layer, "units", None)
    return None if units is None else str(units[-1])


def to_pixels(coords, src_layer, dst_layer) -> np.ndarray:
    """Data coordinates of ``src_layer`` (last axes) -> pixel coordinates of ``dst_layer``."""
    c = np.asarray(coords, dtype=float)
    n = c.shape[-1]
    world = c * np.asarray(src_layer.scale[-n:]) + np.asarray(src_layer.translate[-n:])
    return (world - np.asarray(dst_layer.translate[-n:])) / np.asarray(dst_layer.scale[-n:])
