"""Where the dock's PSF comes from, and the PSF that results for one image.

Four sources: a Gaussian from its FWHM in nm (at the image's pixel size) or in pixels,
a PSF image layer, or an Airy pattern from the effective NA and the emission wavelength
(made at the image's pixel size). On a z-stack a FWHM (or Airy) source takes an axial
FWHM too: with it the PSF is 3-D (a Gaussian along z), without it 2-D (each plane
deblurred laterally only), and the description ("PSF used") says which.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..algorithms.record import psf_record

FWHM_NM, FWHM_PX, LAYER, AIRY = "FWHM (nm)", "FWHM (pixels)", "PSF layer", "Airy (effective NA)"
PSF_SOURCES = (FWHM_NM, FWHM_PX, LAYER, AIRY)


@dataclass(frozen=True)
class ImageInfo:
    """What the dock needs to know of an image: shape, axis letters ('YX', 'ZYX', 'TYX',
    'TZYX'), per-axis pixel sizes in nm (None where uncalibrated) and its name."""

    shape: tuple
    axes: str = ""
    sizes_nm: tuple = ()
    name: str = "image"
    scale: tuple = ()  # the layer's scale as given (compared with a PSF layer's)

    def __post_init__(self):
        n = len(self.shape)
        if not self.axes:
            object.__setattr__(self, "axes", {2: "YX", 3: "ZYX", 4: "TZYX"}.get(n, "YX"))
        if not self.sizes_nm:
            object.__setattr__(self, "sizes_nm", (None,) * n)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def pixel_nm(self) -> float | None:
        return self.sizes_nm[-1] if self.sizes_nm else None

    @property
    def z_step_nm(self) -> float | None:
        return self.sizes_nm[self.axes.index("Z")] if "Z" in self.axes else None

    @property
    def is_z_stack(self) -> bool:
        return "Z" in self.axes


@dataclass
class PSFChoice:
    """The PSF controls: ``source`` (one of :data:`PSF_SOURCES`), the lateral ``fwhm``
    (nm or pixels, by source), the ``axial_fwhm`` (same unit; nm for Airy; 0: a 2-D PSF
    on a z-stack), the PSF layer's ``array`` with its ``name`` and Y/X pixel size in nm
    (``layer_pixel_nm``, None when uncalibrated), and the Airy optics."""

    source: str = FWHM_NM
    fwhm: float = 110.0
    axial_fwhm: float = 0.0
    array: object = None
    name: str = ""
    layer_pixel_nm: float | None = None
    layer_scale: tuple | None = None  # the PSF layer's Y/X scale as given
    layer_file: str | None = None  # the file the PSF layer was opened from, if any
    effective_na: float = 1.4
    wavelength_nm: float = 520.0
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ViewChoice:
    """One more view of the image's object (multi-view): its layer's ``name``, ``shape``
    and ``data`` (read in the job's worker), and its PSF (an array at the image's pixel
    size) with the PSF layer's name."""

    name: str
    shape: tuple
    data: object
    psf: object
    psf_name: str = ""


@dataclass(frozen=True)
class ResolvedPSF:
    """The PSF for one image: ``array`` (None when a method takes the FWHM itself),
    ``fwhm_px`` (lateral, or (axial, lateral) for a 3-D Gaussian; None for an array
    source), ``dims`` (2 or 3), the ``text`` shown as "PSF used" and the metadata
    ``record`` (:func:`~napari_sparsedecon.algorithms.record.psf_record`)."""

    array: np.ndarray | None
    fwhm_px: object
    dims: int
    text: str
    record: dict

    def as_array(self) -> np.ndarray:
        """The PSF as an array (a Gaussian made from the FWHM when it is one)."""
        if self.array is not None:
            return self.array
        from ..psf.basic import gaussian_psf

        f = self.fwhm_px
        fw = (f[0], f[1], f[1]) if np.ndim(f) and len(f) == 2 else f
        return gaussian_psf(None, fw)

    def lateral_fwhm_px(self) -> float:
        """The in-focus lateral FWHM in pixels (a 3-D PSF: of the plane of its maximum)."""
        from ..psf.basic import measure_fwhm

        if self.array is None:
            f = self.fwhm_px
            return float(f[-1] if np.ndim(f) else f)
        return float(max(measure_fwhm(np.asarray(self.array))[-2:]))


def _need_pixel(image: ImageInfo, what: str) -> float:
    px = image.pixel_nm
    if px is None:
        raise ValueError(f"{what} is made at the layer's pixel size, and '{image.name}' has "
                         f"none: set its scale and units (e.g. 0.032 um), or choose 'PSF "
                         f"from: {FWHM_PX}'")
    return px


def _axial_px(choice: PSFChoice, image: ImageInfo, unit: str) -> float | None:
    """The axial FWHM in planes (None: a 2-D PSF), from nm with the z step or planes."""
    if not image.is_z_stack or not choice.axial_fwhm:
        return None
    if unit == "px":
        return float(choice.axial_fwhm)
    dz = image.z_step_nm
    if dz is None:
        raise ValueError(f"the axial FWHM in nm needs the z step: '{image.name}' has no "
                         f"physical z scale; set it, or give the FWHM in pixels (planes)")
    return float(choice.axial_fwhm) / dz


