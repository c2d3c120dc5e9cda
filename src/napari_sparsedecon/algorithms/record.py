"""One metadata record for every result: what made it, in one shape everywhere.

``{"method", "params", "psf", "estimates", "backend", "device", "version", ...}``:
the method's name and validated parameters, a description of the PSF (model and FWHM,
or the file and its checksum, with its shape and whether it is 2-D or 3-D), what the
method estimated from the data (camera model, background, levels), the backend and
device that ran, and the package version. Files, layers and the command line all store
this record (under the ``napari_sparsedecon`` key of their metadata).
"""

from __future__ import annotations

import numpy as np

from ..params import jsonable


def psf_record(psf=None, *, model=None, image_ndim=None, **fields) -> dict:
    """A PSF's description: ``model`` ('gaussian', 'file', 'airy', 'array', ...), the given
    ``fields`` (fwhm_px, file, sha256, ...), its shape and ``dims`` (2: each plane
    deblurred on its own, no axial deblurring; 3: a volume PSF)."""
    rec = {"model": model or ("array" if psf is not None else None), **fields}
    if psf is not None:
        shape = [int(n) for n in np.shape(psf)]
        rec.update(shape=shape, dims=len(shape))
        if image_ndim is not None and image_ndim >= 3 and len(shape) == 2:
            rec["note"] = ("a 2-D PSF on a stack: each plane is deblurred laterally only "
                           "(no axial deblurring); give a 3-D PSF or an axial FWHM for that")
    return rec


def make_record(method, params: dict, *, psf=None, estimates=None, backend=None,
                device=None, **extra) -> dict:
    """The metadata record of one result (plain JSON)."""
    from .. import __version__

    name = method if isinstance(method, str) else method.name
    return jsonable({"method": name, "params": dict(params), "psf": psf,
                     "estimates": estimates, "backend": backend, "device": device,
                     "version": __version__, **extra})
