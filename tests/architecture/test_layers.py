"""The layer rules of docs/architecture.md, checked mechanically.

- No module outside ``_widgets`` (and the napari reader/writer and sample hooks, which
  napari itself imports) pulls in Qt, magicgui or napari.
- ``ops`` (shared numerics) imports no backend, algorithm or I/O module; backends
  never import each other's internals.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import napari_sparsedecon

PKG_DIR = Path(napari_sparsedecon.__file__).parent
GUI = ("qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "napari", "superqt")
LAYERS = ("core", "ops", "algorithms", "backends", "io", "psf", "analysis", "largedata",
          "dock")


def _modules(layer):
    pkg = f"napari_sparsedecon.{layer}"
    path = [str(PKG_DIR / layer)]
    return [pkg] + [m.name for m in pkgutil.walk_packages(path, pkg + ".")
                    if ".opencl" not in m.name]


def _imports(path: Path) -> set[str]:
    """Absolute names of every module a file imports (relative ones resolved)."""
    tree = ast.parse(path.read_text())
    rel = path.relative_to(PKG_DIR.parent).with_suffix("")
    parts = list(rel.parts)
    base = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    if parts[-1] == "__init__":
        base = parts[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[:len(base) - node.level + 1]
                mod = ".".join(anchor + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("layer", LAYERS)
def test_layer_imports_no_gui_at_runtime(layer):
    """Importing every module of the layer (in a fresh interpreter) loads no GUI package."""
    mods = _modules(layer)
    code = ("import importlib, sys\n"
            f"for m in {mods!r}: importlib.import_module(m)\n"
            f"print(sorted(g for g in {GUI!r} if g in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", f"{layer} imports {out}"


@pytest.mark.slow
@pytest.mark.parametrize("layer", LAYERS)
def test_layer_source_names_no_gui(layer):
    """Not even a lazy import inside a function (which the runtime test cannot see)."""
    bad = []
    for f in (PKG_DIR / layer).rglob("*.py"):
        for name in _imports(f):
            if name.split(".")[0] in GUI:
                bad.append(f"{f.relative_to(PKG_DIR)}: {name}")
    assert not bad, bad


def test_ops_is_the_bottom_layer():
    allowed = ("napari_sparsedecon.ops", "napari_sparsedecon.base.validation",
               "napari_sparsedecon.psf.basic")
    bad = []
    for f in (PKG_DIR / "ops").rglob("*.py"):
        for name in _imports(f):
            if name.startswith("napari_sparsedecon") and not name.startswith(allowed):
                bad.append(f"{f.name}: {name}")
    assert not bad, bad


def test_backends_do_not_reach_into_each_other():
    """numpy_backend and opencl/ share code only through ops/ and backends.base."""
    bad = []
    for f in (PKG_DIR / "backends" / "opencl").rglob("*.py"):
        bad += [f"{f.name}: {n}" for n in _imports(f) if "numpy_backend" in n]
    for n in _imports(PKG_DIR / "backends" / "numpy_backend.py"):
        if "backends.opencl" in n or "backends.auto" in n:
            bad.append(f"numpy_backend.py: {n}")
    assert not bad, bad


def test_the_checker_sees_a_gui_import(tmp_path, monkeypatch):
    """The source check itself can fail: a file with a lazy qtpy import is caught."""
    f = PKG_DIR / "ops" / "_tmp_gui_probe.py"
    f.write_text("def f():\n    from qtpy import QtWidgets\n")
    try:
        with pytest.raises(AssertionError, match="qtpy"):
            test_layer_source_names_no_gui("ops")
    finally:
        f.unlink()


#: The package's layers, bottom to top (docs/architecture.md). A module may import its
#: own unit and any unit of a lower layer, never a higher one and never a sibling of its
#: own layer (units of one layer are independent), imports inside functions included.
#: ``__init__`` (the lazy public API) sits above all of them.
ORDER = (
    ("base", "params", "progress", "io", "datasets"),
    ("ops",),
    ("psf",),
    ("backends",),
    ("core",),  # the paper pipeline's numerics and classic RL
    ("algorithms",),
    ("presets",),
    ("api",),
    ("analysis", "largedata"),
    ("cli", "_napari_io", "_sample_data", "dock"),  # dock: the dock's Qt-free model
    ("_widgets",),
)


def _unit(path: Path) -> str:
    rel = path.relative_to(PKG_DIR)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _layer_of(unit: str) -> int:
    for i, units in enumerate(ORDER):
        if unit in units:
            return i
    raise AssertionError(f"{unit!r} is in no layer of ORDER: add it to docs/architecture.md "
                         f"and to ORDER")


def _edges():
    """(file, its unit, imported unit) for every import of another unit of the package."""
    for f in sorted(PKG_DIR.rglob("*.py")):
        if f == PKG_DIR / "__init__.py":
            continue
        u = _unit(f)
        for name in _imports(f):
            parts = name.split(".")
            if parts[0] != "napari_sparsedecon" or len(parts) < 2:
                continue
            v = parts[1]
            if v != u and ((PKG_DIR / v).is_dir() or (PKG_DIR / f"{v}.py").is_file()):
                yield f.relative_to(PKG_DIR), u, v


def test_every_unit_has_a_layer():
    units = {_unit(f) for f in PKG_DIR.rglob("*.py") if f != PKG_DIR / "__init__.py"}
    for u in units:
        _layer_of(u)


def test_imports_go_down_the_layers_only():
    """Lazy imports inside functions count: they are how cycles hid before."""
    bad = [f"{f}: {u} (layer {_layer_of(u)}) imports {v} (layer {_layer_of(v)})"
           for f, u, v in _edges() if _layer_of(v) >= _layer_of(u)]
    assert not bad, "\n".join(bad)


def test_no_import_cycle_between_units():
    graph: dict[str, set[str]] = {}
    for _, u, v in _edges():
        graph.setdefault(u, set()).add(v)

    def reach(a, seen):
        for b in graph.get(a, ()):
            if b not in seen:
                seen.add(b)
                reach(b, seen)
        return seen

    cyc = sorted(u for u in graph if u in reach(u, set()))
    assert not cyc, f"units on an import cycle: {cyc}"


def test_no_source_file_is_over_500_lines():
    long = {str(f.relative_to(PKG_DIR)): n for f in PKG_DIR.rglob("*.py")
            if (n := len(f.read_text().splitlines())) > 500}
    assert not long, f"split these: {long}"
