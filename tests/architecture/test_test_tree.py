"""The test tree mirrors the package (docs/architecture.md, "Where tests go").

A test of ``napari_sparsedecon/<unit>/...`` lives in ``tests/<unit>/`` (a top-level
module ``<unit>.py`` gets a folder ``tests/<unit>/`` too; a leading underscore is
dropped: ``_widgets`` -> ``tests/widgets``). Besides those, only the cross-cutting
folders below hold tests. A new ``tests/test_*.py`` at the top fails here.
"""

from __future__ import annotations

from pathlib import Path

import napari_sparsedecon

PKG_DIR = Path(napari_sparsedecon.__file__).parent
TESTS = Path(__file__).resolve().parents[1]
# Folders that mirror no single unit of the package, and why.
CROSS_CUTTING = {
    "architecture": "checks over the whole package: layers, registries, packaging, this file",
    "training": "the repository's training/ scripts (not part of the package)",
    "data": "golden arrays and their record, no tests",
}


def _units(folder: Path) -> set[str]:
    """Subpackages and modules of a package folder, leading underscore dropped."""
    names = {p.name for p in folder.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    names |= {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
    return {n.lstrip("_") for n in names}


def _misplaced(tests: Path, pkg: Path) -> list[str]:
    bad = []
    for f in sorted(tests.rglob("test_*.py")):
        parts = f.relative_to(tests).parts[:-1]
        if not parts:
            bad.append(f"{f.name}: at the top of tests/, move it to tests/<unit>/")
            continue
        if parts[0] in CROSS_CUTTING:
            continue
        here = pkg
        for i, part in enumerate(parts):
            if part not in _units(here):
                bad.append(f"{'/'.join(parts)}/{f.name}: {part!r} is no unit of "
                           f"{'/'.join(('napari_sparsedecon',) + parts[:i])}")
                break
            here = next((here / n for n in (part, "_" + part) if (here / n).is_dir()), None)
            if here is None:  # a module: no deeper folders
                if i + 1 < len(parts):
                    bad.append(f"{'/'.join(parts)}/{f.name}: {part!r} is a module, "
                               "not a package")
                break
    return bad


def test_every_test_file_lives_in_the_folder_of_its_unit():
    bad = _misplaced(TESTS, PKG_DIR)
    assert not bad, "tests/ must mirror src/napari_sparsedecon/:\n" + "\n".join(bad)


def test_test_file_names_are_unique():
    """The test folders have no __init__.py: pytest imports each file by its bare name,
    so two files of one name in two folders break collection."""
    seen: dict[str, list[str]] = {}
    for f in TESTS.rglob("test_*.py"):
        seen.setdefault(f.name, []).append(str(f.relative_to(TESTS)))
    dup = {k: v for k, v in seen.items() if len(v) > 1}
    assert not dup, dup


def test_the_check_sees_a_misplaced_file(tmp_path):
    """The check itself: a top-level file, an unknown folder and a folder under a
    module are named; a mirrored path and a cross-cutting folder pass."""
    pkg = tmp_path / "pkg"
    (pkg / "_widgets").mkdir(parents=True)
    (pkg / "_widgets" / "__init__.py").write_text("")
    (pkg / "api.py").write_text("")
    tests = tmp_path / "tests"
    for rel in ("test_top.py", "nowhere/test_a.py", "api/deeper/test_b.py",
                "widgets/test_ok.py", "api/test_ok2.py", "architecture/test_ok3.py"):
        (tests / rel).parent.mkdir(parents=True, exist_ok=True)
        (tests / rel).write_text("")
    bad = _misplaced(tests, pkg)
    assert [b.split(":")[0] for b in bad] == ["api/deeper/test_b.py", "nowhere/test_a.py",
                                              "test_top.py"], bad
