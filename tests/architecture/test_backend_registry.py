"""The backend registry and the plans' explicit lifetime."""

from __future__ import annotations

import numpy as np
import pytest

import napari_sparsedecon as nsd
from napari_sparsedecon.backends import (
    BACKENDS,
    BackendEntry,
    Plan,
    backends,
    get_backend,
    register_backend,
    registry,
)


def test_registered_backends_and_cli_choices_come_from_the_registry():
    assert backends()[:4] == ("numpy", "opencl", "numba", "auto")
    assert BACKENDS == backends()
    from napari_sparsedecon.cli import build_parser

    run = build_parser("sparse")._subparsers._group_actions[0].choices["run"]
    action = next(a for a in run._actions if a.dest == "backend")
    assert tuple(action.choices) == backends()


def test_unknown_backend_names_the_known_ones():
    with pytest.raises(ValueError, match=r"backend must be one of \[.numpy., .opencl."):
        get_backend("cuda")


def test_a_registered_backend_is_reachable_by_name(monkeypatch):
    """Adding a backend is one register_backend line: the name then works everywhere
    get_backend resolves names (here deconvolve)."""
    monkeypatch.setattr(registry, "_ENTRIES", dict(registry._ENTRIES))
    monkeypatch.setattr(registry, "_INSTANCES", {})
    made = []

    class Wrapped:
        name, device_name = "wrapped", "CPU via NumPy"

        def __init__(self, device):
            self.inner = get_backend("numpy")
            made.append(device)

        def sparse_hessian_plan(self, shape, **kw):
            return self.inner.sparse_hessian_plan(shape, **kw)

        def rl_plan(self, shape, psf, **kw):
            return self.inner.rl_plan(shape, psf, **kw)

    monkeypatch.setattr(registry, "_wrapped", Wrapped, raising=False)
    register_backend(BackendEntry("wrapped", f"{registry.__name__}:_wrapped", "test"))
    img = np.random.default_rng(0).random((32, 32)).astype(np.float32) + 1
    a = nsd.sparse_deconvolve(img, psf_fwhm_px=2.0, iterations=3, deconv_iterations=2,
                              backend="wrapped")
    b = nsd.sparse_deconvolve(img, psf_fwhm_px=2.0, iterations=3, deconv_iterations=2,
                              backend="numpy")
    assert made == [None]
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["sparse", "rl"])
def test_plan_lifetime(kind):
    be = get_backend("numpy")
    if kind == "sparse":
        plan = be.sparse_hessian_plan((16, 16), fidelity=150, sparsity=10, continuity=0)
    else:
        plan = be.rl_plan((16, 16), nsd.gaussian_psf((5, 5), 1.5))
    assert isinstance(plan, Plan)
    with plan as p:
        p.set_data(np.ones((16, 16), np.float32))
        p.step()
        out = np.array(p.result())
    assert plan.closed and set(plan.__dict__) == {"_closed"}  # every buffer dropped
    assert np.isfinite(out).all()
    with pytest.raises(RuntimeError, match="closed"):
        plan.step()
    plan.close()  # idempotent


class _SpyBackend:
    """The NumPy backend, keeping the plans it made."""

    name, device_name = "numpy", "spy"

    def __init__(self):
        self.plans = []
        self.inner = get_backend("numpy")

    def sparse_hessian_plan(self, shape, **kw):
        self.plans.append(self.inner.sparse_hessian_plan(shape, **kw))
        return self.plans[-1]

    def rl_plan(self, shape, psf, **kw):
        self.plans.append(self.inner.rl_plan(shape, psf, **kw))
        return self.plans[-1]


@pytest.mark.parametrize("which", ["sparse_hessian", "richardson_lucy", "rl"])
def test_cancel_closes_the_plan(which):
    """Closing a generator early (the GUI's Cancel) frees the plan at once."""
    be = _SpyBackend()
    img = np.random.default_rng(1).random((24, 24)).astype(np.float32) + 1
    if which == "sparse_hessian":
        gen = nsd.iter_sparse_hessian(img, iterations=50, backend=be)
    elif which == "richardson_lucy":
        gen = nsd.iter_richardson_lucy(img, nsd.gaussian_psf((7, 7), 2.0), iterations=50,
                                       backend=be)
    else:
        gen = nsd.iter_deconvolve(img, "rl", psf_fwhm_px=2.0, backend=be, iterations=50,
                                  stop="none")
    next(gen)
    next(gen)
    assert be.plans and not be.plans[-1].closed
    gen.close()
    assert be.plans[-1].closed


def test_finished_runs_close_their_plans():
    be = _SpyBackend()
    img = np.random.default_rng(2).random((24, 24)).astype(np.float32) + 1
    nsd.sparse_deconvolve(img, psf_fwhm_px=2.0, iterations=3, deconv_iterations=2, backend=be)
    assert len(be.plans) == 2 and all(p.closed for p in be.plans)
