"""OpenCL backend (pyopencl). Nothing here runs at import time.

``make_opencl_backend(device)`` (the registry's factory for ``"opencl"``) returns an
:class:`OpenCLBackend` or raises :class:`OpenCLUnavailable` with the reason. The
``"auto"`` policy is not here: it is a backend of its own
(:mod:`napari_sparsedecon.backends.auto`) that uses an OpenCL device, GPU or CPU,
where it measured faster than NumPy.
"""

from __future__ import annotations

import logging

from .device import OpenCLUnavailable, list_devices

__all__ = ["OpenCLBackend", "OpenCLUnavailable", "list_devices", "make_opencl_backend"]

log = logging.getLogger("napari_sparsedecon")
_SAID: set = set()


TRANSFORMS = ("auto", "host", "device")


class OpenCLBackend:
    """Plans on one OpenCL device.

    ``transforms``: where the FFT/DCT run. ``"host"``: scipy.fft on the CPU
    (measured faster than VkFFT on PoCL); ``"device"``: pyvkfft on the device,
    so no data leaves it between iterations; ``"auto"`` (default, or the
    environment variable ``NAPARI_SPARSEDECON_TRANSFORMS``): device on a GPU
    when pyvkfft is installed, else host.
    """

    name = "opencl"

    def __init__(self, device=None, transforms=None):
        import os

        from .device import context_and_queue, is_gpu, pick_device

        transforms = transforms or os.environ.get("NAPARI_SPARSEDECON_TRANSFORMS", "auto")
        if transforms not in TRANSFORMS:
            raise ValueError(f"transforms must be one of {TRANSFORMS}, got {transforms!r}")
        self.device = pick_device(device)
        self.ctx, self.queue = context_and_queue(self.device)
        self.device_name = f"{self.device.name.strip()} ({self.device.platform.name.strip()})"
        have_vkfft = _have_pyvkfft()
        if transforms == "device" and not have_vkfft:
            raise OpenCLUnavailable("transforms='device' needs pyvkfft (install it with "
                                    "VKFFT_BACKEND=opencl pip install pyvkfft)")
        if transforms == "auto":
            transforms = "device" if (is_gpu(self.device) and have_vkfft) else "host"
            if is_gpu(self.device) and not have_vkfft:
                _say_once("OpenCL on a GPU without pyvkfft: FFTs run on the host; install "
                          "pyvkfft for the full GPU speed")
        self.transforms = transforms

    def transforms_on_device(self) -> bool:
        return self.transforms == "device"

    def sparse_hessian_plan(self, shape, *, fidelity, sparsity, continuity):
        from .plans import OpenCLSparseHessian

        return OpenCLSparseHessian(self, shape, fidelity=fidelity, sparsity=sparsity,
                                   continuity=continuity)

    def rl_plan(self, shape, psf, *, background=0.0, acceleration=None, start="data"):
        from .plans import OpenCLRichardsonLucy

        return OpenCLRichardsonLucy(self, shape, psf, background=background,
                                    acceleration=acceleration, start=start)

    def regularised_plan(self, shape, psf, *, prior, weight, sparsity=0.0, continuity=0.0,
                         t_continuity=0.0, aspect=1.0, eps=1.0, data_term="poisson"):
        """The regularised RL plan of ``rl_tv`` / ``sparse_psf`` on this device."""
        from .plans import OpenCLRegularised

        return OpenCLRegularised(self, shape, psf, prior=prior, weight=weight,
                                 sparsity=sparsity, continuity=continuity,
                                 t_continuity=t_continuity, aspect=aspect, eps=eps,
                                 data_term=data_term)


def _have_pyvkfft() -> bool:
    try:
        import pyvkfft.opencl  # noqa: F401
    except Exception:  # noqa: BLE001 - missing, or built without the OpenCL backend
        return False
    return True


def _say_once(msg):
    if msg not in _SAID:
        _SAID.add(msg)
        log.warning(msg)


def make_opencl_backend(device=None) -> OpenCLBackend:
    """The registry's factory: an :class:`OpenCLBackend` on ``device`` (index or part of
    its name; None: the first GPU, else the first device)."""
    return OpenCLBackend(device)
