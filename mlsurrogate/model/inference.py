"""Batched LDOS inference with torch, in one of three precisions. Stage: model.

The input standardisation is applied explicitly in float64 (folding it into the first layer would
cancel large terms when a feature's mean is much larger than its spread); the output scaling is folded
into the last linear layer, where it costs no precision. Runs under ``torch.inference_mode``. Thread
count is set by the caller (see :func:`mlsurrogate.parallel.torch_threads_per_rank`).

Precisions (the accuracy each costs is measured in README "Precision"; benchmarks/precision.py):

* ``float64``: float64 descriptors and network; rank-count independent to ~1e-15.
* ``float32``: float32 descriptor arithmetic, float32 network (2x faster network).
* ``bfloat16`` (default): float32 descriptors; the hidden layers multiply bfloat16 numbers with float32
  accumulation (oneDNN, AVX-512 BF16 / AMX where the CPU has them); the first and the last layer stay
  float32 (the LDOS is not rounded to 8 bits). ~3.7x faster network than float64. Needs
  :meth:`LdosNetwork.calibrate` (bias correction, model/calibration.py) before use.

Every batch has the same shape (the last one is padded), so a point's LDOS does not depend on which
other points share its batch: results do not depend on the rank count in any precision.
"""
import logging

import numpy as np

from ..errors import ConvergenceError

log = logging.getLogger("mlsurrogate")

__all__ = ["LdosNetwork", "PRECISIONS", "DEFAULT_PRECISION", "PRECISION_HELP", "descriptor_precision",
           "network_flops_per_point"]

PRECISIONS = ("float64", "float32", "bfloat16")
DEFAULT_PRECISION = "bfloat16"
PRECISION_HELP = ("arithmetic of descriptors and network (README, Precision). bfloat16 (default): float32 "
                  "descriptors, bfloat16 hidden layers with float32 sums, bias-corrected on a fixed sample of grid "
                  "points; measured total-energy change <= 0.2 meV/atom vs float64; network 4x faster than float64 "
                  "on CPUs with AVX512-BF16 or AMX, slow without (use float32 there). float32: < 0.001 meV/atom, "
                  "network 2x faster. float64: the reference")


def descriptor_precision(precision):
    """Arithmetic of the native descriptor kernel for a network ``precision``: 'float64' or 'float32'."""
    return "float64" if precision == "float64" else "float32"


def cpu_has_native_bf16():
    """True/False: this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); None if unknown (not Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return None
    return "avx512_bf16" in flags or "amx_bf16" in flags


def network_flops_per_point(model):
    """Floating-point operations per grid point of ``model``'s linear layers (2 per multiply-add)."""
    return float(sum(2 * np.asarray(w).shape[0] * np.asarray(w).shape[1] for w in model.weights))


def _layer_dtypes(torch, precision, n_layers):
    """torch dtype of each linear layer's weights and inputs."""
    if precision == "float64":
        return [torch.float64] * n_layers
    if precision == "float32" or n_layers < 3:
        return [torch.float32] * n_layers
    return [torch.float32] + [torch.bfloat16] * (n_layers - 2) + [torch.float32]


def _activation(torch, name):
    """The torch activation module ``name`` (in place where it can be: no extra batch-sized buffer), or None."""
    if name is None:
        return None
    try:
        return getattr(torch.nn, name)(inplace=True)
    except TypeError:
        return getattr(torch.nn, name)()


