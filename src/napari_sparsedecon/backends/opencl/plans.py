"""OpenCL plans: buffers, kernels and transforms allocated once per shape.

Transforms (the DCT pair of the sparse step, the real FFTs of RL) run where
measurement says they are fastest for the device: on the host with
scipy.fft for CPU devices (PoCL: about 5x faster than VkFFT here), on the
device with pyvkfft where it is installed and the device is a GPU. Element-wise
and stencil work always runs on the device, fused per term.
"""

from __future__ import annotations

import numpy as np

from ...base.validation import FLOAT
from ...ops.hessian import DCTSolver, hessian_terms
from ...ops.padding import mirror_pad, rl_geometry, rl_start
from ...ops.threads import fft_workers
from ..base import PlanBase
from .device import build_program


class OpenCLSparseHessian(PlanBase):
    """Sparse-Hessian split Bregman with the Bregman updates on an OpenCL device.

    Two fused kernels per iteration (``update`` and ``adjoint``, see
    ``kernels/sparse_hessian.cl``); the DCT-domain solve runs on the host.
    Device memory: f, g, rhs and one array per L1 term.
    """

    def __init__(self, backend, shape, *, fidelity, sparsity, continuity):
        import pyopencl as cl

        self.cl = cl
        self.ctx, self.queue = backend.ctx, backend.queue
        self.shape = tuple(int(n) for n in shape)
        nd = len(self.shape)
        self.shape3 = (1,) * (3 - nd) + self.shape
        self.size = int(np.prod(self.shape))
        self.fidelity = float(fidelity)
        self.sparsity = float(sparsity)
        self.continuity = float(continuity) if nd == 3 else 0.0
        self.has_t = nd == 3 and self.continuity > 0
        self.has_id = self.sparsity > 0
        opts = (f"-DHAS_T={int(self.has_t)}", f"-DHAS_ID={int(self.has_id)}")
        prog = build_program(self.ctx, "sparse_hessian.cl", opts)
        self.k_update = cl.Kernel(prog, "update")
        self.k_adjoint = cl.Kernel(prog, "adjoint")
        self.k_divide = cl.Kernel(prog, "dct_divide")
        self.device_transforms = backend.transforms_on_device()
        self.terms = hessian_terms(nd, self.continuity, self.sparsity)
        nbytes = self.size * 4
        n_arrays = 3 + len(self.terms)
        if nbytes * n_arrays > backend.device.global_mem_size or \
                nbytes > backend.device.max_mem_alloc_size:
            raise MemoryError(
                f"the sparse step needs {n_arrays} arrays of {nbytes / 2**20:.0f} MiB on "
                f"{backend.device_name} ({backend.device.global_mem_size / 2**20:.0f} MiB, "
                f"largest allocation {backend.device.max_mem_alloc_size / 2**20:.0f} MiB); "
                f"process fewer frames at a time or use the NumPy backend")
        mf = cl.mem_flags
        self.f_d = cl.Buffer(self.ctx, mf.READ_WRITE, nbytes)
        self.g_d = cl.Buffer(self.ctx, mf.READ_WRITE, nbytes)
        self.rhs_d = cl.Buffer(self.ctx, mf.READ_WRITE, nbytes)
        names = ["yy", "xx", "xy", "tt", "ty", "tx", "id"]
        present = {"yy", "xx", "xy"} | ({"tt", "ty", "tx"} if self.has_t else set()) | \
            ({"id"} if self.has_id else set())
        dummy = None
        self.v_d = {}
        for nm in names:
            if nm in present:
                self.v_d[nm] = cl.Buffer(self.ctx, mf.READ_WRITE, nbytes)
            else:
                dummy = dummy or cl.Buffer(self.ctx, mf.READ_WRITE, 4)
                self.v_d[nm] = dummy
        self._vargs = [self.v_d[nm] for nm in names]
        nt, ny, nx = self.shape3
        self._dims = (np.int32(nx), np.int32(ny), np.int32(nt))
        self._gsize = (nx, ny, nt)
        c = self.continuity
        self._weights = (np.float32(self.fidelity), np.float32(2.0), np.float32(c),
                         np.float32(2.0 * np.sqrt(c)), np.float32(self.sparsity))
        # The DCT-domain solve on the host is the reference's own solver.
        self._host = DCTSolver(self.shape, fidelity=self.fidelity, sparsity=self.sparsity,
                               continuity=self.continuity)
        self._g = np.empty(self.shape, dtype=FLOAT)
        self._pending = False
        if self.device_transforms:
            from pyvkfft.opencl import VkFFTApp

            self._dct = VkFFTApp(self.shape, np.float32, self.queue, dct=2, norm=1,
                                 ndim=nd, inplace=True)
            import pyopencl.array as cla

            self._rhs_arr = cla.Array(self.queue, self.shape, np.float32, data=self.rhs_d)
            h = self._host
            self._eig = [cla.to_device(self.queue, np.asarray(a, np.float32))
                         for a in (h.ey, h.ex, h.et)]

    def set_data(self, f):
        cl = self.cl
        f = np.ascontiguousarray(f, dtype=FLOAT)
        if f.shape != self.shape:
            raise ValueError(f"data shape {f.shape} does not match the plan's {self.shape}")
        cl.enqueue_copy(self.queue, self.f_d, f)
        for buf in set(self.v_d.values()):
            cl.enqueue_fill_buffer(self.queue, buf, np.float32(0), 0, buf.size)
        self._g = self.fidelity * f
        self._pending = False

    def _bregman(self):
        """Both fused kernels: Bregman update from g_d, then the next rhs into rhs_d."""
        q = self.queue
        self.k_update(q, self._gsize, None, self.g_d, *self._vargs, *self._dims)
        self.k_adjoint(q, self._gsize, None, self.f_d, self.rhs_d, *self._vargs, *self._dims,
                       *self._weights)

    def _update(self):
        cl, q = self.cl, self.queue
        cl.enqueue_copy(q, self.g_d, self._g)
        self._bregman()
        cl.enqueue_copy(q, self._g, self.rhs_d)  # blocking: the host solve needs it

    def step(self):
        self._check_open()
        if self.device_transforms:
            return self._step_device()
        if self._pending:
            self._update()
        self._g = self._host.solve(self._g)
        self._pending = True

    def _step_device(self):
        """Everything on the device: rhs -> DCT -> divide -> inverse DCT -> g -> update."""
        q = self.queue
        if not self._pending:
            self.cl.enqueue_copy(q, self.rhs_d, np.ascontiguousarray(self._g, dtype=FLOAT))
        else:
            self._bregman()
        self._dct.fft(self._rhs_arr)
        self.k_divide(q, self._gsize, None, self.rhs_d, *(e.data for e in self._eig),
                      self._dims[0], self._dims[1], np.float32(self._host.base))
        self._dct.ifft(self._rhs_arr)
        self.cl.enqueue_copy(q, self.g_d, self.rhs_d)
        self._pending = True
        self._g = None

    def result(self):
        if self._g is None:  # device transforms: g lives on the device until asked for
            self._g = np.empty(self.shape, np.float32)
            self.cl.enqueue_copy(self.queue, self._g, self.g_d)
        return self._g

    def finish(self):
        """Wait for queued device work (for timing)."""
        self.queue.finish()

    def bregman_variables(self):
        """The b_i = clip(v_i) of each term as host arrays (for tests)."""
        names = {("second", 1): "yy", ("second", 2): "xx", ("mixed", (1, 2)): "xy",
                 ("second", 0): "tt", ("mixed", (0, 1)): "ty", ("mixed", (0, 2)): "tx"}
        off = 3 - len(self.shape)
        out = []
        for kind, axes, _ in self.terms:
            if kind == "identity":
                nm = "id"
            elif kind == "second":
                nm = names[("second", axes[0] + off)]
            else:
                nm = names[("mixed", tuple(a + off for a in axes))]
            host = np.empty(self.shape, np.float32)
            self.cl.enqueue_copy(self.queue, host, self.v_d[nm])
            out.append(np.clip(host, -1, 1))
        return out


