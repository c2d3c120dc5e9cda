"""The layers above the methods (analysis, dock, largedata, cli, widgets) take a method
name and its validated parameter dict: no file there names the paper pipeline's
parameter class (docs/architecture.md, "Adding a method")."""

from __future__ import annotations

import ast
from pathlib import Path

import napari_sparsedecon

PKG_DIR = Path(napari_sparsedecon.__file__).parent
ABOVE = ("analysis", "dock", "largedata", "cli", "_widgets")


def _names(path: Path) -> set[str]:
    """Every name a file imports or uses (imports inside functions included)."""
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.Attribute):
            out.add(node.attr)
    return out


def test_no_layer_above_the_methods_names_a_method_parameter_class():
    bad = [str(f.relative_to(PKG_DIR)) for unit in ABOVE for f in (PKG_DIR / unit).rglob("*.py")
           if "SparseParams" in _names(f)]
    assert not bad, f"these files use SparseParams instead of the validated dict: {bad}"


def test_the_check_sees_a_use():
    """The walker finds the class where it is used (core), so the test above can fail."""
    assert "SparseParams" in _names(PKG_DIR / "core" / "tiled.py")
