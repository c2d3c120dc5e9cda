"""PSF models from the optics: Gaussian, scalar Born-Wolf, scalar Gibson-Lanni, confocal.

All lengths are in nanometres. Each generator returns a :class:`GeneratedPSF`:
an odd-sized, centred float32 array summing to 1, with its voxel size.

Scalar diffraction integral (Gibson & Lanni 1991, non-paraxial defocus):

    h(r, z) = | int_0^1 J0(k NA r rho) exp(i k OPD(rho, z)) rho d rho |^2

with k = 2 pi / wavelength. Born-Wolf: ``OPD = z sqrt(n^2 - NA^2 rho^2)``.
Gibson-Lanni adds the coverslip and the sample at depth ``depth_nm``:

    OPD = depth sqrt(ns^2 - (NA rho)^2)
        + tg sqrt(ng^2 - (NA rho)^2) - tg0 sqrt(ng0^2 - (NA rho)^2)
        + ti sqrt(ni^2 - (NA rho)^2) - ti0 sqrt(ni0^2 - (NA rho)^2),

where ``ti = ti0 - depth - z``: moving the focus deeper thins the immersion
layer, and z is the focal plane's (stage) position relative to the bead's
depth, so with all indices equal it reduces to Born-Wolf centred on the bead.
The design (``*0``) values are those the objective is corrected for. With
index mismatch the intensity peak moves (focal shift) and the PSF becomes
asymmetric; by default the z grid is centred on the peak.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, special

from ..base.validation import FLOAT, positive
from .basic import gaussian_psf

#: Rules of thumb for an 'effective NA' (resolution gain over widefield).
EFFECTIVE_NA_HINT = (
    "effective NA = NA x resolution gain over widefield: 2-D/TIRF-SIM ~2x, "
    "SD-SIM (spinning-disc SIM) ~1.4x, Airyscan ~1.7x, confocal with a closed pinhole "
    "~1.4x; it sets a Gaussian with FWHM = 0.51 wavelength / effective NA"
)


@dataclass(frozen=True)
class GeneratedPSF:
    """A PSF and its voxel size (nm per pixel on each axis, in array order)."""

    data: np.ndarray
    scale_nm: tuple
    model: str
    params: dict


def _check_wavelength(wl, name="wavelength_nm"):
    wl = positive(wl, name)
    if wl < 200 or wl > 2000:
        hint = f" (did you mean {wl * 1000:g} nm?)" if wl < 2 else ""
        raise ValueError(f"{name} = {wl:g} is outside 200-2000 nm{hint}")
    return wl


def _check_pixel(px, name):
    px = positive(px, name)
    if px < 1 or px > 20000:
        hint = f" (did you mean {px * 1000:g} nm?)" if px < 1 else ""
        raise ValueError(f"{name} = {px:g} nm is outside 1-20000 nm{hint}")
    return px


def _check_na(na, n, what="immersion refractive index"):
    na = positive(na, "na")
    if na >= n:
        raise ValueError(f"NA {na:g} must be below the {what} ({n:g})")
    return na


def _optics(na, wavelength_nm, n_immersion, pixel_nm, z_step_nm):
    """Validated (na, wavelength, n, pixel, z-step) of a model with one immersion index."""
    n = positive(n_immersion, "n_immersion")
    na = _check_na(na, n)
    wl = _check_wavelength(wavelength_nm)
    px = _check_pixel(pixel_nm, "pixel_nm")
    dz = _check_pixel(z_step_nm if z_step_nm is not None else px, "z_step_nm")
    return na, wl, n, px, dz


def _odd(n):
    n = int(n)
    return n + 1 - n % 2


def _auto_shape(lateral_fwhm_nm, axial_fwhm_nm, pixel_nm, z_step_nm, nz):
    nxy = _odd(max(9, math.ceil(4 * lateral_fwhm_nm / pixel_nm)))
    if nz is None:
        return (nxy, nxy)
    if nz == "auto":
        nz = _odd(max(9, math.ceil(4 * axial_fwhm_nm / z_step_nm)))
    return (_odd(nz), nxy, nxy)


def gaussian_psf_nm(*, fwhm_lateral_nm: float, pixel_nm: float,
                    fwhm_axial_nm: float | None = None, z_step_nm: float | None = None,
                    shape=None) -> GeneratedPSF:
    """Gaussian PSF from FWHM in nm (2-D, or 3-D when the axial FWHM and z-step are given)."""
    fl = positive(fwhm_lateral_nm, "fwhm_lateral_nm")
    px = _check_pixel(pixel_nm, "pixel_nm")
    three_d = fwhm_axial_nm is not None
    if three_d:
        fa = positive(fwhm_axial_nm, "fwhm_axial_nm")
        dz = _check_pixel(z_step_nm if z_step_nm is not None else px, "z_step_nm")
        fwhm_px = (fa / dz, fl / px, fl / px)
        scale = (dz, px, px)
    else:
        fwhm_px = (fl / px, fl / px)
        scale = (px, px)
    data = gaussian_psf(shape, fwhm_px)
    return GeneratedPSF(data, scale, "gaussian",
                        {"fwhm_lateral_nm": fl, "fwhm_axial_nm": fwhm_axial_nm})


def effective_na_psf(*, effective_na: float, wavelength_nm: float, pixel_nm: float,
                     shape=None) -> GeneratedPSF:
    """2-D Gaussian PSF for an 'effective NA' (SIM, SD-SIM, Airyscan): see EFFECTIVE_NA_HINT."""
    na = positive(effective_na, "effective_na")
    wl = _check_wavelength(wavelength_nm)
    out = gaussian_psf_nm(fwhm_lateral_nm=0.51 * wl / na, pixel_nm=pixel_nm, shape=shape)
    return GeneratedPSF(out.data, out.scale_nm, "effective_na",
                        {"effective_na": na, "wavelength_nm": wl})


@functools.lru_cache(maxsize=8)
def _gauss_legendre(n):
    """Gauss-Legendre nodes and weights on [-1, 1] (same as numpy's ``leggauss``).

    Nodes from the symmetric tridiagonal Jacobi matrix, weights from the three-term
    recurrence: a few ms for n = 400, where ``leggauss``'s dense eigen-solve takes
    0.1-3 s holding the GIL (it froze the GUI while a worker generated a PSF).
    """
    from scipy.linalg import eigh_tridiagonal

    k = np.arange(1, n)
    x = eigh_tridiagonal(np.zeros(n), k / np.sqrt(4.0 * k * k - 1), eigvals_only=True)
    p0, p1 = np.ones_like(x), x.copy()  # P_0, P_1 at the nodes, then up to P_n
    for m in range(2, n + 1):
        p0, p1 = p1, ((2 * m - 1) * x * p1 - (m - 1) * p0) / m
    dp = n * (x * p1 - p0) / (x * x - 1.0)  # P_n'
    w = 2.0 / ((1.0 - x * x) * dp * dp)
    x.flags.writeable = w.flags.writeable = False  # cached: shared by every call
    return x, w


def _radial_field(r_nm, z_nm, na, wl, opd, n_rho=400):
    """Complex field E(r, z) of the scalar integral for OPD(rho, z) (arrays r, z)."""
    x, w = _gauss_legendre(n_rho)
    rho = 0.5 * (x + 1.0)
    w = 0.5 * w
    k = 2 * np.pi / wl
    bessel = special.j0(k * na * np.outer(r_nm, rho)) * (rho * w)[None, :]  # (Nr, Nrho)
    phase = np.exp(1j * k * opd(rho[:, None], np.asarray(z_nm)[None, :]))  # (Nrho, Nz)
    return bessel @ phase  # (Nr, Nz)


def _render(intensity_rz, r_grid, shape, pixel_nm, supersample=3):
    """Interpolate a radial profile I(r, z) onto an (nz, ny, nx) pixel grid (pixel-averaged)."""
    nz, ny, nx = shape
    sub = (np.arange(supersample) + 0.5) / supersample - 0.5
    yy = (np.arange(ny) - ny // 2)[:, None] + sub[None, :]
    xx = (np.arange(nx) - nx // 2)[:, None] + sub[None, :]
    r = np.hypot(yy.reshape(-1)[:, None], xx.reshape(-1)[None, :]) * pixel_nm
    out = np.empty((nz, ny, nx))
    for iz in range(nz):
        plane = np.interp(r, r_grid, intensity_rz[:, iz])
        out[iz] = plane.reshape(ny, supersample, nx, supersample).mean(axis=(1, 3))
    return out


def _scalar_psf(opd, *, na, wavelength_nm, pixel_nm, z_step_nm, shape, name, params):
    nz, ny, nx = shape
    rmax = math.hypot(ny, nx) / 2 * pixel_nm + 2 * pixel_nm
    r_grid = np.linspace(0, rmax, max(256, int(rmax / pixel_nm * 8)))
    z = (np.arange(nz) - nz // 2) * (z_step_nm if nz > 1 else 0.0)
    field = _radial_field(r_grid, z, na, wavelength_nm, opd)
    inten = np.abs(field) ** 2
    vol = _render(inten, r_grid, shape, pixel_nm)
    vol /= vol.sum()
    data = vol.astype(FLOAT)
    scale = (z_step_nm, pixel_nm, pixel_nm) if nz > 1 else (pixel_nm, pixel_nm)
    return GeneratedPSF(data if nz > 1 else data[0], scale, name, params)


def _shape3(shape, na, wl, n, pixel_nm, z_step_nm, three_d):
    if shape is not None:
        shape = tuple(int(s) for s in shape)
        if any(s % 2 == 0 for s in shape):
            raise ValueError(f"shape {shape} must be odd on every axis")
        return shape if len(shape) == 3 else (1, *shape)
    lat = 0.51 * wl / na
    ax = 0.88 * wl / (n - math.sqrt(n * n - na * na))
    s = _auto_shape(lat, ax, pixel_nm, z_step_nm or pixel_nm, "auto" if three_d else None)
    return s if len(s) == 3 else (1, *s)


def born_wolf_psf(*, na: float, wavelength_nm: float, n_immersion: float = 1.515,
                  pixel_nm: float, z_step_nm: float | None = None, shape=None,
                  three_d: bool = True) -> GeneratedPSF:
    """Scalar Born-Wolf widefield PSF (in focus at the centre plane).

    Parameters
    ----------
    na : float
        Numerical aperture (< n_immersion).
    wavelength_nm : float
        Emission wavelength in nm.
    n_immersion : float
        Refractive index of the immersion medium (= the sample's in this model).
    pixel_nm, z_step_nm : float
        Lateral pixel size and axial step in nm (z_step defaults to pixel_nm).
    shape : tuple of int, optional
        (nz, ny, nx) or (ny, nx), odd; default covers about 4 FWHM.
    three_d : bool
        False returns the in-focus 2-D PSF.
    """
    na, wl, n, px, dz = _optics(na, wavelength_nm, n_immersion, pixel_nm, z_step_nm)
    shp = _shape3(shape, na, wl, n, px, dz, three_d)

    def opd(rho, z):
        return z * np.sqrt(np.maximum(n * n - (na * rho) ** 2, 0.0))

    return _scalar_psf(opd, na=na, wavelength_nm=wl, pixel_nm=px, z_step_nm=dz, shape=shp,
                       name="born_wolf",
                       params={"na": na, "wavelength_nm": wl, "n_immersion": n})


def gibson_lanni_psf(*, na: float, wavelength_nm: float, pixel_nm: float,
                     z_step_nm: float | None = None, n_immersion: float = 1.515,
                     n_immersion_design: float = 1.515, n_coverslip: float = 1.522,
                     n_coverslip_design: float = 1.522, n_sample: float = 1.33,
                     coverslip_um: float = 170.0, coverslip_design_um: float = 170.0,
                     immersion_design_um: float = 150.0, depth_nm: float = 0.0,
                     shape=None, three_d: bool = True,
                     center_on_peak: bool = True) -> GeneratedPSF:
    """Scalar Gibson-Lanni PSF: Born-Wolf plus index mismatch at a depth in the sample.

    ``depth_nm`` is the depth of the focal plane below the coverslip; with
    ``n_sample`` different from the immersion index the PSF becomes
    asymmetric along z and shifts. NA must stay below every index in the path.
    """
    ni, ni0 = positive(n_immersion, "n_immersion"), positive(n_immersion_design,
                                                               "n_immersion_design")
    ng, ng0 = positive(n_coverslip, "n_coverslip"), positive(n_coverslip_design,
                                                             "n_coverslip_design")
    ns = positive(n_sample, "n_sample")
    # Rays beyond the sample's critical angle (NA > n_sample) are evanescent
    # there: the complex square root below makes them decay with depth.
    na = _check_na(na, min(ni, ni0, ng, ng0),
                   "smallest immersion/coverslip refractive index")
    wl = _check_wavelength(wavelength_nm)
    px = _check_pixel(pixel_nm, "pixel_nm")
    dz = _check_pixel(z_step_nm if z_step_nm is not None else px, "z_step_nm")
    zp = positive(depth_nm, "depth_nm", allow_zero=True)
    tg = positive(coverslip_um, "coverslip_um", allow_zero=True) * 1000.0
    tg0 = positive(coverslip_design_um, "coverslip_design_um", allow_zero=True) * 1000.0
    ti0 = positive(immersion_design_um, "immersion_design_um", allow_zero=True) * 1000.0
    shp = _shape3(shape, na, wl, ni, px, dz, three_d)

    def s(n_, rho):
        return np.sqrt(np.maximum(n_ * n_ - (na * rho) ** 2, 0.0))

    def opd0(rho, z):
        sample = zp * np.sqrt((ns * ns - (na * rho) ** 2).astype(complex))
        return (sample + tg * s(ng, rho) - tg0 * s(ng0, rho)
                + (ti0 - zp - z) * s(ni, rho) - ti0 * s(ni0, rho))

    shift = 0.0
    if center_on_peak and shp[0] > 1:
        zs = np.linspace(-3 * zp - 5 * wl, 3 * zp + 5 * wl, 4001)
        on_axis = np.abs(_radial_field(np.zeros(1), zs, na, wl, opd0)[0]) ** 2
        shift = float(zs[int(np.argmax(on_axis))])

    def opd(rho, z):
        return opd0(rho, z + shift)

    return _scalar_psf(opd, na=na, wavelength_nm=wl, pixel_nm=px, z_step_nm=dz, shape=shp,
                       name="gibson_lanni",
                       params={"na": na, "wavelength_nm": wl, "n_immersion": ni,
                               "n_sample": ns, "n_coverslip": ng, "depth_nm": zp,
                               "focal_shift_nm": round(shift, 1)})


def confocal_psf(*, na: float, excitation_nm: float, emission_nm: float, pixel_nm: float,
                 z_step_nm: float | None = None, n_immersion: float = 1.515,
                 pinhole_au: float = 0.0, shape=None, three_d: bool = True) -> GeneratedPSF:
    """Confocal PSF = excitation PSF x (emission PSF convolved with the pinhole).

    ``pinhole_au`` is the pinhole diameter in Airy units (1 AU = 1.22 emission / NA
    in the sample); 0 is an ideal point pinhole.
    """
    pin = positive(pinhole_au, "pinhole_au", allow_zero=True)
    exc = born_wolf_psf(na=na, wavelength_nm=excitation_nm, n_immersion=n_immersion,
                        pixel_nm=pixel_nm, z_step_nm=z_step_nm, shape=shape,
                        three_d=three_d)
    em = born_wolf_psf(na=na, wavelength_nm=emission_nm, n_immersion=n_immersion,
                       pixel_nm=pixel_nm, z_step_nm=z_step_nm, shape=exc.data.shape,
                       three_d=three_d)
    em_d = em.data.astype(np.float64)
    if pin > 0:
        radius_px = pin * 1.22 * emission_nm / na / 2 / exc.scale_nm[-1]
        r = int(math.ceil(radius_px))
        yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
        disk = (np.hypot(yy, xx) <= max(radius_px, 0.5)).astype(float)
        disk /= disk.sum()
        kernel = disk if em_d.ndim == 2 else disk[None]
        em_d = ndimage.convolve(em_d, kernel, mode="constant")
    out = exc.data.astype(np.float64) * em_d
    out /= out.sum()
    return GeneratedPSF(out.astype(FLOAT), exc.scale_nm, "confocal",
                        {"na": na, "excitation_nm": excitation_nm, "emission_nm": emission_nm,
                         "pinhole_au": pin, "n_immersion": n_immersion})


def theoretical_fwhm_nm(na: float, wavelength_nm: float, n: float = 1.515):
    """(lateral, axial) widefield FWHM in nm: 0.51 wl/NA and 0.88 wl/(n - sqrt(n^2 - NA^2))."""
    n = positive(n, "n")
    na = _check_na(na, n)
    wavelength_nm = positive(wavelength_nm, "wavelength_nm")
    return 0.51 * wavelength_nm / na, 0.88 * wavelength_nm / (n - math.sqrt(n * n - na * na))


def vectorial_psf(*, na: float, wavelength_nm: float, pixel_nm: float,
                  z_step_nm: float | None = None, n_immersion: float = 1.515,
                  n_sample: float = 1.33, depth_nm: float = 0.0, shape=None,
                  three_d: bool = True) -> GeneratedPSF:
    """Vectorial PSF (Aguet et al. 2009) through the optional ``psfmodels`` package.

    psfmodels is GPL-3 and therefore never a dependency of this project: install
    it yourself (``pip install psfmodels``) to use this model.
    """
    try:
        import psfmodels
    except ImportError as err:
        raise ImportError("the vectorial model needs the optional package psfmodels "
                          "(GPL-3): pip install psfmodels") from err
    na, wl, n, px, dz = _optics(na, wavelength_nm, n_immersion, pixel_nm, z_step_nm)
    shp = _shape3(shape, na, wl, n, px, dz, three_d)
    nz, ny, nx = shp
    if ny != nx:
        raise ValueError(f"the vectorial model needs a square lateral size, got {ny}x{nx}")
    zv = (np.arange(nz) - nz // 2) * dz / 1000.0
    params = {"NA": na, "ni": n, "ni0": n, "ns": positive(n_sample, "n_sample")}
    vol = psfmodels.vectorial_psf(zv=zv, nx=nx, dxy=px / 1000.0, pz=depth_nm / 1000.0,
                                  wvl=wl / 1000.0, params=params, normalize=False)
    vol = np.clip(np.asarray(vol, dtype=np.float64), 0, None)
    vol /= vol.sum()
    data = vol.astype(FLOAT)
    scale = (dz, px, px) if nz > 1 else (px, px)
    return GeneratedPSF(data if nz > 1 else data[0], scale, "vectorial (psfmodels)",
                        {"na": na, "wavelength_nm": wl, "n_immersion": n,
                         "n_sample": n_sample, "depth_nm": depth_nm})
