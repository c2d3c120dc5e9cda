"""The GARL training script (needs the [train] extra: skipped without torch): a few
steps lower the denoising loss, a rerun with the same seed reproduces the weights, and
the torch regulariser the weights are trained with is the NumPy one they run with."""

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))
import train_garl  # noqa: E402

from napari_sparsedecon.ops import ridge  # noqa: E402


def _small(nd, steps=6):
    return train_garl.train(nd, steps=steps, n_train=4, n_val=2, log_every=3,
                            verbose=False)


@pytest.mark.slow
def test_a_few_steps_lower_the_denoising_loss_and_rerun_reproduces_them():
    _, arrays, prov = _small(2)
    curve = prov["loss_curve"]
    assert curve[-1]["val"] < curve[0]["val"], curve
    assert prov["checksum_sha256"] == ridge.weights_checksum(arrays)
    _, again, prov2 = _small(2)
    for k in ridge.WEIGHT_KEYS:
        np.testing.assert_allclose(again[k], arrays[k], rtol=1e-5, atol=1e-7, err_msg=k)
    assert [c["val"] for c in prov2["loss_curve"]] == pytest.approx(
        [c["val"] for c in curve], rel=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("nd", [2, 3])
def test_torch_regulariser_is_the_numpy_one(nd):
    model = train_garl.Model(nd, 3, torch)
    w = ridge.weights_from_arrays(model.export())
    shape = (20, 24) if nd == 2 else (6, 12, 14)
    x = np.random.default_rng(0).random(shape).astype(np.float32)
    sigma = 0.07
    g = ridge.RidgeRegulariser(w, shape, sigma).grad(x)
    with torch.no_grad():
        gt = model.grad_r(torch.from_numpy(x)[None, None], model.filters(),
                          model.psi_values(), model.alphas(torch.tensor([sigma])))
    np.testing.assert_allclose(g, gt[0, 0].numpy(), atol=2e-5 * np.abs(g).max())
    # and the denoiser is the one ops.ridge.denoise runs
    z = x
    with torch.no_grad():
        dt = model.denoise(torch.from_numpy(z)[None, None], torch.tensor([sigma]), 10)
    dn = ridge.denoise(z, w, sigma, 10)
    assert np.abs(dn - dt[0, 0].numpy()).max() < 1e-3 * np.abs(dn).max()
