"""The comparison figure of docs/algorithms.md: raw / RL at its best / paper pipeline /
rl_tv / sparse_psf / truth on the 2-D SIM-like phantom (60 photons peak).

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/figure_quality.py

Writes docs/images/quality_phantom.png (labels drawn with Qt, no plotting library).
Each panel is scaled from its own 0.1th to 99.9th percentile.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

sys.path.insert(0, str(Path(__file__).parent))
from quality import noisy_of, rl_best, rsnr  # noqa: E402

import napari_sparsedecon as nsd  # noqa: E402
from napari_sparsedecon.core.phantom import make_phantom  # noqa: E402
from napari_sparsedecon.psf.basic import FWHM_PER_SIGMA  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "images" / "quality_phantom.png"


def panels(photons=60):
    ph = make_phantom((192, 192), photons=photons, background_photons=12, read_noise=1.5,
                      seed=3)
    y = noisy_of(ph, 5)
    truth = gaussian_filter(ph.truth, ph.psf_fwhm_nm / ph.pixel_nm / 2 / FWHM_PER_SIGMA)
    r, n, rl = rl_best(y, ph.psf, truth, 2.25)
    out = [("raw", y), (f"RL at its best ({n} it.)", rl),
           ("sparse (paper pipeline)", nsd.deconvolve(y, "sparse",
                                                      psf_fwhm_px=ph.psf_fwhm_nm / ph.pixel_nm)),
           ("rl_tv", nsd.deconvolve(y, "rl_tv", psf=ph.psf)),
           ("sparse_psf (default)", nsd.deconvolve(y, "sparse_psf", psf=ph.psf))]
    out = [(f"{t}: {rsnr(a, truth):.1f} dB", a) for t, a in out]
    return out + [("truth at half the PSF width", truth)]


def to_u8(a):
    lo, hi = np.percentile(a, (0.1, 99.9))
    return (np.clip((a - lo) / max(hi - lo, 1e-12), 0, 1) * 255).astype(np.uint8)


def main():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qtpy.QtCore import Qt
    from qtpy.QtGui import QColor, QFont, QGuiApplication, QImage, QPainter

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841
    ps = panels()
    zoom, head, cols = 2, 22, 3
    h, w = ps[0][1].shape
    rows = (len(ps) + cols - 1) // cols
    img = QImage(cols * w * zoom, rows * (h * zoom + head), QImage.Format.Format_RGB888)
    img.fill(QColor("white"))
    p = QPainter(img)
    p.setFont(QFont("DejaVu Sans", 11))
    for i, (title, a) in enumerate(ps):
        r, c = divmod(i, cols)
        g = np.kron(to_u8(a), np.ones((zoom, zoom), np.uint8))
        rgb = np.ascontiguousarray(np.repeat(g[..., None], 3, axis=2))
        tile = QImage(rgb.data, rgb.shape[1], rgb.shape[0], 3 * rgb.shape[1],
                      QImage.Format.Format_RGB888)
        x0, y0 = c * w * zoom, r * (h * zoom + head)
        p.drawImage(x0, y0 + head, tile)
        p.setPen(QColor("black"))
        p.drawText(x0 + 4, y0, w * zoom - 8, head, int(Qt.AlignmentFlag.AlignVCenter), title)
    p.end()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    img.save(str(OUT))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
