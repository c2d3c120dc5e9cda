"""Train GARL's convolutional ridge regulariser as a denoiser (PyTorch on the CPU).

    python training/train_garl.py            # both models, writes src/.../data/garl_*.npz
    python training/train_garl.py --dims 2 --steps 50 --out /tmp/w   # a quick run

The regulariser R (see ``napari_sparsedecon.ops.ridge``) is learned so that the
denoiser ``argmin_x 1/2 ||x - z||^2 + lam R_sigma(x)``, approximated by ``--unroll``
accelerated gradient steps from ``z`` (the iteration of ``ops.ridge.denoise``), matches
the clean x, with ``z = x + sigma n`` and sigma drawn log-uniformly over a range. The
clean images are the project's own simulated objects (``garl_phantoms.py``). Filters are
made zero-mean and normalised to ||W||_2 = 1 (on an FFT grid) at every step, and the
slopes of psi' are kept in [-mu, 1], so that grad R is 1-Lipschitz and the denoiser's
step ``1 / (1 + lam)`` is safe; the exported weights carry the Lipschitz bound measured
on a finer grid. Needs the ``[train]`` extra (torch); the package never imports this.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))

import garl_phantoms  # noqa: E402

from napari_sparsedecon.ops import ridge  # noqa: E402

DATA_DIR = ROOT / "src" / "napari_sparsedecon" / "data"

#: Per dimensionality: filter shape, image shape of the set, crop, batch, set sizes.
CONFIGS = {
    2: dict(kernel=(5, 5), image=(64, 64), crop=(40, 40), batch=16, n_train=160, n_val=16),
    3: dict(kernel=(3, 5, 5), image=(24, 48, 48), crop=(12, 28, 28), batch=4, n_train=40,
            n_val=6),
}
CHANNELS = 8
PSI_KNOTS = 24       # K: knots of psi' at k h, k = 0..K
PSI_STEP = 0.25      # h (psi's argument is alpha W x, about W x / sigma)
MU = 1.0             # slopes of psi' in [-MU, 1]
SIGMA_RANGE = (0.01, 0.4)
S_KNOTS = np.linspace(np.log(0.005), np.log(0.5), 8)
EPS = 1e-3
SEED = 27


def _torch():
    import torch
    torch.set_num_threads(1)
    return torch


class Model:
    """The learnable parameters and the unrolled denoiser (torch)."""

    def __init__(self, nd, seed, torch):
        self.t, self.nd = torch, nd
        g = torch.Generator().manual_seed(seed)
        k = CONFIGS[nd]["kernel"]
        self.raw = (torch.randn((CHANNELS,) + k, generator=g, dtype=torch.float32)
                    * 0.1).requires_grad_()
        # psi' starts as clip(t, -1, 1): slope ~1 up to t = 1, ~0 beyond
        knots = np.arange(PSI_KNOTS) * PSI_STEP + PSI_STEP / 2
        target = np.where(knots < 1.0, 0.95, 0.02)
        p = np.log((target + MU) / (1 + MU) / (1 - (target + MU) / (1 + MU)))
        self.psi_logit = torch.tensor(p, dtype=torch.float32).requires_grad_()
        self.s = torch.zeros((CHANNELS, S_KNOTS.size), dtype=torch.float32).requires_grad_()
        self.log_lam = torch.tensor(math.log(2.0), dtype=torch.float32).requires_grad_()

    def params(self):
        return [self.raw, self.psi_logit, self.s, self.log_lam]

    def filters(self):
        t = self.t
        w = self.raw - self.raw.mean(dim=tuple(range(1, self.nd + 1)), keepdim=True)
        grid = (16,) + (32,) * (self.nd - 1) if self.nd == 3 else (32, 32)
        spec = t.fft.rfftn(w, s=grid, dim=tuple(range(1, self.nd + 1)))
        n2 = (spec.real ** 2 + spec.imag ** 2).sum(0).max()
        return w / t.sqrt(n2)

    def psi_values(self):
        slope = -MU + (1 + MU) * self.t.sigmoid(self.psi_logit)
        return self.t.cat([self.t.zeros(1, dtype=slope.dtype), self.t.cumsum(slope, 0)
                           * PSI_STEP])

    def alphas(self, sigma):
        """(B, L) alpha_l(sigma_b): s_l linear in log sigma between the knots."""
        t = self.t
        ls = t.log(sigma).clamp(float(S_KNOTS[0]), float(S_KNOTS[-1]))
        pos = (ls - float(S_KNOTS[0])) / float(S_KNOTS[1] - S_KNOTS[0])
        i = pos.floor().clamp(0, S_KNOTS.size - 2).long()
        f = (pos - i).unsqueeze(1)
        s = self.s[:, i].T * (1 - f) + self.s[:, i + 1].T * f
        return t.exp(s) / (sigma.unsqueeze(1) + EPS)

    def psi_prime(self, x, values):
        t = self.t
        a = x.abs() / PSI_STEP
        i = a.floor().clamp(0, PSI_KNOTS - 1)
        f = (a - i).clamp(0, 1)
        il = i.long()
        v = values[il] * (1 - f) + values[il + 1] * f
        return v * t.sign(x)

    def _pad(self, x):
        k = CONFIGS[self.nd]["kernel"]
        pads = []
        for kk in reversed(k):
            pads += [kk // 2, kk // 2]
        return self.t.nn.functional.pad(x, pads, mode="circular")

    def grad_r(self, x, w, values, alpha):
        """sum_l W_l^T psi'(alpha W_l x) / alpha with circular boundaries."""
        F = self.t.nn.functional
        conv = F.conv2d if self.nd == 2 else F.conv3d
        r = conv(self._pad(x), w.unsqueeze(1))                 # (B, L, *S)
        shp = alpha.shape + (1,) * self.nd
        g = self.psi_prime(r * alpha.view(shp), values) / alpha.view(shp)
        wt = w.flip(tuple(range(1, self.nd + 1))).unsqueeze(0)  # (1, L, *k)
        return conv(self._pad(g), wt)

    def denoise(self, z, sigma, unroll):
        w, values, alpha = self.filters(), self.psi_values(), self.alphas(sigma)
        lam = self.t.exp(self.log_lam)
        step = 1.0 / (1.0 + lam)
        x = xp = z
        tk = 1.0
        for _ in range(unroll):
            tn = (1 + math.sqrt(1 + 4 * tk * tk)) / 2
            v = x + ((tk - 1) / tn) * (x - xp)
            g = (v - z) + lam * self.grad_r(v, w, values, alpha)
            xp, x = x, v - step * g
            tk = tn
        return x

    def export(self) -> dict:
        w = self.filters().detach().numpy().astype(np.float64)
        vals = self.psi_values().detach().numpy()
        slopes = np.diff(vals) / PSI_STEP
        arrays = {
            "filters": w, "psi_values": vals, "psi_step": np.float64(PSI_STEP),
            "log_sigma_knots": S_KNOTS.copy(), "s_values": self.s.detach().numpy().copy(),
            "lam": np.float64(math.exp(float(self.log_lam.detach()))), "eps": np.float64(EPS),
            "lipschitz": np.float64(ridge.spectral_norm2(w, 64) * max(float(slopes.max()),
                                                                    0.0)),
            "mu": np.float64(max(-float(slopes.min()), 0.0)),
        }
        return arrays


