"""The only package that imports Qt, magicgui or napari."""
