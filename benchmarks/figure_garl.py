"""The GARL figure of docs/algorithms.md: raw / RL at its best / rl_tv / garl / truth on
the 2-D SIM-like phantom (60 photons peak), the 8 learned 2-D filters and psi'.

    QT_QPA_PLATFORM=offscreen PYTHONPATH=src .venv/bin/python benchmarks/figure_garl.py

Writes docs/images/garl_phantom.png (labels drawn with Qt, no plotting library). Image
panels are scaled from their own 0.1th to 99.9th percentile; RSNR against the object.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from figure_quality import to_u8  # noqa: E402
from quality import noisy_of, rl_best, rsnr  # noqa: E402

import napari_sparsedecon as nsd  # noqa: E402
from napari_sparsedecon.algorithms.garl import load_weights  # noqa: E402
from napari_sparsedecon.core.phantom import make_phantom  # noqa: E402
from napari_sparsedecon.ops.ridge import psi_prime  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "images" / "garl_phantom.png"


def panels(photons=60):
    ph = make_phantom((192, 192), photons=photons, background_photons=12, read_noise=1.5,
                      seed=3)
    y = noisy_of(ph, 5)
    truth = ph.truth
    _, n, rl = rl_best(y, ph.psf, truth, 2.25)
    out = [("raw", y), (f"RL at its best ({n} it.)", rl),
           ("rl_tv", nsd.deconvolve(y, "rl_tv", psf=ph.psf)),
           ("sparse_psf", nsd.deconvolve(y, "sparse_psf", psf=ph.psf)),
           ("garl (100 it.)", nsd.deconvolve(y, "garl", psf=ph.psf))]
    out = [(f"{t}: {rsnr(a, truth):.1f} dB", a) for t, a in out]
    w, _ = load_weights(2)
    h = 192
    f = w.filters
    tiles = np.zeros((h, h))
    s = h // 4  # 8 filters in a 4 x 2 grid, each upscaled
    for i in range(f.shape[0]):
        r, c = divmod(i, 4)
        k = np.kron(f[i] / np.abs(f[i]).max(), np.ones((8, 8)))
        tiles[r * s + 4:r * s + 4 + k.shape[0], c * s + 4:c * s + 4 + k.shape[1]] = k
    t = np.linspace(-6, 6, h)
    d = psi_prime(t, w.psi_values, w.psi_step)
    plot = np.zeros((h, h))
    rows = np.clip(((1 - (d - d.min()) / max(np.ptp(d), 1e-12)) * (h - 9)).astype(int) + 4,
                   0, h - 1)
    for i, rr in enumerate(rows):
        plot[max(rr - 1, 0):rr + 2, i] = 1
    plot[:, h // 2] = np.maximum(plot[:, h // 2], 0.3)
    return out + [("the object (truth)", truth), ("8 learned 2-D filters", tiles),
                  ("psi'(t), t in [-6, 6]", plot)]


def main():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qtpy.QtCore import Qt
    from qtpy.QtGui import QColor, QFont, QGuiApplication, QImage, QPainter

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841
    ps = panels()
    zoom, head, cols = 1, 22, 4
    h, w = ps[0][1].shape
    rows = (len(ps) + cols - 1) // cols
    img = QImage(cols * w * zoom, rows * (h * zoom + head), QImage.Format.Format_RGB888)
    img.fill(QColor("white"))
    p = QPainter(img)
    p.setFont(QFont("DejaVu Sans", 9))
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
