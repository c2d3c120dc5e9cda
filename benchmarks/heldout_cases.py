"""Seeded generator of the held-out benchmark's cases (issue 26).

Two splits, fixed here, with different scenes AND different optics:

- ``tuning``: every constant and default of the photon methods' automatic choices
  is set on these cases only;
- ``heldout``: reported; nothing is tuned to them.

A case is a spec (a small dict, cheap) made into arrays by :func:`make_case`.
Scenes are drawn on a 2x finer grid (2-D, 2-D+t), blurred there and binned, so
sub-pixel pair separations are honest; 3-D scenes are drawn on the camera grid.
Light: photons at the peak of the noise-free blurred object, a flat or a
structured background, Poisson counts, Gaussian read noise, a gain, the offset
already subtracted (negative values kept). Methods get the data in ADU and the
PSF (a slightly wrong one in the "wrong PSF" optics); the camera is estimated.

Import from tests: ``sys.path`` must hold ``benchmarks/`` (the tests do this).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.signal import fftconvolve

from napari_sparsedecon.psf.basic import FWHM_PER_SIGMA, gaussian_psf

#: Pair separations in units of the PSF FWHM (a row of pairs in every scene).
PAIR_SEPS_FWHM = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5)

SHAPE_2D = (128, 128)
SHAPE_2DT = (5, 96, 96)
SHAPE_3D = (20, 80, 80)
SUB = 2

# -- optics -----------------------------------------------------------------------------
# name -> dict(kind, ...). 2-D: "gauss" (fwhm px, pixel nm) or "airy" (Born-Wolf in
# focus). 3-D: "gauss3" (fwhm (z, y, x) px), "bw" (Born-Wolf widefield), "confocal",
# "gl" (Gibson-Lanni aberrated data, Born-Wolf given: a wrong PSF).
# ``wrong``: the PSF the method is given has this FWHM factor (2-D Gaussian).
OPTICS = {
    # tuning
    "gauss_nyq": dict(kind="gauss", fwhm=2.3, pixel_nm=100.0),
    "gauss_3.0": dict(kind="gauss", fwhm=3.0, pixel_nm=60.0),
    "gauss_2x": dict(kind="gauss", fwhm=4.6, pixel_nm=50.0),
    "airy_1.4": dict(kind="airy", na=1.4, wl=520.0, pixel_nm=90.0),
    "gauss3_aniso": dict(kind="gauss3", fwhm=(6.0, 2.5, 2.5), pixel_nm=100.0),
    "bw_1.4": dict(kind="bw", na=1.4, wl=520.0, n=1.515, pixel_nm=100.0, dz=250.0),
    # held-out
    "sim_110": dict(kind="gauss", fwhm=110.0 / 32.0, pixel_nm=32.0),
    "gauss_2.6": dict(kind="gauss", fwhm=2.6, pixel_nm=80.0),
    "gauss_4.0_wrong": dict(kind="gauss", fwhm=4.0, pixel_nm=50.0, wrong=1.1),
    "gauss_3.2_wrong": dict(kind="gauss", fwhm=3.2, pixel_nm=65.0, wrong=0.9),
    "airy_1.2": dict(kind="airy", na=1.2, wl=600.0, pixel_nm=100.0),
    "airy_1.0": dict(kind="airy", na=1.0, wl=500.0, pixel_nm=80.0),
    "bw_1.2w": dict(kind="bw", na=1.2, wl=600.0, n=1.33, pixel_nm=110.0, dz=350.0),
    "confocal": dict(kind="confocal", na=1.4, ex=488.0, wl=520.0, n=1.515, pixel_nm=70.0,
                     dz=200.0),
    "gl_aberr": dict(kind="gl", na=1.3, wl=560.0, pixel_nm=100.0, dz=300.0, depth=4000.0),
}

SCENES_2D = {"tuning": ("points", "thin_filaments", "rings", "blobs"),
             "heldout": ("network", "thick_filaments", "nuclei_puncta", "cytosol")}
SCENES_3D = {"tuning": ("tubes", "blobs3"), "heldout": ("network3", "nuclei_puncta3")}
SCENES_2DT = {"tuning": ("points", "rings"), "heldout": ("network", "cytosol")}
OPTICS_2D = {"tuning": ("gauss_nyq", "gauss_3.0", "gauss_2x", "airy_1.4"),
             "heldout": ("gauss_2.6", "gauss_4.0_wrong", "gauss_3.2_wrong", "airy_1.2",
                         "airy_1.0")}
OPTICS_3D = {"tuning": ("gauss3_aniso", "bw_1.4"),
             "heldout": ("bw_1.2w", "confocal", "gl_aberr")}
PHOTONS = (5, 10, 25, 60, 150, 300, 800, 2000)
BG_LEVELS = (1.0, 3.0, 10.0, 30.0)
READ_NOISE = (0.0, 1.0, 1.6, 3.0)
GAINS = (0.5, 1.0, 2.2, 4.0)
N_CASES = {"tuning": (20, 6, 6), "heldout": (24, 6, 8)}  # 2-D, 2-D+t, 3-D
SEEDS = {"tuning": 1001, "heldout": 2002}


def specs(split: str) -> list[dict]:
    """The fixed list of case specs of ``split`` ("tuning" or "heldout")."""
    rng = np.random.default_rng(SEEDS[split])
    n2, nt, n3 = N_CASES[split]
    out = []

    def light():
        return dict(photons=float(rng.choice(PHOTONS)),
                    bg=float(rng.choice(BG_LEVELS)),
                    bg_kind=str(rng.choice(("flat", "structured"))),
                    read_noise=float(rng.choice(READ_NOISE)), gain=float(rng.choice(GAINS)))

    for i in range(n2):
        sc = SCENES_2D[split][i % len(SCENES_2D[split])]
        op = OPTICS_2D[split][(i // len(SCENES_2D[split]) + i) % len(OPTICS_2D[split])]
        out.append(dict(dim="2d", scene=sc, optics=op, **light()))
    if split == "heldout":  # SIM-like scenes at 60 and 300 photons (pair target)
        for k, ph in enumerate((60.0, 300.0, 60.0, 300.0)):
            out.append(dict(dim="2d", scene=("network", "nuclei_puncta")[k // 2],
                            optics="sim_110", photons=ph, bg=12.0, bg_kind="structured",
                            read_noise=1.5, gain=1.0))
    for i in range(nt):
        sc = SCENES_2DT[split][i % 2]
        op = OPTICS_2D[split][(3 * i + 1) % len(OPTICS_2D[split])]
        out.append(dict(dim="2dt", scene=sc, optics=op, **light()))
    for i in range(n3):
        sc = SCENES_3D[split][i % 2]
        op = OPTICS_3D[split][(i // 2 + i) % len(OPTICS_3D[split])]
        lt = light()
        lt["photons"] = float(rng.choice(PHOTONS[1:7]))
        out.append(dict(dim="3d", scene=sc, optics=op, **lt))
    for j, s in enumerate(out):
        s["seed"] = SEEDS[split] * 100 + j
        s["split"] = split
        s["name"] = f"{split[0]}{j:02d}-{s['dim']}-{s['scene']}-{s['optics']}-{s['photons']:g}ph"
    return out


@dataclass
class Case:
    spec: dict
    data: np.ndarray  # ADU, offset subtracted (float32)
    psf: np.ndarray  # what the methods are given
    truth: np.ndarray  # the object on the camera grid (photons)
    truth_half: np.ndarray  # the object through a Gaussian of half the PSF FWHM
    background: np.ndarray  # true background (photons)
    fwhm_px: tuple  # FWHM of the true PSF per axis
    pixel_nm: float
    pairs: list = field(default_factory=list)  # (sep in FWHM, p1, p2) in the pair plane
    pair_index: tuple = ()  # leading index of the pair plane ((), (t,), (z,))
    empty: np.ndarray | None = None  # bool mask of the empty region (eroded)

    @property
    def gain(self) -> float:
        return float(self.spec["gain"])


# -- PSFs -----------------------------------------------------------------------------
def _psf2(op: dict, sub: int):
    """(PSF on the sub-grid, PSF given on the camera grid, true FWHM px)."""
    from napari_sparsedecon.psf.models import born_wolf_psf

    if op["kind"] == "gauss":
        f = op["fwhm"]
        fine = gaussian_psf(None, f * sub).astype(np.float64)
        given = gaussian_psf(None, f * op.get("wrong", 1.0))
        return fine, given, (f, f)
    fine = born_wolf_psf(na=op["na"], wavelength_nm=op["wl"], pixel_nm=op["pixel_nm"] / sub,
                         three_d=False).data.astype(np.float64)
    given = born_wolf_psf(na=op["na"], wavelength_nm=op["wl"], pixel_nm=op["pixel_nm"],
                          three_d=False).data
    return fine, given, halfmax_fwhm(given)


def _psf3(op: dict):
    """(true PSF, given PSF, true FWHM (z, y, x) px) on the camera grid."""
    from napari_sparsedecon.psf import models as M

    shp = (19, 31, 31)
    if op["kind"] == "gauss3":
        p = gaussian_psf((19, 15, 15), op["fwhm"])
        return p, p, tuple(op["fwhm"])
    if op["kind"] == "bw":
        p = M.born_wolf_psf(na=op["na"], wavelength_nm=op["wl"], n_immersion=op["n"],
                            pixel_nm=op["pixel_nm"], z_step_nm=op["dz"], shape=shp).data
        return p, p, halfmax_fwhm(p)
    if op["kind"] == "confocal":
        p = M.confocal_psf(na=op["na"], excitation_nm=op["ex"], emission_nm=op["wl"],
                           pixel_nm=op["pixel_nm"], z_step_nm=op["dz"], n_immersion=op["n"],
                           pinhole_au=1.0, shape=(19, 21, 21)).data
        return p, p, halfmax_fwhm(p)
    true = M.gibson_lanni_psf(na=op["na"], wavelength_nm=op["wl"], pixel_nm=op["pixel_nm"],
                              z_step_nm=op["dz"], depth_nm=op["depth"], shape=shp).data
    given = M.born_wolf_psf(na=op["na"], wavelength_nm=op["wl"], pixel_nm=op["pixel_nm"],
                            z_step_nm=op["dz"], shape=shp).data
    return true, given, halfmax_fwhm(true)


# -- 2-D scenes on the fine grid (coordinates in camera pixels) ----------------------------
def _splat(img, y, x, v, sub):
    ys, xs = (np.asarray(y) + 0.5) * sub - 0.5, (np.asarray(x) + 0.5) * sub - 0.5
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    fy, fx = ys - y0, xs - x0
    v = np.broadcast_to(np.asarray(v, float), ys.shape)
    ny, nx = img.shape
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            yy, xx = y0 + dy, x0 + dx
            ok = (yy >= 0) & (yy < ny) & (xx >= 0) & (xx < nx)
            np.add.at(img, (yy[ok], xx[ok]), (v * wy * wx)[ok])


def _curve(img, pts, dens, sub):
    """A polyline of points (N, 2), line density ``dens`` per camera pixel."""
    seg = np.diff(pts, axis=0)
    ln = np.hypot(*seg.T)
    out_y, out_x, w = [], [], []
    for (p, d, n) in zip(pts[:-1], seg, ln, strict=True):
        m = max(int(n / 0.2), 1)
        t = (np.arange(m) + 0.5) / m
        out_y.append(p[0] + t * d[0])
        out_x.append(p[1] + t * d[1])
        w.append(np.full(m, dens * n / m))
    _splat(img, np.concatenate(out_y), np.concatenate(out_x), np.concatenate(w), sub)


def _random_curve(rng, ny, nx, length, smooth=0.15):
    p = rng.uniform([0, 0], [ny, nx])
    a = rng.uniform(0, 2 * np.pi)
    pts = [p.copy()]
    for _ in range(int(length)):
        a += rng.normal(0, smooth)
        p = p + (np.sin(a), np.cos(a))
        pts.append(p.copy())
    return np.array(pts)


def halfmax_fwhm(psf) -> tuple:
    """FWHM per axis (px) from the half-maximum crossings of the profiles through the
    peak (the second-moment width of ``measure_fwhm`` is dominated by a widefield
    PSF's out-of-focus light)."""
    p = np.asarray(psf, np.float64)
    c = np.unravel_index(int(np.argmax(p)), p.shape)
    out = []
    for ax in range(p.ndim):
        idx = list(c)
        idx[ax] = slice(None)
        prof = p[tuple(idx)] / p[c]
        i0 = c[ax]
        w = 0.0
        for step in (-1, 1):
            i = i0
            while 0 <= i + step < prof.size and prof[i + step] >= 0.5:
                i += step
            if 0 <= i + step < prof.size:
                a, b = prof[i], prof[i + step]
                w += abs(i - i0) + (a - 0.5) / max(a - b, 1e-12)
            else:
                w += abs(i - i0) + 0.5
        out.append(float(w))
    return tuple(out)


def _scene2d(name, rng, ny, nx, fwhm, sub, nx_vis=None):
    """Fine-grid object scaled so one blurred point (or line) peaks near 1."""
    sig = fwhm / FWHM_PER_SIGMA
    pt = 2 * np.pi * sig ** 2  # a point of this value peaks at 1 after blur
    ln = np.sqrt(2 * np.pi) * sig  # a line of this density peaks at 1
    img = np.zeros((ny * sub, nx * sub))
    top = 12 + 2 * fwhm  # rows above are the pair row
    yy, xx = (np.mgrid[:ny * sub, :nx * sub] + 0.5) / sub - 0.5
    if name == "points":
        n = int(ny * nx / (20 * fwhm ** 2))
        _splat(img, rng.uniform(top, ny, n), rng.uniform(0, nx, n),
               pt * rng.uniform(0.5, 1.5, n), sub)
    elif name in ("thin_filaments", "network", "thick_filaments"):
        n = {"thin_filaments": 5, "network": 22, "thick_filaments": 6}[name]
        for _ in range(n):
            c = _random_curve(rng, ny, nx, 1.5 * max(ny, nx),
                              0.05 if name == "network" else 0.12)
            c = c[c[:, 0] > top]
            if len(c) > 2:
                _curve(img, c, ln * rng.uniform(0.6, 1.2) * (0.6 if name == "network"
                                                             else 1.0), sub)
        if name == "thick_filaments":
            img = gaussian_filter(img, 0.9 * fwhm * sub / FWHM_PER_SIGMA) * 1.6
    elif name == "rings":
        for _ in range(6):
            r = rng.uniform(0.6, 3.0) * fwhm
            cy, cx = rng.uniform(top + r, ny - r), rng.uniform(r, nx - r)
            a = np.linspace(0, 2 * np.pi, 200)
            _curve(img, np.c_[cy + r * np.sin(a), cx + r * np.cos(a)], 0.8 * ln, sub)
    elif name in ("blobs", "nuclei_puncta"):
        nb = 7 if name == "blobs" else 3
        for _ in range(nb):
            r = rng.uniform(1.0, 3.0) * fwhm * (1 if name == "blobs" else 2.5)
            cy, cx = rng.uniform(top + r, ny - r / 2), rng.uniform(0, nx)
            e = rng.uniform(0.7, 1.3)
            m = ((yy - cy) / r) ** 2 + ((xx - cx) / (r * e)) ** 2 <= 1
            img[m] += rng.uniform(0.3, 0.8) / sub ** 2
        if name == "nuclei_puncta":
            tex = gaussian_filter(rng.normal(size=img.shape), fwhm * sub / 3)
            img *= np.clip(1 + 2.0 * tex / tex.std() * 0.15, 0.2, None)
            n = int(ny * nx / (40 * fwhm ** 2))
            _splat(img, rng.uniform(top, ny, n), rng.uniform(0, nx, n),
                   pt * rng.uniform(0.4, 1.2, n), sub)
    elif name == "cytosol":
        f = gaussian_filter(rng.normal(size=img.shape), 4 * fwhm * sub)
        f = (f - f.min()) / (f.max() - f.min())
        img += 0.5 * f / sub ** 2 * (yy > top)
        n = int(ny * nx / (60 * fwhm ** 2))
        _splat(img, rng.uniform(top, ny, n), rng.uniform(0, nx, n),
               pt * rng.uniform(0.3, 1.0, n), sub)
    else:
        raise ValueError(name)
    # the empty region: a band on the right with nothing in it
    x_empty = (nx_vis or nx) - max(16, 5 * fwhm)
    img[:, int(x_empty * sub):] = 0
    # the pair row (top), in the non-empty part
    pairs = []
    row = 4 + fwhm
    xs = np.linspace(3 * fwhm, x_empty - 3 * fwhm, len(PAIR_SEPS_FWHM))
    for s, cx in zip(PAIR_SEPS_FWHM, xs, strict=True):
        h = s * fwhm / 2
        p1, p2 = (row + 0.3, cx - h), (row + 0.3, cx + h)
        _splat(img, np.array([p1[0], p2[0]]), np.array([p1[1], p2[1]]), np.array([pt, pt]),
               sub)
        pairs.append((s, p1, p2))
    return img, pairs, x_empty


def _background(rng, shape, level, kind):
    if kind == "flat":
        return np.full(shape, level)
    ny, nx = shape[-2:]
    yy, xx = np.mgrid[:ny, :nx] / max(ny, nx)
    c = rng.uniform(0.2, 0.8, 2)
    b = 0.6 + 0.8 * np.exp(-((yy - c[0]) ** 2 + (xx - c[1]) ** 2) / 0.15) + 0.3 * xx
    return np.broadcast_to(level * b / b.mean(), shape).copy()


def _noise(rng, lam, rn, gain):
    counts = rng.poisson(np.clip(lam, 0, None)) + rng.normal(0, rn, lam.shape)
    return (gain * counts).astype(np.float32)


def _half(truth, fwhm):
    nd = truth.ndim
    sig = [0.0] * (nd - len(fwhm)) + [0.5 * f / FWHM_PER_SIGMA for f in fwhm]
    return gaussian_filter(truth, sig).astype(np.float32)


def _make_2d(s, rng, op):
    fine_psf, given, fw = _psf2(op, SUB)
    f = float(np.mean(fw))
    if s["dim"] == "2d":
        ny, nx = SHAPE_2D
        frames = 1
    else:
        frames, ny, nx = SHAPE_2DT
    drift = 1 if s["dim"] == "2dt" else 0  # fine pixels per frame (0.5 camera px)
    img, pairs, x_empty = _scene2d(s["scene"], rng, ny, nx + frames * drift, f, SUB, nx)
    tr, bl = [], []
    for t in range(frames):
        sl = img[:, t * drift:t * drift + nx * SUB]
        b = fftconvolve(sl, fine_psf, mode="same")
        tr.append(sl.reshape(ny, SUB, nx, SUB).sum(axis=(1, 3)))
        bl.append(b.reshape(ny, SUB, nx, SUB).sum(axis=(1, 3)))
    truth, blurred = np.array(tr), np.array(bl)
    k = s["photons"] / max(blurred.max(), 1e-12)
    truth, blurred = truth * k, blurred * k
    bg = _background(rng, truth.shape, s["bg"], s["bg_kind"])
    data = _noise(rng, blurred + bg, s["read_noise"], s["gain"])
    m = int(np.ceil(f))
    x0 = int(np.ceil(x_empty + 1.5 * f + frames * drift / SUB))
    empty = np.zeros(truth.shape, bool)
    empty[..., m:ny - m, x0:nx - m] = True
    t_pair = frames // 2
    sh = t_pair * drift / SUB
    pairs = [(sep, (p1[0], p1[1] - sh), (p2[0], p2[1] - sh)) for sep, p1, p2 in pairs]
    if s["dim"] == "2d":
        truth, blurred, bg, data, empty = truth[0], blurred[0], bg[0], data[0], empty[0]
        idx = ()
    else:
        idx = (t_pair,)
    return Case(s, data, np.asarray(given, np.float32), truth.astype(np.float32),
                _half(truth, fw), bg.astype(np.float32), fw, op["pixel_nm"], pairs, idx,
                empty)


def _scene3d(name, rng, shape, fw):
    nz, ny, nx = shape
    vol = np.zeros(shape)
    sig = np.array(fw) / FWHM_PER_SIGMA
    pt = (2 * np.pi) ** 1.5 * np.prod(sig)
    ln = 2 * np.pi * sig[1] * sig[2]
    x_empty = nx - max(14, 5 * fw[2])

    def line(p0, d, dens, length):
        for t in np.arange(-length, length, 0.5):
            z, y, x = np.round(p0 + t * d).astype(int)
            if 0 <= z < nz and 0 <= y < ny and 0 <= x < x_empty:
                vol[z, y, x] += dens * 0.5

    if name in ("tubes", "network3"):
        n = 10 if name == "tubes" else 30
        for _ in range(n):
            p0 = rng.uniform([2, 10, 0], [nz - 2, ny, nx])
            d = rng.normal(size=3)
            d[0] *= 0.15
            d /= np.linalg.norm(d)
            line(p0, d, ln * rng.uniform(0.6, 1.2) * (0.6 if n > 10 else 1), 150)
    zz, yy, xx = np.mgrid[:nz, :ny, :nx].astype(float)
    if name in ("blobs3", "nuclei_puncta3"):
        nb = 6 if name == "blobs3" else 2
        for _ in range(nb):
            r = rng.uniform(1.5, 3.0) * fw[2] * (1 if nb == 6 else 3)
            c = rng.uniform([nz * 0.3, 10 + r, 0], [nz * 0.7, ny - r / 2, nx])
            m = ((zz - c[0]) * fw[2] / fw[0] / r * 1.5) ** 2 + ((yy - c[1]) / r) ** 2 \
                + ((xx - c[2]) / r) ** 2 <= 1
            vol[m] += rng.uniform(0.3, 0.8)
        if name == "nuclei_puncta3":
            n = 40
            p = rng.uniform([0, 10, 0], [nz, ny, nx], (n, 3)).astype(int)
            np.add.at(vol, tuple(p.T), pt * rng.uniform(0.4, 1.2, n))
    vol[..., int(x_empty):] = 0
    pairs = []
    zc, row = nz // 2, 4 + fw[1]
    xs = np.linspace(3 * fw[2], x_empty - 3 * fw[2], len(PAIR_SEPS_FWHM))
    for s, cx in zip(PAIR_SEPS_FWHM, xs, strict=True):
        h = s * fw[2] / 2
        p1, p2 = (row, cx - h), (row, cx + h)
        for p in (p1, p2):  # linear splat along x in the pair plane
            x0 = int(np.floor(p[1]))
            fx = p[1] - x0
            vol[zc, int(p[0]), x0] += pt * (1 - fx)
            vol[zc, int(p[0]), x0 + 1] += pt * fx
        pairs.append((s, (float(int(p1[0])), p1[1]), (float(int(p2[0])), p2[1])))
    return vol, pairs, x_empty, zc


def _make_3d(s, rng, op):
    true, given, fw = _psf3(op)
    vol, pairs, x_empty, zc = _scene3d(s["scene"], rng, SHAPE_3D, fw)
    blurred = np.clip(fftconvolve(vol, true, mode="same"), 0, None)
    k = s["photons"] / max(blurred.max(), 1e-12)
    truth, blurred = vol * k, blurred * k
    bg = _background(rng, truth.shape, s["bg"], s["bg_kind"])
    data = _noise(rng, blurred + bg, s["read_noise"], s["gain"])
    nz, ny, nx = SHAPE_3D
    m = int(np.ceil(fw[2]))
    empty = np.zeros(truth.shape, bool)
    empty[2:nz - 2, m:ny - m, int(np.ceil(x_empty + 1.5 * fw[2])):nx - m] = True
    return Case(s, data, np.asarray(given / given.sum(), np.float32),
                truth.astype(np.float32), _half(truth, fw), bg.astype(np.float32), fw,
                op["pixel_nm"], pairs, (zc,), empty)


def make_case(spec: dict) -> Case:
    """The arrays of one case (deterministic in ``spec['seed']``)."""
    rng = np.random.default_rng(spec["seed"])
    op = OPTICS[spec["optics"]]
    return _make_3d(spec, rng, op) if spec["dim"] == "3d" else _make_2d(spec, rng, op)


def all_specs() -> list[dict]:
    return specs("tuning") + specs("heldout")
