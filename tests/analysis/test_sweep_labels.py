"""Sweep montage labels fit their tiles on screen, in a strip along the top of each tile
(analysis.sweep.fit_labels): the tile stays visible under its label."""

import pytest

from napari_sparsedecon.analysis.sweep import (
    CHAR_W,
    LABEL_SHARE,
    LINE_H,
    MAX_LABEL_PX,
    MIN_LABEL_PX,
    fit_labels,
)

LABELS = ["fidelity 50, sparsity 1", "fidelity 200, sparsity 20"]
SCORES = ["residual 0.012, FRC 140 nm", ""]


def _fits(size, texts, tile_px, char_w=CHAR_W, line_h=LINE_H):
    h, w = tile_px
    return all(max(len(ln) for ln in t.split("\n")) * char_w * size <= w
               and (t.count("\n") + 1) * line_h * size <= LABEL_SHARE * h for t in texts)


def test_large_tiles_show_values_and_scores_one_per_line():
    size, texts = fit_labels(LABELS, SCORES, (700, 400))
    assert size == MAX_LABEL_PX
    assert texts[0] == "fidelity 50\nsparsity 1\nresidual 0.012\nFRC 140 nm"
    assert texts[1] == "fidelity 200\nsparsity 20"


@pytest.mark.parametrize("tile_px", [(400, 400), (120, 150), (70, 120), (40, 90), (30, 30),
                                     (10, 10)])
def test_labels_never_overflow_and_stay_readable(tile_px):
    size, texts = fit_labels(LABELS, SCORES, tile_px)
    assert size >= MIN_LABEL_PX
    if tile_px[0] >= 100:
        assert _fits(size, texts, tile_px)


def test_shortening_order_values_then_numbers():
    _, texts = fit_labels(LABELS, SCORES, (200, 110))
    assert texts == ["fidelity 50\nsparsity 1", "fidelity 200\nsparsity 20"]
    _, texts = fit_labels(LABELS, SCORES, (25, 40))
    assert texts == ["#0", "#1"]
