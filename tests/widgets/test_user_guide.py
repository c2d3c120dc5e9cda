"""docs/user_guide.md names the docks' real controls (in bold), and every control of
the deconvolution dock (for its default method) and the PSF dock is described there."""

import re
from pathlib import Path

import pytest

pytest.importorskip("napari")

from magicgui.widgets import Container  # noqa: E402

from napari_sparsedecon._widgets.deconv import SparseDeconWidget  # noqa: E402
from napari_sparsedecon._widgets.psf import PSFWidget  # noqa: E402

pytestmark = pytest.mark.gui
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "user_guide.md"


def _section(title):
    text = GUIDE.read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 3)
    return text[start:end if end > 0 else None]


def _bold(text):
    return {re.sub(r"\s+", " ", b).strip().lower()
            for b in re.findall(r"\*\*(.+?)\*\*", text, flags=re.S)}


def _controls(widget):
    """Labels, button and check box texts, section titles of a dock (magicgui tree),
    in lower case (a section "Trust checks" holds the box "trust checks")."""
    names = set()

    def walk(c):
        for w in c:
            for value in (getattr(w, "label", ""), getattr(w, "text", "")):
                if isinstance(value, str) and value.strip():
                    names.add(value.strip().lstrip("\u25be\u25b8 ").strip().lower())
            if isinstance(w, Container):
                walk(w)

    walk(widget)
    return names


@pytest.mark.parametrize("cls,title", [(SparseDeconWidget, "The deconvolution dock"),
                                       (PSFWidget, "PSF widget")])
def test_guide_names_the_real_controls(make_napari_viewer, cls, title):
    viewer = make_napari_viewer()
    w = cls(viewer)
    text = _section(title)
    named = _bold(text)
    controls = _controls(w)
    if cls is SparseDeconWidget:  # its parameter controls change with the method
        for method in ("sparse", "rl", "rl_tv"):
            w.model.set_method(method) if hasattr(w.model, "set_method") else None
            controls |= _controls(w)
    assert named - controls == set(), "the guide names controls the dock does not have"
    missing = controls - named
    if cls is SparseDeconWidget:  # parameter controls are made from the schemas (their
        # tooltips are the schema's help): the guide describes how, not each one
        from napari_sparsedecon.algorithms.registry import get_method, methods

        schema = {p.name.replace("_", " ") for n in methods() for p in get_method(n).schema}
        labels = {c for c in missing if c.split(" (")[0].replace("_", " ") in schema}
        missing -= labels
    assert missing == set(), "controls the guide does not describe"
    assert "no microscope presets" not in GUIDE.read_text()
