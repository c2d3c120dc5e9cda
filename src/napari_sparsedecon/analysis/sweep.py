"""Parameter sweeps on a region of interest (the engine behind a sweep widget).

One or two parameters, each over a list of values (or a linear/log range);
every combination runs the full pipeline on the ROI. Results come back as
they finish (each yielded Progress carries its :class:`SweepTile`: values, image,
scores), then as the list of every tile, and can be laid out as a labelled montage.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from ..core.sparse_hessian import run
from ..progress import Progress, Stage

#: The paper pipeline's sweepable parameters (``sweepable("sparse")``, without loading the
#: registry): the widgets' first list and label font.
SWEEPABLE = ("fidelity", "sparsity", "continuity", "iterations", "deconv_iterations")


def value_range(start: float, stop: float, n: int, scale: str = "linear") -> list:
    """``n`` values from ``start`` to ``stop``, linearly or logarithmically spaced."""
    if n < 1:
        raise ValueError("a range needs at least one value")
    if scale == "log":
        if start <= 0 or stop <= 0:
            raise ValueError("a log range needs positive start and stop")
        vals = np.geomspace(start, stop, n)
    elif scale == "linear":
        vals = np.linspace(start, stop, n)
    else:
        raise ValueError(f"scale must be 'linear' or 'log', got {scale!r}")
    return [float(v) for v in vals]


@dataclass
class SweepTile:
    values: dict
    image: np.ndarray
    scores: dict = field(default_factory=dict)

    def label(self) -> str:
        return ", ".join(f"{k} {v:g}" for k, v in self.values.items())


def sweepable(method: str = "sparse") -> tuple[str, ...]:
    """The parameters of ``method`` a sweep can vary: the numbers of its schema that are
    not optional and not advanced."""
    from ..algorithms.registry import get_method

    return tuple(p.name for p in get_method(method).schema
                 if p.kind in ("int", "float") and not p.optional and not p.advanced)


def _integers(method: str) -> tuple[str, ...]:
    from ..algorithms.registry import get_method

    return tuple(p.name for p in get_method(method).schema if p.kind == "int")


def combinations(grid: dict, method: str = "sparse"):
    """Every combination of ``grid`` (name -> values) as dicts, product order; integer
    parameters rounded. Raises ValueError for an unknown parameter or empty values."""
    if not 1 <= len(grid) <= 2:
        raise ValueError("sweep one or two parameters")
    ok, ints = sweepable(method), _integers(method)
    for name, vals in grid.items():
        if name not in ok:
            raise ValueError(f"cannot sweep {name!r} of method {method!r}; choose from "
                             f"{list(ok)}")
        if not len(vals):
            raise ValueError(f"no values given for {name}")
    names = list(grid)
    for combo in itertools.product(*(grid[n] for n in names)):
        yield {n: (int(round(v)) if n in ints else float(v))
               for n, v in zip(names, combo, strict=True)}


def scores_for(roi, result, psf) -> dict:
    """Residual energy (fraction of the ROI's signal energy the result leaves
    unexplained) and sparsity (fraction of result pixels above 5% of its max)."""
    from .trust import residual_map

    roi = np.asarray(roi, dtype=np.float64)
    signal = roi - np.median(roi)
    out = {"sparsity": float((result > 0.05 * max(float(result.max()), 1e-30)).mean())}
    if psf is not None and result.shape == roi.shape:
        r = residual_map(roi, result, psf, background=float(np.median(roi)))
        out["residual"] = float((r.astype(np.float64) ** 2).sum() /
                                max((signal**2).sum(), 1e-30))
    return out


def iter_sweep(roi, base, grid: dict, *, psf=None, backend="numpy", device=None,
               method: str | None = None, prep=None):
    """Run every combination of ``grid`` (name -> values) on ``roi``.

    ``base``: the validated parameters (a dict) of ``method`` (any registered method), or
    a method's frozen parameter record (which names its method). ``prep``: the method's
    whole-image estimates cut to the ROI (made from the ROI when None), so that every
    tile uses the same camera and weights. Each tile's residual score uses the method's
    forward model (``Method.checks``; none where the result is up-sampled).
    Yields ``Progress(Stage.SWEEP, i, n, fraction=i / n, tile=<SweepTile>)`` as each
    combination finishes (itertools.product order of ``grid``); returns the
    :class:`SweepTile` list. Closing the generator cancels the sweep.
    """
    from ..algorithms.registry import get_method
    from .trust import checks_model

    if not isinstance(base, dict):  # a frozen parameter record names its method
        method = method or getattr(base, "method", None)
        base = base.to_dict()
    if method is None:
        raise ValueError("a sweep needs method=<a registered method> with its parameters")
    m = get_method(method)
    combos = list(combinations(grid, m.name))
    roi = np.asarray(roi, dtype=np.float32)
    if prep is None and m.prepare is not None:  # one set of estimates for every tile
        prep, _, _ = m.prepare(roi, psf, m.validate(base))
    kw = {"prep": prep} if prep is not None else {}
    tiles = []
    for i, values in enumerate(combos):
        p = m.validate({**base, **values})
        out = run(m.iterate(roi, psf, p, backend=backend, device=device,
                            return_estimate=False, **kw))
        fwd = None  # the residual needs the forward model on the ROI's grid
        if m.zoom(p) == 1 and (psf is not None or m.psf_in_schema):
            fwd = checks_model(m.name, p, psf, roi).forward_model()
        tile = SweepTile(values, out, scores_for(roi, out, fwd))
        tiles.append(tile)
        yield Progress(Stage.SWEEP, i + 1, len(combos), fraction=(i + 1) / len(combos),
                       tile=tile)
    return tiles


def sweep(roi, base, grid: dict, **kwargs) -> list:
    """Plain-function form of :func:`iter_sweep`."""
    return run(iter_sweep(roi, base, grid, **kwargs))


def montage(tiles, grid: dict, gap: int = 2):
    """Lay tiles out as rows (first parameter) x columns (second parameter).

    Returns (image, labels) where labels are ((y, x) top-left of each tile in
    montage pixels, text).
    """
    names = list(grid)
    rows = len(grid[names[0]])
    cols = len(grid[names[1]]) if len(names) == 2 else 1
    if len(tiles) != rows * cols:
        raise ValueError(f"{len(tiles)} tiles do not fill a {rows} x {cols} montage")
    h, w = tiles[0].image.shape[-2:]
    img = np.zeros(tiles[0].image.shape[:-2] + (rows * h + (rows - 1) * gap,
                                                 cols * w + (cols - 1) * gap),
                   dtype=np.float32)
    labels = []
    for k, t in enumerate(tiles):
        r, c = divmod(k, cols)
        y0, x0 = r * (h + gap), c * (w + gap)
        img[..., y0:y0 + h, x0:x0 + w] = t.image
        labels.append(((y0, x0), t.label()))
    return img, labels


def parse_values(text: str, name: str = "values") -> list:
    """Values from text: a list ``"50, 100, 200"`` or a range ``"10:1000:5 log"``
    (start:stop:count, ``lin`` or ``log``; default ``lin``)."""
    s = str(text).strip()
    msg = (f"cannot read {name} {text!r}; type a list like '50, 100, 200' or a range like "
           f"'10:1000:5 log' (start:stop:count, lin or log)")
    if not s:
        raise ValueError(msg)
    if ":" in s:
        spec, _, scale = s.partition(" ")
        parts = spec.split(":")
        scale = {"": "linear", "lin": "linear", "linear": "linear",
                 "log": "log"}.get(scale.strip().lower())
        if len(parts) != 3 or scale is None:
            raise ValueError(msg)
        try:
            start, stop, n = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise ValueError(msg) from None
        return value_range(start, stop, n, scale)
    try:
        return [float(v) for v in s.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise ValueError(msg) from None


def sweep_table(tiles) -> list[dict]:
    """One row per tile: its values and scores (for a table or a CSV file)."""
    return [{**t.values, **{f"score_{k}": v for k, v in t.scores.items()}} for t in tiles]


def export_sweep(path, tiles, grid: dict, *, scale=None, base=None):
    """Write the montage as ``<path>.tif`` and the table as ``<path>.csv``, atomically.

    Returns the two paths. ``base``: the parameters shared by every tile,
    stored with the montage.
    """
    import csv
    import io
    from pathlib import Path

    from ..io.tiff import atomic_write, write_tiff

    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".tif", ".tiff", ".csv") else path
    img, labels = montage(tiles, grid)
    meta = {"sweep": {k: [float(v) for v in vals] for k, vals in grid.items()},
            "labels": [text for _, text in labels],
            "base": base.to_dict() if hasattr(base, "to_dict") else base}
    tif = write_tiff(stem.with_suffix(".tif"), img, scale=scale, metadata=meta)
    rows = sweep_table(tiles)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)

    def write(tmp):
        Path(tmp).write_text(buf.getvalue())

    csv_path = atomic_write(stem.with_suffix(".csv"), write)
    return tif, csv_path


def tile_at(grid: dict, tile_shape, position, gap: int = 2) -> int | None:
    """Index of the montage tile under ``position`` (y, x in montage pixels), or None."""
    names = list(grid)
    rows = len(grid[names[0]])
    cols = len(grid[names[1]]) if len(names) == 2 else 1
    h, w = tile_shape[-2:]
    y, x = float(position[0]), float(position[1])
    r, c = int(y // (h + gap)), int(x // (w + gap))
    if not (0 <= r < rows and 0 <= c < cols):
        return None
    if y - r * (h + gap) >= h or x - c * (w + gap) >= w:
        return None  # on the gap between tiles
    return r * cols + c


#: Label font sizes of the montage (napari text size): never below MIN (then the label
#: is shortened), never above MAX.
MIN_LABEL_PX, MAX_LABEL_PX = 8.0, 14.0
#: Screen pixels per unit of font size of a character's width and of a line's height,
#: as napari draws text (measured on its screenshots under Xvfb, 96 dpi: size 13 draws
#: ~11.4 px per character, ~30 px per line; the width rounded up for wide glyphs),
#: and a margin in pixels.
CHAR_W, LINE_H, PAD = 1.0, 2.35, 4.0
#: The share of a tile's height its label may cover (a strip along its top edge): the
#: tile stays visible under it.
LABEL_SHARE = 0.3


def _font_for(texts, tile_px) -> float:
    """Largest font (capped at MAX_LABEL_PX) at which every text fits in the top
    LABEL_SHARE of a tile."""
    lines = [ln for t in texts for ln in t.split("\n")]
    chars = max((len(ln) for ln in lines), default=1)
    rows = max((t.count("\n") + 1 for t in texts), default=1)
    h = max(float(tile_px[0]) * LABEL_SHARE - PAD, 0.0)
    w = max(float(tile_px[1]) - PAD, 0.0)
    return min(MAX_LABEL_PX, w / (CHAR_W * max(chars, 1)), h / (LINE_H * rows))


def fit_labels(labels, scores, tile_px):
    """(font size, texts) so that each tile's label fits inside its tile on screen,
    in a strip along its top covering at most LABEL_SHARE of the tile's height.

    ``labels`` are the tiles' parameter values ("fidelity 200, sparsity 9"),
    ``scores`` their score texts (one string each, "" for none), ``tile_px`` the
    (height, width) of a tile in screen pixels. Tries the values and scores one
    per line, then the values alone, then the tile number ("#3", the tile list
    beside the montage has the rest), each at the largest font that fits, and
    takes the first that fits at MIN_LABEL_PX or more (else the tile numbers at
    MIN_LABEL_PX).
    """
    values = [lab.replace(", ", "\n") for lab in labels]
    full = [v + ("\n" + s.replace(", ", "\n") if s else "") for v, s in
            zip(values, scores, strict=True)]
    numbers = [f"#{i}" for i in range(len(labels))]
    for texts in (full, values, numbers):
        size = _font_for(texts, tile_px)
        if size >= MIN_LABEL_PX:
            return size, texts
    return MIN_LABEL_PX, numbers
