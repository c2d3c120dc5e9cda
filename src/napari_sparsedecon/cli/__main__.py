"""``python -m napari_sparsedecon.cli``: the console script."""

from . import entry

entry()