class OpenCLRichardsonLucy(PlanBase):
    """Richardson-Lucy with every element-wise step on an OpenCL device.

    Convolutions: real FFTs on the host (scipy) or on the device (pyvkfft),
    chosen by the backend; with device transforms no data leaves the device
    between iterations.

    Buffers: every device array is made in ``set_data``; ``step`` only
    rotates them (Biggs: x, x_prev, g1, g2 and one spare; the extrapolated
    point is written over x_prev, which the step drops). With host transforms
    the host copy of the device array is reused too; only SciPy's FFT outputs
    are new arrays.
    """

    def __init__(self, backend, shape, psf, *, background=0.0, acceleration=None,
                 start="data"):
        import pyopencl as cl
        import pyopencl.array as cla

        self.cl, self.cla = cl, cla
        self.start = start
        self.ctx, self.queue = backend.ctx, backend.queue
        self.shape = tuple(int(n) for n in shape)
        self.axes, self.widths, self.pshape, self.otf, self._crop = rl_geometry(shape, psf)
        self.n = int(np.prod(self.pshape))
        self.background = background
        self.acceleration = acceleration
        prog = build_program(self.ctx, "richardson_lucy.cl")
        self.k_ratio = cl.Kernel(prog, "rl_ratio")
        self.k_update = cl.Kernel(prog, "rl_update")
        self.k_extra = cl.Kernel(prog, "extrapolate")
        self.k_diff = cl.Kernel(prog, "difference")
        self.k_cmul = cl.Kernel(prog, "cmul")
        self.device_transforms = backend.transforms_on_device()
        if self.device_transforms:
            from pyvkfft.opencl import VkFFTApp

            self._app = VkFFTApp(self.pshape, np.float32, self.queue, r2c=True, inplace=False,
                                 ndim=len(self.axes), norm=1,
                                 r2c_odd=bool(self.pshape[-1] % 2))
            cshape = self.pshape[:-1] + (self.pshape[-1] // 2 + 1,)
            self._spec = cla.empty(self.queue, cshape, np.complex64)
            sub = np.ascontiguousarray(self.otf.reshape(self.otf.shape[-len(self.axes):]))
            self._otf_d = cla.to_device(self.queue, sub)
            self._otf_size = np.int32(sub.size)
        else:
            self._otf_conj = np.conj(self.otf)
            self._host_buf = np.empty(self.pshape, dtype=FLOAT)

    # -- convolution ---------------------------------------------------------
    def _conv(self, src, dst, conj: bool):
        if self.device_transforms:
            self._app.fft(src, self._spec)
            self.k_cmul(self.queue, (self._spec.size,), None, self._spec.data,
                        self._otf_d.data, self._otf_size, np.int32(conj))
            self._app.ifft(self._spec, dst)
            return
        from scipy import fft as sfft

        host = src.get(queue=self.queue, ary=self._host_buf)
        spec = sfft.rfftn(host, axes=self.axes, workers=fft_workers())
        spec *= self._otf_conj if conj else self.otf
        out = sfft.irfftn(spec, s=[self.pshape[a] for a in self.axes], axes=self.axes,
                          workers=fft_workers(), overwrite_x=True)
        dst.set(np.ascontiguousarray(out, dtype=FLOAT), queue=self.queue)

    def set_data(self, y):
        cla, q = self.cla, self.queue
        y = mirror_pad(np.asarray(y, dtype=FLOAT), self.widths)
        b = np.asarray(self.background, dtype=FLOAT)
        self.has_bg = np.int32(1 if b.ndim else 0)
        self.b_scalar = np.float32(b if not b.ndim else 0.0)
        bimg = mirror_pad(np.broadcast_to(b, self.shape), self.widths) if b.ndim else \
            np.zeros(1, FLOAT)
        self.y_d = cla.to_device(q, np.ascontiguousarray(y))
        self.b_d = cla.to_device(q, np.ascontiguousarray(bimg, dtype=FLOAT))
        self.eps = np.float32(max(float(y.max()), 1e-30) * 1e-6)
        x = rl_start(y, bimg if b.ndim else b, self.eps, self.axes, self.start, self._crop)
        self.x_d = cla.to_device(q, np.ascontiguousarray(x, dtype=FLOAT))
        self.tmp_d = cla.empty_like(self.x_d)
        self.tmp2_d = cla.empty_like(self.x_d)
        self.x_prev_d = None
        self.g1_d = self.g2_d = None
        # Biggs: new estimate, x_prev, g1 and g2, made once (see the class docstring)
        self._free = ([cla.empty_like(self.x_d) for _ in range(4)]
                      if self.acceleration is not None else [])

    def _rl(self, xk_d, out_d):
        q, n = self.queue, (self.n,)
        self._conv(xk_d, self.tmp_d, conj=False)
        self.k_ratio(q, n, None, self.tmp_d.data, self.y_d.data, self.b_d.data, self.b_scalar,
                     self.has_bg, self.eps)
        self._conv(self.tmp_d, self.tmp2_d, conj=True)
        self.k_update(q, n, None, xk_d.data, self.tmp2_d.data, out_d.data)
        return out_d

    def step(self):
        self._check_open()
        q, n = self.queue, (self.n,)
        if self.acceleration is None:
            self._rl(self.x_d, self.x_d)
            return
        alpha = 0.0
        if self.x_prev_d is not None and self.g2_d is not None:
            num = float(self.cla.dot(self.g1_d, self.g2_d, queue=q).get())
            den = float(self.cla.dot(self.g2_d, self.g2_d, queue=q).get())
            alpha = min(max(num / den, 0.0), 1.0) if den > 0 else 0.0
        if alpha > 0:  # the extrapolated point overwrites x_prev (dropped below)
            yk_d = self.x_prev_d
            self.k_extra(q, n, None, self.x_d.data, self.x_prev_d.data, yk_d.data,
                         np.float32(alpha))
        else:
            yk_d = self.x_d
        new_d = self._rl(yk_d, self._free.pop())
        g_d = self.g2_d if self.g2_d is not None else self._free.pop()
        self.k_diff(q, n, None, new_d.data, yk_d.data, g_d.data)
        if self.x_prev_d is not None:
            self._free.append(self.x_prev_d)
        self.g2_d, self.g1_d = self.g1_d, g_d
        self.x_prev_d = self.x_d
        self.x_d = new_d

    def finish(self):
        """Wait for queued device work (for timing)."""
        self.queue.finish()

    def result(self):
        return np.ascontiguousarray(self.x_d.get(queue=self.queue)[self._crop])


class OpenCLRegularised(PlanBase):
    """The regularised RL plan (``rl_tv``, ``sparse_psf``) on an OpenCL device.

    Same iteration as the reference (:class:`~...ops.regularised.RegularisedRLPlan`):
    three fused kernels per iteration (``kernels/regularised.cl``: the extrapolation;
    background, floor, chi^2 and the Poisson ratio; the prior's gradient from the
    extrapolated point's neighbours with the split-gradient update and the restart
    test) and two FFT pairs, on the device (pyvkfft) or on the host (scipy.fft, CPU
    devices), as the backend chose. The start (one convolution) is made on the host by
    the reference's own ``set_data``. Device memory: y, b (a map), x, x_prev, v, two
    work arrays and the spectrum (least squares: w and H^T(w y) too).
    """

    def __init__(self, backend, shape, psf, **kw):
        import pyopencl as cl
        import pyopencl.array as cla

        from ...ops.regularised import RegularisedRLPlan

        self.cl, self.cla = cl, cla
        self.ctx, self.queue, self.device = backend.ctx, backend.queue, backend.device
        self.device_name = backend.device_name
        # the host reference: geometry, OTF, prior weights and the start
        self._ref = RegularisedRLPlan(shape, psf, **kw)
        r = self._ref
        self.shape, self.axes, self.pshape = r.shape, r.axes, r.pshape
        self.data_term, self.momentum = r.data_term, r.momentum
        self.n = int(np.prod(self.pshape))
        nd = len(self.shape)
        self._dims = tuple(np.int32(v) for v in (1,) * (4 - nd) + tuple(self.pshape))
        off = 4 - nd
        s2, mx, tvw = np.zeros(4, np.float32), np.zeros((4, 4), np.float32), \
            np.zeros(4, np.float32)
        pr = r.prior
        self._kind = "none" if pr is None else pr.kind
        if self._kind == "hessian":
            for kind, axes, w in pr.terms:
                if kind == "2":
                    s2[axes[0] + off] += w
                else:
                    a, b = sorted(ax + off for ax in axes)
                    mx[a, b] += w
        elif self._kind == "tv":
            for a, w in pr.axes:
                tvw[a + off] = w
        ct = cl.cltypes
        self._s2 = ct.make_float4(*s2)
        self._mx = ct.make_float8(mx[0, 1], mx[0, 2], mx[0, 3], mx[1, 2], mx[1, 3], mx[2, 3],
                                  0, 0)
        self._tvw = ct.make_float4(*tvw)
        self._e2 = np.float32(pr.eps2 if pr is not None else 1.0)
        self._lam = np.float32(r.weight if pr is not None else 0.0)
        self._sparsity = np.float32(r.sparsity)
        self.local = int(min(64, self.device.max_work_group_size))
        self.local = 1 << (self.local.bit_length() - 1)
        self._gsize = ((self.n + self.local - 1) // self.local * self.local,)
        self._groups = self._gsize[0] // self.local
        prog = build_program(self.ctx, "regularised.cl", (f"-DLOCAL={self.local}",))
        self.k_extra = cl.Kernel(prog, "extrapolate")
        self.k_ratio = cl.Kernel(prog, "ratio_chi2")
        self.k_upd = cl.Kernel(prog, "update_hessian" if self._kind != "tv" else "update_tv")
        self.device_transforms = backend.transforms_on_device()
        n_arrays = 8 + (2 if self.data_term == "lsq" else 0)
        nbytes = self.n * 4
        if nbytes * n_arrays > self.device.global_mem_size or \
                2 * nbytes > self.device.max_mem_alloc_size:
            raise MemoryError(
                f"the regularised plan needs about {n_arrays} arrays of "
                f"{nbytes / 2**20:.0f} MiB on {self.device_name} "
                f"({self.device.global_mem_size / 2**20:.0f} MiB, largest allocation "
                f"{self.device.max_mem_alloc_size / 2**20:.0f} MiB); use tiles "
                f"(largedata) or the NumPy/numba backend")
        if self.device_transforms:
            from pyvkfft.opencl import VkFFTApp

            self._app = VkFFTApp(self.pshape, np.float32, self.queue, r2c=True,
                                 inplace=False, ndim=len(self.axes), norm=1,
                                 r2c_odd=bool(self.pshape[-1] % 2))
            cshape = self.pshape[:-1] + (self.pshape[-1] // 2 + 1,)
            self._spec = cla.empty(self.queue, cshape, np.complex64)
            rl = build_program(self.ctx, "richardson_lucy.cl")
            self.k_cmul = cl.Kernel(rl, "cmul")
            sub = np.ascontiguousarray(r.otf.reshape(r.otf.shape[-len(self.axes):]),
                                       dtype=np.complex64)
            self._otf_d = cla.to_device(self.queue, sub)
            self._otf_size = np.int32(sub.size)
        self._part = cla.empty(self.queue, (self._groups,), np.float32)
        self.chi2 = float("nan")
        self.k = 0

    # -- convolution ---------------------------------------------------------
    def _conv(self, src, dst, conj: bool):
        """dst = H src (H^T with conj) on the padded domain."""
        if self.device_transforms:
            self._app.fft(src, self._spec)
            self.k_cmul(self.queue, (self._spec.size,), None, self._spec.data,
                        self._otf_d.data, self._otf_size, np.int32(conj))
            self._app.ifft(self._spec, dst)
            return
        from scipy import fft as sfft

        r = self._ref
        host = src.get(queue=self.queue, ary=self._host)
        spec = sfft.rfftn(host, axes=self.axes, workers=fft_workers())
        spec *= r.otf_conj if conj else r.otf
        out = sfft.irfftn(spec, s=[self.pshape[a] for a in self.axes], axes=self.axes,
                          workers=fft_workers(), overwrite_x=True)
        del spec
        dst.set(np.ascontiguousarray(out, dtype=FLOAT), queue=self.queue)

    def set_data(self, y, background=0.0) -> None:
        self._check_open()
        cla, q, r = self.cla, self.queue, self._ref
        r.set_data(y, background)
        dev = lambda a: cla.to_device(q, np.ascontiguousarray(a, dtype=FLOAT))  # noqa: E731
        self.y_d, self.x_d = dev(r.y), dev(r.x)
        self.xp_d = self.x_d.copy(queue=q)
        b = np.asarray(r.b, dtype=FLOAT)
        self._has_b = np.int32(1 if b.ndim else 0)
        self._b0 = np.float32(0.0 if b.ndim else b)
        self.b_d = dev(b) if b.ndim else self.y_d  # a placeholder when b is a scalar
        self.v_d = cla.empty_like(self.x_d)
        self.a_d = cla.empty_like(self.x_d)  # H v, then the ratio
        self.c_d = cla.empty_like(self.x_d)  # H^T of it
        if self.data_term == "lsq":
            self.w_d, self.nd_d = dev(r.w), dev(r.num_data)
        else:
            self.w_d = self.nd_d = self.y_d
        self._floor = np.float32(r.floor)
        self._host = None if self.device_transforms else np.empty(self.pshape, FLOAT)
        self.t, self.k = 1.0, 0
        # the host copies are not needed any more: only the geometry and OTF stay
        for name in ("y", "b", "x", "x_prev", "w", "num_data"):
            r.__dict__.pop(name, None)

    def _sum(self) -> float:
        return float(self._part.get(queue=self.queue).sum(dtype=np.float64))

    def step(self) -> None:
        import math

        self._check_open()
        q, n, g = self.queue, np.int32(self.n), self._gsize
        if self.momentum and self.k > 0:
            t_next = (1 + math.sqrt(1 + 4 * self.t * self.t)) / 2
            beta = (self.t - 1) / t_next
        else:
            t_next, beta = 1.0, 0.0
        self.k_extra(q, g, (self.local,), self.x_d.data, self.xp_d.data, self.v_d.data,
                     np.float32(beta), self._floor, n)
        self._conv(self.v_d, self.a_d, conj=False)
        poisson = np.int32(self.data_term == "poisson")
        self.k_ratio(q, g, (self.local,), self.a_d.data, self.y_d.data, self.b_d.data,
                     self._b0, self._has_b, self.w_d.data, poisson, self._floor, n,
                     self._part.data)
        self.chi2 = self._sum() / self.n
        self._conv(self.a_d, self.c_d, conj=True)
        prior = (self._s2, self._mx) if self._kind != "tv" else (self._tvw,)
        self.k_upd(q, g, (self.local,), self.v_d.data, self.c_d.data, self.nd_d.data,
                   self.x_d.data, self.xp_d.data, *self._dims, *prior, self._e2, poisson,
                   self._lam, self._sparsity, self._floor, self._part.data)
        dot = self._sum()
        if self.momentum and self.k > 0 and dot < 0:
            t_next = 1.0  # adaptive restart
        self.t = t_next
        self.x_d, self.xp_d = self.xp_d, self.x_d  # xp's buffer holds the new estimate
        self.k += 1

    def finish(self):
        """Wait for queued device work (for timing)."""
        self.queue.finish()

    def result(self):
        self._check_open()
        return np.ascontiguousarray(self.x_d.get(queue=self.queue)[self._ref._crop])
