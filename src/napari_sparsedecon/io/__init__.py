"""File input/output (no napari)."""
