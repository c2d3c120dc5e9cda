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

#: A PSF that only an array can describe (a layer, an array argument) is stored whole in
#: the record up to this many elements (a 64^2 or 40^3 PSF); a larger one by checksum.
MAX_RECORD_ELEMENTS = 65536
#: The models a description cannot regenerate: their array goes into the record.
_ARRAY_MODELS = ("array", "layer")


def psf_sha256(psf) -> str:
    """Checksum of a PSF's values (float32, C order): what made a result, verifiably."""
    import hashlib

    a = np.ascontiguousarray(np.asarray(psf, dtype=np.float32))
    return hashlib.sha256(a.tobytes()).hexdigest()


def psf_record(psf=None, *, model=None, image_ndim=None, **fields) -> dict:
    """A PSF's description: ``model`` ('gaussian', 'file', 'airy', 'array', 'layer', ...),
    the given ``fields`` (fwhm_px, file, sha256 of the file, ...), its shape, ``dims`` (2:
    each plane deblurred on its own, no axial deblurring; 3: a volume PSF) and the
    checksum of its values (``values_sha256``). A PSF only an array describes (a layer, an
    array argument) is stored whole (``array``, up to :data:`MAX_RECORD_ELEMENTS`)."""
    rec = {"model": model or ("array" if psf is not None else None), **fields}
    if psf is not None:
        a = np.asarray(psf, dtype=np.float32)
        shape = [int(n) for n in a.shape]
        rec.update(shape=shape, dims=len(shape), values_sha256=psf_sha256(a))
        if rec["model"] in _ARRAY_MODELS:
            if a.size <= MAX_RECORD_ELEMENTS:
                rec["array"] = [float(f"{v:.9g}") for v in a.ravel()]  # float32 exact
            else:
                rec["array_omitted"] = (f"{a.size} values (over {MAX_RECORD_ELEMENTS}): "
                                        f"save the PSF to a file to keep it with the result")
        if image_ndim is not None and image_ndim >= 3 and len(shape) == 2:
            rec["note"] = ("a 2-D PSF on a stack: each plane is deblurred laterally only "
                           "(no axial deblurring); give a 3-D PSF or an axial FWHM for that")
    return rec


def psf_from_record(rec: dict) -> np.ndarray | None:
    """The PSF array a record stores (``array`` with ``shape``), or None."""
    if not isinstance(rec, dict) or "array" not in rec or "shape" not in rec:
        return None
    return np.asarray(rec["array"], dtype=np.float32).reshape(rec["shape"])


def make_record(method, params: dict, *, psf=None, estimates=None, backend=None,
                device=None, **extra) -> dict:
    """The metadata record of one result (plain JSON)."""
    from .. import __version__

    name = method if isinstance(method, str) else method.name
    return jsonable({"method": name, "params": dict(params), "psf": psf,
                     "estimates": estimates, "backend": backend, "device": device,
                     "version": __version__, **extra})