def _batch(data, cfg, rng, torch):
    n = cfg["batch"]
    crop = cfg["crop"]
    out = np.empty((n, 1) + crop, dtype=np.float32)
    for b in range(n):
        img = data[rng.integers(len(data))]
        start = [rng.integers(0, s - c + 1) for s, c in zip(img.shape, crop, strict=True)]
        sl = tuple(slice(o, o + c) for o, c in zip(start, crop, strict=True))
        p = img[sl]
        for ax in range(p.ndim):
            if rng.random() < 0.5:
                p = np.flip(p, ax)
        out[b, 0] = p
    sig = np.exp(rng.uniform(np.log(SIGMA_RANGE[0]), np.log(SIGMA_RANGE[1]), n))
    noise = rng.normal(size=out.shape) * sig.reshape((n,) + (1,) * (out.ndim - 1))
    return (torch.from_numpy(out), torch.from_numpy((out + noise).astype(np.float32)),
            torch.from_numpy(sig.astype(np.float32)))


def _loss(model, x, z, sigma, unroll):
    """Mean over the batch of ||D(z) - x||^2 / ||z - x||^2 (the denoiser's relative
    error: every noise level counts alike)."""
    d = model.denoise(z, sigma, unroll)
    dims = tuple(range(1, x.ndim))
    return (((d - x) ** 2).sum(dims) / ((z - x) ** 2).sum(dims)).mean()