def _dims_text(dims: int, image: ImageInfo) -> str:
    if not image.is_z_stack:
        return ""
    if dims == 3:
        return "; 3-D PSF: axial deblurring on"
    return ("; 2-D PSF on a z-stack: each plane deblurred laterally only (no axial "
            "deblurring); set the axial FWHM for a 3-D PSF")


def resolve_psf(choice: PSFChoice, image: ImageInfo, *, fwhm_in_params=False) -> ResolvedPSF:
    """The PSF of ``choice`` for ``image``. ``fwhm_in_params``: the method takes a
    Gaussian's FWHM itself (the paper pipeline), so no array is made for it."""
    src = choice.source
    if src == LAYER:
        if choice.array is None:
            raise ValueError("choose a PSF layer, or switch 'PSF from' to a FWHM")
        a = np.asarray(choice.array, dtype=np.float32)
        if a.ndim not in (2, 3):
            raise ValueError(f"a PSF layer must be 2-D or 3-D, '{choice.name}' is {a.ndim}-D")
        px, lp = image.pixel_nm, choice.layer_pixel_nm
        ps, ls = choice.layer_scale, tuple(image.scale[-2:])
        if px is not None and lp is not None:
            bad, what = not np.isclose(px, lp, rtol=1e-3), f"({lp:g} nm vs {px:g} nm)"
        else:  # uncalibrated: the scales as given
            bad = bool(ps) and len(ls) == 2 and not np.allclose(ps[-2:], ls, rtol=1e-3)
            what = f"{tuple(ps or ())} vs {ls}"
        if bad:
            raise ValueError(f"the PSF layer's pixel size differs from the image's {what}; "
                             f"generate or measure the PSF at the image's pixel size")
        text = f"layer '{choice.name}' {a.shape}, {a.ndim}-D" + _dims_text(a.ndim, image)
        src_file = {"file": choice.layer_file} if choice.layer_file else {}
        rec = psf_record(a, model="layer", name=choice.name, image_ndim=image.ndim,
                         **src_file)
        return ResolvedPSF(a, None, a.ndim, text, rec)
    if src == AIRY:
        from ..psf.airy import airy_psf

        px = _need_pixel(image, "the Airy PSF")
        na, wl = choice.effective_na, choice.wavelength_nm
        a = np.asarray(airy_psf(effective_na=na, wavelength_nm=wl, pixel_nm=px).data,
                       dtype=np.float32)
        az = _axial_px(choice, image, "nm")
        desc = f"Airy, effective NA {na:g}, {wl:g} nm, at {px:.4g} nm/pixel"
        if az is not None:
            from ..psf.basic import FWHM_PER_SIGMA

            sig = az / FWHM_PER_SIGMA
            z = np.arange(-int(np.ceil(4 * sig)), int(np.ceil(4 * sig)) + 1)
            prof = np.exp(-0.5 * (z / sig) ** 2)
            a = (prof[:, None, None] * a[None]).astype(np.float32)
            a /= a.sum()
            desc += f" x Gaussian axial FWHM {choice.axial_fwhm:g} nm = {az:.2f} planes"
        rec = psf_record(a, model="airy", effective_na=na, wavelength_nm=wl, pixel_nm=px,
                         image_ndim=image.ndim)
        return ResolvedPSF(a, None, a.ndim, desc + _dims_text(a.ndim, image), rec)
    if src not in (FWHM_NM, FWHM_PX):
        raise ValueError(f"PSF source must be one of {list(PSF_SOURCES)}, got {src!r}")
    if src == FWHM_NM:
        lat = float(choice.fwhm) / _need_pixel(image, "a FWHM in nm")
        az = _axial_px(choice, image, "nm")
        desc = f"Gaussian {choice.fwhm:g} nm = {lat:.2f} px"
        if az is not None:
            desc += f", axial {choice.axial_fwhm:g} nm = {az:.2f} planes"
    else:
        lat = float(choice.fwhm)
        az = _axial_px(choice, image, "px")
        desc = f"Gaussian {lat:g} px" + (f", axial {az:g} planes" if az is not None else "")
    fw = lat if az is None else (az, lat)
    dims = 2 if az is None else 3
    arr = None
    if not fwhm_in_params:
        from ..psf.basic import gaussian_psf

        arr = gaussian_psf(None, lat if az is None else (az, lat, lat))
    rec = psf_record(arr, model="gaussian", fwhm_px=fw, image_ndim=image.ndim)
    if arr is None:
        rec.update(dims=dims)
        if image.ndim >= 3 and dims == 2 and image.is_z_stack:
            rec["note"] = "a 2-D PSF on a z-stack: no axial deblurring"
    return ResolvedPSF(arr, fw, dims, desc + _dims_text(dims, image), rec)
