"""Measure a PSF from an image of sub-resolution beads.

Steps: detect local maxima above a robust noise threshold; reject beads that
are saturated, too close to an edge or to a neighbour, or outliers in
brightness or width; register each bead with sub-pixel precision (Gaussian
fit), shift it onto a common centre, average, subtract the background,
optionally correct for the bead size, normalise to sum 1; report FWHM per
axis per bead and averaged, with warnings a microscopist should see.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage, optimize

from ..base.validation import FLOAT, positive
from ..psf.basic import FWHM_PER_SIGMA, center_psf

AXIS_NAMES = {2: ("y", "x"), 3: ("z", "y", "x")}


@dataclass
class Bead:
    position: tuple  # sub-pixel centre, in pixels (array order)
    peak: float
    status: str = "accepted"  # or the reason for rejection
    fwhm_px: tuple = ()


@dataclass
class BeadReport:
    psf: np.ndarray
    beads: list
    fwhm_px: tuple  # of the averaged PSF
    fwhm_mean_px: tuple  # mean over accepted beads
    fwhm_std_px: tuple
    n_used: int
    rejected: dict
    warnings: list = field(default_factory=list)
    scale_nm: tuple | None = None

    def fwhm_nm(self):
        if self.scale_nm is None:
            return None
        return tuple(f * s for f, s in zip(self.fwhm_px, self.scale_nm, strict=True))

    def table(self) -> list[dict]:
        """One row per bead (for CSV), positions in pixels, FWHM in pixels and nm."""
        names = AXIS_NAMES[self.psf.ndim]
        rows = []
        for i, b in enumerate(self.beads):
            row = {"bead": i, "status": b.status, "peak": round(float(b.peak), 3)}
            for ax, n in enumerate(names):
                row[f"{n}_px"] = round(float(b.position[ax]), 3)
            for ax, n in enumerate(names):
                f = b.fwhm_px[ax] if b.fwhm_px else float("nan")
                row[f"fwhm_{n}_px"] = round(float(f), 3)
                if self.scale_nm is not None:
                    row[f"fwhm_{n}_nm"] = round(float(f * self.scale_nm[ax]), 1)
            rows.append(row)
        return rows

    def save_csv(self, path):
        """Per-bead table as CSV (written atomically)."""
        import csv

        from ..io.tiff import atomic_write

        rows = self.table()

        def write(tmp):
            with open(tmp, "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)

        return atomic_write(path, write)

    def save_json(self, path):
        """Summary and per-bead table as JSON (written atomically)."""
        import json

        from ..io.tiff import atomic_write

        doc = {"summary": self.summary(), "beads": self.table(),
               "scale_nm": self.scale_nm}

        def write(tmp):
            with open(tmp, "w") as fh:
                json.dump(doc, fh, indent=2)

        return atomic_write(path, write)

    def summary(self) -> dict:
        names = AXIS_NAMES[self.psf.ndim]
        out = {"beads_used": self.n_used, "rejected": self.rejected,
               "warnings": self.warnings}
        for ax, n in enumerate(names):
            out[f"fwhm_{n}_px"] = round(float(self.fwhm_px[ax]), 3)
            out[f"fwhm_{n}_px_mean"] = round(float(self.fwhm_mean_px[ax]), 3)
            out[f"fwhm_{n}_px_std"] = round(float(self.fwhm_std_px[ax]), 3)
            if self.scale_nm is not None:
                out[f"fwhm_{n}_nm"] = round(float(self.fwhm_px[ax] * self.scale_nm[ax]), 1)
        return out


def _gauss1d(x, a, mu, sigma, c):
    return a * np.exp(-0.5 * ((x - mu) / sigma) ** 2) + c


def fit_gaussian_profiles(crop):
    """Centre and FWHM per axis (pixels) from 1-D Gaussian fits to the profiles
    through the brightest pixel (background as a free constant)."""
    crop = np.asarray(crop, dtype=np.float64)
    peak = np.unravel_index(np.argmax(crop), crop.shape)
    centre, fwhm = [], []
    for ax in range(crop.ndim):
        idx = list(peak)
        idx[ax] = slice(None)
        prof = crop[tuple(idx)]
        x = np.arange(prof.size, dtype=np.float64)
        c0 = float(np.min(prof))
        a0 = float(prof.max() - c0)
        p0 = (a0, float(peak[ax]), max(prof.size / 8, 0.8), c0)
        try:
            popt, _ = optimize.curve_fit(_gauss1d, x, prof, p0=p0, maxfev=4000)
            mu, sigma = float(popt[1]), abs(float(popt[2]))
            if not (0 <= mu < prof.size) or sigma > prof.size:
                raise RuntimeError("fit out of range")
        except (RuntimeError, optimize.OptimizeWarning):
            w = np.clip(prof - c0, 0, None)
            mu = float((w * x).sum() / max(w.sum(), 1e-12))
            sigma = float(np.sqrt((w * (x - mu) ** 2).sum() / max(w.sum(), 1e-12)))
        centre.append(mu)
        fwhm.append(FWHM_PER_SIGMA * sigma)
    return tuple(centre), tuple(fwhm)


def detect_beads(image, *, min_distance_px: int = 5, threshold_sigma: float = 6.0):
    """Positions (integer pixels) of local maxima standing ``threshold_sigma`` robust
    standard deviations above the background."""
    img = np.asarray(image, dtype=np.float64)
    smooth = ndimage.gaussian_filter(img, 1.0)
    bg = np.median(smooth)
    mad = np.median(np.abs(img - np.median(img))) * 1.4826 or img.std() or 1.0
    size = 2 * int(min_distance_px) + 1
    peaks = (smooth == ndimage.maximum_filter(smooth, size=size, mode="nearest")) & \
        (smooth > bg + threshold_sigma * mad)
    pos = np.argwhere(peaks)
    order = np.argsort(-smooth[tuple(pos.T)])
    return [tuple(int(v) for v in pos[i]) for i in order]


def measure_psf(image, *, box_px=None, positions=None, saturation=None,
                scale_nm=None, theoretical_fwhm_nm=None, bead_diameter_nm: float = 0.0,
                min_distance_px=None, threshold_sigma: float = 6.0,
                outlier_z: float = 3.5) -> BeadReport:
    """Measure a PSF from a 2-D or 3-D bead image.

    Parameters
    ----------
    image : array_like, (Y, X) or (Z, Y, X)
    box_px : int or tuple, optional
        Odd box size per axis around each bead (default: from the first beads' width).
    positions : list of tuples, optional
        Bead positions (pixels) to use instead of automatic detection (e.g. from
        a napari Points layer).
    saturation : float, optional
        Intensity at which the camera saturates (default: the dtype maximum for
        integer images; beads touching it are rejected).
    scale_nm : tuple, optional
        Voxel size in nm, for FWHM in nm and the comparison with theory.
    theoretical_fwhm_nm : tuple, optional
        Expected FWHM per axis (nm); a measured PSF much broader is warned about.
    bead_diameter_nm : float
        Bead diameter; > 0 corrects the reported FWHM for the bead size
        (FWHM_psf^2 = FWHM_measured^2 - (0.8 d)^2, a Gaussian approximation of a
        uniform sphere) and the PSF by a few RL iterations against the bead.
    """
    raw = np.asarray(image)
    if raw.ndim not in (2, 3):
        raise ValueError(f"bead image must be 2-D or 3-D, got shape {raw.shape}")
    if saturation is None and np.issubdtype(raw.dtype, np.integer):
        saturation = float(np.iinfo(raw.dtype).max)
    img = raw.astype(np.float64)
    if not np.isfinite(img).all():
        raise ValueError("bead image holds NaN/Inf values")
    nd = img.ndim
    if min(img.shape) < MIN_AXIS:
        raise ValueError(f"bead image shape {img.shape}: every axis needs at least "
                         f"{MIN_AXIS} pixels to fit a profile (a 3-D stack at least "
                         f"{MIN_AXIS} planes; with fewer, measure one plane: image[k])")
    if scale_nm is not None and len(scale_nm) != nd:
        raise ValueError(f"scale_nm needs {nd} values, got {len(scale_nm)}")
    bead_diameter_nm = positive(bead_diameter_nm, "bead_diameter_nm", allow_zero=True)
    if positions is None:
        md = min_distance_px if min_distance_px is not None else 4
        positions = detect_beads(img, min_distance_px=md, threshold_sigma=threshold_sigma)
    positions = [_position(p, img.shape) for p in positions]
    if not positions:
        raise ValueError("no beads found: lower threshold_sigma, check that the image "
                         "holds bright isolated beads, or add positions by hand")
    if box_px is None:
        _, f0 = fit_gaussian_profiles(_crop(img, positions[0], (15,) * nd))
        box_px = tuple(_odd_at_least(4 * f + 3, 9) for f in f0)
    elif np.ndim(box_px) == 0:
        box_px = (int(box_px),) * nd
    box_px = tuple(int(b) + 1 - int(b) % 2 for b in box_px)
    half = np.array(box_px) // 2
    beads = []
    pos_arr = np.array(positions, dtype=float)
    for i, p in enumerate(positions):
        b = Bead(position=tuple(float(v) for v in p), peak=float(img[p]))
        others = np.delete(pos_arr, i, axis=0)
        if any(p[ax] < half[ax] or p[ax] >= img.shape[ax] - half[ax] for ax in range(nd)):
            b.status = "too close to the edge"
        elif len(others) and np.any(np.all(np.abs(others - np.array(p)) <= half * 1.5,
                                           axis=1)):
            b.status = "too close to a neighbour"
        elif saturation is not None and _crop(raw, p, box_px).max() >= saturation:
            b.status = "saturated"
        beads.append(b)
    crops = {}
    for i, b in enumerate(beads):
        if b.status != "accepted":
            continue
        c = _crop(img, tuple(int(v) for v in b.position), box_px)
        centre, fwhm = fit_gaussian_profiles(c)
        b.position = tuple(float(p) - h + cc for p, h, cc in zip(b.position, half, centre,
                                                                  strict=True))
        b.fwhm_px = fwhm
        crops[i] = (c, centre)
        if bead_diameter_nm > 0 and scale_nm is not None:
            b.fwhm_px = tuple(math.sqrt(max(f * f - (0.8 * bead_diameter_nm / s) ** 2, 0.25))
                              for f, s in zip(fwhm, scale_nm, strict=True))
    # outliers in brightness (doublets, aggregates) and width
    acc = [i for i, b in enumerate(beads) if b.status == "accepted"]
    if len(acc) >= 4:
        bright = np.array([(crops[i][0] - np.median(_border(crops[i][0]))).sum()
                           for i in acc])
        width = np.array([np.mean(beads[i].fwhm_px) for i in acc])
        for arr, reason in ((bright, "brightness outlier"), (width, "shape outlier")):
            med = np.median(arr)
            mad = np.median(np.abs(arr - med)) * 1.4826 or (0.05 * abs(med) + 1e-12)
            for j, i in enumerate(acc):
                if beads[i].status == "accepted" and abs(arr[j] - med) / mad > outlier_z:
                    beads[i].status = reason
    acc = [i for i, b in enumerate(beads) if b.status == "accepted"]
    rejected = {}
    for b in beads:
        if b.status != "accepted":
            rejected[b.status] = rejected.get(b.status, 0) + 1
    if not acc:
        raise ValueError(f"no usable bead among {len(beads)} found (rejected: {rejected}); "
                         f"image isolated, unsaturated beads away from the edges")
    stack = []
    for i in acc:
        c, centre = crops[i]
        shift = [h - cc for h, cc in zip(half, centre, strict=True)]
        s = ndimage.shift(c, shift, order=3, mode="nearest")
        s = s - np.median(_border(s))
        total = s.sum()
        if total > 0:
            stack.append(s / total)
    psf = np.mean(stack, axis=0)
    psf -= np.median(_border(psf))
    np.clip(psf, 0, None, out=psf)
    if bead_diameter_nm > 0 and scale_nm is not None:
        psf = _remove_bead(psf, bead_diameter_nm, scale_nm)
    psf = center_psf(psf / psf.sum(), shape=psf.shape)
    _, fwhm_avg = fit_gaussian_profiles(psf)  # the bead size is already removed from psf
    per = np.array([beads[i].fwhm_px for i in acc])
    warnings = []
    if len(acc) < 3:
        warnings.append(f"only {len(acc)} bead(s) used: the PSF is noisy; image at least 3 "
                        f"(10 or more is better)")
    com = ndimage.center_of_mass(psf)
    off = [abs(c - h) for c, h in zip(com, half, strict=True)]
    if max(off) > 0.5:
        warnings.append(f"the PSF is off-centre by {max(off):.2f} px after registration")
    lat = fwhm_avg[-2:]
    if abs(lat[0] - lat[1]) > 0.2 * np.mean(lat):
        warnings.append(f"the PSF is asymmetric in y/x (FWHM {lat[0]:.2f} vs {lat[1]:.2f} px): "
                        f"check for astigmatism, drift or tilt")
    if theoretical_fwhm_nm is not None and scale_nm is not None:
        th = tuple(theoretical_fwhm_nm)[-nd:]
        for ax, (f, s, t) in enumerate(zip(fwhm_avg, scale_nm, th, strict=True)):
            if f * s > 1.5 * t:
                warnings.append(
                    f"the measured FWHM along {AXIS_NAMES[nd][ax]} ({f * s:.0f} nm) is over "
                    f"1.5x the theoretical {t:.0f} nm: a too-broad PSF makes 'donut' "
                    f"artefacts in small objects; check focus, beads and optics")
    return BeadReport(psf=psf.astype(FLOAT), beads=beads, fwhm_px=tuple(fwhm_avg),
                      fwhm_mean_px=tuple(per.mean(axis=0)), fwhm_std_px=tuple(per.std(axis=0)),
                      n_used=len(acc), rejected=rejected, warnings=warnings,
                      scale_nm=tuple(scale_nm) if scale_nm is not None else None)


#: Fewest pixels per axis of a bead image (a Gaussian profile fit has 4 parameters).
MIN_AXIS = 5


def _position(p, shape):
    """A bead position as integer pixels inside ``shape``, or ValueError."""
    try:
        vals = [float(v) for v in p]
    except (TypeError, ValueError):
        raise ValueError(f"bead position {p!r} is not a sequence of numbers") from None
    if len(vals) != len(shape):
        raise ValueError(f"bead position {tuple(p)} needs {len(shape)} coordinates for an "
                         f"image of shape {shape}")
    if not all(math.isfinite(v) and -0.5 <= v < n - 0.5 for v, n in zip(vals, shape,
                                                                        strict=True)):
        raise ValueError(f"bead position {tuple(p)} is outside the image of shape {shape}")
    return tuple(int(round(v)) for v in vals)


def _odd_at_least(v, m):
    n = max(int(math.ceil(v)), m)
    return n + 1 - n % 2


def _crop(img, p, box):
    sl = tuple(slice(max(c - b // 2, 0), c + b // 2 + 1) for c, b in zip(p, box, strict=True))
    return np.asarray(img[sl], dtype=np.float64)


def _border(a):
    mask = np.ones(a.shape, bool)
    mask[tuple(slice(1, -1) for _ in a.shape)] = False
    return a[mask]


def _remove_bead(psf, diameter_nm, scale_nm, iterations=10):
    """A few RL iterations against the bead (a uniform sphere/disc) to undo its size: the
    project's Richardson-Lucy (mirror-padded edges) with the bead as the kernel."""
    from ..core.richardson_lucy import richardson_lucy

    radius = [diameter_nm / 2 / s for s in scale_nm]
    grids = np.meshgrid(*[np.arange(-math.ceil(r), math.ceil(r) + 1) for r in radius],
                        indexing="ij")
    sphere = (sum((g / max(r, 0.5)) ** 2 for g, r in zip(grids, radius, strict=True)) <= 1)
    sphere = sphere.astype(float)
    if sphere.sum() <= 1 or any(k > n for k, n in zip(sphere.shape, psf.shape, strict=True)):
        return psf
    sphere /= sphere.sum()
    x = richardson_lucy(psf, sphere, iterations=iterations, backend="numpy")
    return np.asarray(x, dtype=np.float64)
