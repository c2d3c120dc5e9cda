"""The plugin uses napari's public API only (napari's private names change without
notice: ``Window._qt_viewer`` and vispy/napari font internals were used before)."""

import ast
from pathlib import Path

import numpy as np
import pytest

import napari_sparsedecon

PKG_DIR = Path(napari_sparsedecon.__file__).parent
#: private attributes of napari/vispy objects the docks once reached for
PRIVATE = {"_qt_viewer", "_qt_window", "_glyphs", "_font_info", "_font_manager",
           "_canvas", "_overlays"}


def _private_uses(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in PRIVATE and not (
                isinstance(node.value, ast.Name) and node.value.id == "self"):  # our own
            yield node.lineno, node.attr
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                ("napari._", "vispy.")):
            yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("napari._"):
                    yield node.lineno, alias.name


def test_no_private_napari_api_in_the_package():
    found = [f"{p.relative_to(PKG_DIR)}:{line} {what}" for p in PKG_DIR.rglob("*.py")
             for line, what in _private_uses(ast.parse(p.read_text(), str(p)))]
    assert found == []


@pytest.mark.gui
def test_glyph_warm_up_finds_the_canvas_font_through_public_api(make_napari_viewer, qtbot):
    pytest.importorskip("napari")
    from napari_sparsedecon._widgets._layers import GlyphWarmer, canvas_font

    viewer = make_napari_viewer()
    font = canvas_font(viewer)
    assert font is not None  # the canvas's own font, where points text is drawn
    warmer = GlyphWarmer()
    warmer.warm(viewer, "fidelity 150")
    assert warmer.pending > 0
    qtbot.waitUntil(lambda: warmer.pending == 0, timeout=30000)
    layer = viewer.add_points(np.array([[5.0, 5.0]]), features={"label": ["fidelity 150"]},
                              text="label")  # drawn with the glyphs loaded above
    assert layer.text.values[0] == "fidelity 150"
    warmer.warm(viewer, "fidelity 150")  # already loaded: nothing queued again
    assert warmer.pending == 0
