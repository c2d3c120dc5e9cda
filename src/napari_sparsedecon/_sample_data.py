"""Sample data for napari: the synthetic phantom and the real C. elegans image."""

from __future__ import annotations

from .core.phantom import make_phantom
from .datasets import CELEGANS_PSF_FWHM_PX, celegans


def phantom_sample():
    ph = make_phantom((256, 256))
    um = ph.pixel_nm / 1000
    meta = {"pixel_nm": ph.pixel_nm, "psf_fwhm_nm": ph.psf_fwhm_nm,
            "note": "synthetic phantom: point pairs 40-200 nm, filament with a 200 nm gap, "
                    "rings, puncta; Poisson + read noise"}
    kw = {"scale": (um, um), "units": ("um", "um"), "metadata": meta}
    return [
        (ph.noisy, {"name": "phantom (noisy)", **kw}, "image"),
        (ph.truth, {"name": "phantom truth", "visible": False, **kw}, "image"),
    ]


def celegans_sample():
    """The bundled Airyscan image at the pixel size its TIFF tags state (42.6 nm)."""
    from importlib import resources

    import tifffile

    from .datasets import celegans_path
    from .io.axes import from_tiff, napari_kwargs

    with resources.as_file(celegans_path()) as p, tifffile.TiffFile(p) as tf:
        ia = from_tiff(tf)
    meta = {"psf_fwhm_px": CELEGANS_PSF_FWHM_PX, "pixel_nm": ia.size_nm("X"),
            "source": "sdeconv 1.0.4 sample data (BSD 3-Clause)"}
    return [(celegans(), {"name": "C. elegans (Airyscan)", "metadata": meta,
                          **napari_kwargs(ia)}, "image")]