class LdosNetwork:
    """Descriptors (m, K) -> LDOS (m, n_energies), 1/(eV Å^3), float64 numpy. Local.

    precision : one of :data:`PRECISIONS` (``dtype`` is its old name). batch_size : grid points per
    network call (~2048 keeps the 800-wide activations in this CPU's L2/L3 caches). device : a torch
    device (model/device.py): the network runs there, input and output stay float64 numpy on the host.
    """

    def __init__(self, model, dtype="float64", batch_size=2048, device="cpu"):
        import torch
        self._torch = torch
        if dtype not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {dtype!r}")
        self.precision = dtype
        self.device = torch.device(device)
        if dtype == "bfloat16" and self.device.type == "cpu" and cpu_has_native_bf16() is False:
            log.warning("this CPU has no AVX512-BF16/AMX: bfloat16 is emulated, slower than --precision float32")
        self.batch_size = int(batch_size)
        self.clamp = model.clamp_negative
        self.flops_per_point = network_flops_per_point(model)
        w = [np.asarray(x, dtype=np.float64) for x in model.weights]
        b = [np.asarray(x, dtype=np.float64) for x in model.biases]
        # output: (W h + b) * a + o = (a[:, None] W) h + (a b + o)
        a = np.asarray(model.output_scale, dtype=np.float64)
        w[-1] = w[-1] * a[:, None]
        b[-1] = b[-1] * a + np.asarray(model.output_shift, dtype=np.float64)
        dtypes = _layer_dtypes(torch, dtype, len(w))
        self.dtype = dtypes[-1]  # of the LDOS the network returns
        self._layers, self._exact = [], []
        for wi, bi, act, dt in zip(w, b, model.activations, dtypes):
            # the bias correction's reference network: float32 (within ~4e-7 of float64, README "Precision";
            # 100x below the bfloat16 error it corrects, at half float64's cost)
            self._exact.append((torch.from_numpy(wi).to(self.device, torch.float32),
                                torch.from_numpy(bi).to(self.device, torch.float32)))
            module = _activation(torch, act)
            self._layers.append((torch.from_numpy(wi).to(self.device, dt), torch.from_numpy(bi).to(self.device, dt),
                                 module))
        self._shift = torch.from_numpy(np.asarray(model.input_shift, dtype=np.float64)).to(self.device)
        self._scale = torch.from_numpy(np.asarray(model.input_scale, dtype=np.float64)).to(self.device)
        self.n_out = w[-1].shape[0]
        self._buffers = None  # batch buffers of the CPU path, made on first use
        if not self.needs_calibration:
            self._exact = None  # the reference copies are only for the bias correction

    @property
    def needs_calibration(self):
        """True when some layer runs in bfloat16: call :meth:`calibrate` before use."""
        return any(w.dtype == self._torch.bfloat16 for w, _, _ in self._layers)

    def calibrate(self, comm, descriptors):
        """Bias correction on a sample (m, K) of descriptors (model/calibration.py). Collective."""
        from .calibration import correct_biases
        torch = self._torch
        x = torch.from_numpy(np.ascontiguousarray(descriptors, dtype=np.float64)).to(self.device)
        with torch.inference_mode():
            self._layers = correct_biases(comm, torch, self._layers, self._exact,
                                          (x - self._shift) * self._scale)
        self._exact = None  # reference copies no longer needed
        self._buffers = None

    def _forward(self, x):
        """Standardised input (n, K) float64 tensor -> LDOS (n, n_out) tensor (float32 or float64)."""
        F = self._torch.nn.functional
        for wi, bi, act in self._layers:
            x = F.linear(x.to(wi.dtype), wi, bi)
            if act is not None:
                x = act(x)
        if self.clamp:
            x = self._torch.clamp_min_(x, 0.0)
        return x

    def _batch_buffers(self):
        """Batch-sized tensors reused by every CPU batch: the standardised input, and per layer its input
        cast (None where the dtype does not change) and its output. Allocated once: fresh activations
        per batch would each be a new mmap (parallel.pin_mmap_threshold) and page-fault (~20 % slower)."""
        if self._buffers is None:
            torch, bs = self._torch, self.batch_size
            x = torch.empty((bs, self._shift.shape[0]), dtype=torch.float64)
            layers, prev = [], torch.float64
            for w, _, _ in self._layers:
                cast = torch.empty((bs, w.shape[1]), dtype=w.dtype) if w.dtype != prev else None
                layers.append((cast, torch.empty((bs, w.shape[0]), dtype=w.dtype)))
                prev = w.dtype
            self._buffers = (x, layers)
        return self._buffers

    def _forward_cpu(self, xb):
        """Raw descriptors (n <= batch, K) float64 tensor -> LDOS (n, n_out) view of a reused buffer.

        The same arithmetic as ``_forward((xb - shift) * scale)`` (F.linear is addmm(b, x, w^T)), bit for bit.
        """
        torch = self._torch
        x0, layers = self._batch_buffers()
        n = xb.shape[0]
        x = torch.sub(xb, self._shift, out=x0[:n]).mul_(self._scale)
        for (w, b, act), (cast, z) in zip(self._layers, layers):
            if cast is not None:
                x = cast[:n].copy_(x)
            x = torch.addmm(b, x, w.t(), out=z[:n])
            if act is not None:
                x = act(x)
        if self.clamp:
            x = torch.clamp_min_(x, 0.0)
        return x

    def __call__(self, descriptors):
        if self.device.type != "cpu":
            return self._call_on_device(descriptors)
        torch = self._torch
        x = np.asarray(descriptors)
        m, bs = x.shape[0], self.batch_size
        out = np.empty((m, self.n_out), dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, m, bs):
                n = min(bs, m - start)
                xb = torch.from_numpy(np.ascontiguousarray(x[start:start + n], dtype=np.float64))
                if n < bs and self.precision != "float64":
                    xb = torch.cat([xb, xb.new_zeros((bs - n, xb.shape[1]))])  # same GEMM shapes as full batches
                yb = self._forward_cpu(xb)[:n]
                torch.from_numpy(out[start:start + n]).copy_(yb)
        if not np.all(np.isfinite(out)):
            raise ConvergenceError("the network produced non-finite LDOS values (NaN/inf); check the "
                                   "model weights and the input structure")
        return out

    def _call_on_device(self, descriptors):
        """:meth:`__call__` on an accelerator: one host-to-device copy of the input, the batches (same
        padding as on the CPU) into a device buffer, one device-to-host copy of the LDOS."""
        torch = self._torch
        m, bs = len(descriptors), self.batch_size
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(descriptors, dtype=np.float64)).to(self.device)
            x = (x - self._shift) * self._scale
            out = torch.empty((m, self.n_out), dtype=torch.float64, device=self.device)
            for start in range(0, m, bs):
                n = min(bs, m - start)
                xb = x[start:start + n]
                if n < bs and self.precision != "float64":
                    xb = torch.cat([xb, xb.new_zeros((bs - n, xb.shape[1]))])
                out[start:start + n] = self._forward(xb)[:n]
            finite = bool(torch.isfinite(out).all())
            host = torch.empty(out.shape, dtype=out.dtype, pin_memory=True)  # pinned: full-speed copy
            out = host.copy_(out).numpy()
        if not finite:
            raise ConvergenceError("the network produced non-finite LDOS values (NaN/inf); check the "
                                   "model weights and the input structure")
        return out