def code_version() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "training",
                                "src/napari_sparsedecon/ops/ridge.py"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def train(nd, *, steps, unroll=10, lr=0.01, seed=SEED, log_every=25, n_train=None,
          n_val=None, verbose=True, max_s=None):
    """Train the ``nd``-D model; returns (model, weight arrays, provenance dict).

    ``max_s``: stop after that many seconds of wall time (the provenance records the
    steps actually run)."""
    torch = _torch()
    cfg = dict(CONFIGS[nd])
    if n_train:
        cfg["n_train"] = n_train
    if n_val:
        cfg["n_val"] = n_val
    t0 = time.time()
    version = code_version()
    data = garl_phantoms.make_set(cfg["n_train"], cfg["image"], seed)
    val = garl_phantoms.make_set(cfg["n_val"], cfg["image"], seed + 1000)
    vrng = np.random.default_rng(seed + 2000)
    vx, vz, vs = _batch(val, {**cfg, "batch": 2 * cfg["batch"]}, vrng, torch)
    rng = np.random.default_rng(seed + 1)
    model = Model(nd, seed, torch)
    opt = torch.optim.Adam(model.params(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1), lr * 0.05)

    def val_loss():
        with torch.no_grad():
            return float(_loss(model, vx, vz, vs, unroll))

    curve = [(0, None, val_loss())]
    if verbose:
        print(f"{nd}-D: data {time.time() - t0:.1f} s, val loss {curve[0][2]:.4f}",
              flush=True)
    run = []
    k = 0
    for k in range(1, steps + 1):
        x, z, s = _batch(data, cfg, rng, torch)
        loss = _loss(model, x, z, s, unroll)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        run.append(float(loss.detach()))
        late = max_s is not None and time.time() - t0 > max_s
        if k % log_every == 0 or k == steps or late:
            curve.append((k, float(np.mean(run[-log_every:])), val_loss()))
            if verbose:
                print(f"{nd}-D step {k}: train {curve[-1][1]:.4f} val {curve[-1][2]:.4f} "
                      f"({time.time() - t0:.0f} s)", flush=True)
        if late:
            break
    arrays = model.export()
    prov = {
        "what": f"GARL convolutional ridge regulariser, {nd}-D filters",
        "generator": "training/garl_phantoms.py (tubes, filaments, points, rings, blobs at "
                     "random anisotropic Gaussian resolution, peak 1)",
        "seed": seed, "train_set": [cfg["n_train"], *cfg["image"]],
        "val_set": [cfg["n_val"], *cfg["image"]], "crop": list(cfg["crop"]),
        "batch": cfg["batch"], "steps": k, "planned_steps": steps, "unroll": unroll,
        "lr": lr,
        "optimiser": "Adam, cosine decay to 5% of lr",
        "sigma_range": list(SIGMA_RANGE), "channels": CHANNELS,
        "kernel": list(CONFIGS[nd]["kernel"]), "psi_knots": PSI_KNOTS,
        "psi_step": PSI_STEP, "mu_bound": MU,
        "loss": "mean ||D(z) - x||^2 / ||z - x||^2 over the batch",
        "loss_curve": [{"step": s, "train": tr, "val": v} for s, tr, v in curve],
        "code_version": version, "torch": torch.__version__,
        "wall_s": round(time.time() - t0, 1), "threads": 1,
        "checksum_sha256": ridge.weights_checksum(arrays),
        "lipschitz": float(arrays["lipschitz"]), "mu": float(arrays["mu"]),
        "lam": float(arrays["lam"]),
        "reproduce": f"python training/train_garl.py --dims {nd} --steps {k} --seed {seed}",
    }
    return model, arrays, prov


def save(nd, arrays, prov, out_dir: Path):
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez(out_dir / f"garl_{nd}d.npz", **arrays)
    (out_dir / f"garl_{nd}d.json").write_text(json.dumps(prov, indent=1) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dims", type=int, nargs="+", default=[2, 3], choices=[2, 3])
    ap.add_argument("--steps", type=int, nargs="+", default=[1500, 600],
                    help="training steps (one value, or one per --dims)")
    ap.add_argument("--unroll", type=int, default=10)
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="stop each model's training after this wall time")
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--out", type=Path, default=DATA_DIR)
    a = ap.parse_args(argv)
    steps = a.steps if len(a.steps) == len(a.dims) else [a.steps[0]] * len(a.dims)
    for nd, st in zip(a.dims, steps, strict=True):
        _, arrays, prov = train(nd, steps=st, unroll=a.unroll, lr=a.lr, seed=a.seed,
                                max_s=None if a.max_minutes is None else 60 * a.max_minutes)
        save(nd, arrays, prov, a.out)
        print(f"wrote {a.out}/garl_{nd}d.npz ({prov['checksum_sha256'][:12]})", flush=True)


if __name__ == "__main__":
    main()
