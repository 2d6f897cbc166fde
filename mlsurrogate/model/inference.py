"""Batched LDOS inference with torch. Stage: model.

The input standardisation is applied explicitly (folding it into the first layer would cancel large
terms when a feature's mean is much larger than its spread); the output scaling is folded into the
last linear layer, where it costs no precision. Runs under ``torch.inference_mode``. Thread count is
set by the caller (see :func:`mlsurrogate.parallel.torch_threads_per_rank`).
"""
import numpy as np

from ..errors import ConvergenceError

__all__ = ["LdosNetwork"]


class LdosNetwork:
    """Descriptors (m, K) -> LDOS (m, n_energies), 1/(eV Å^3), float64 numpy. Local.

    dtype : "float64" (default; results independent of batching to ~1e-16) or "float32" (faster,
    ~1e-7 relative noise that depends on batch composition).
    """

    def __init__(self, model, dtype="float64", batch_size=8192, device="cpu"):
        import torch
        self._torch = torch
        self.dtype = {"float64": torch.float64, "float32": torch.float32}[dtype]
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.clamp = model.clamp_negative
        w = [np.asarray(x, dtype=np.float64) for x in model.weights]
        b = [np.asarray(x, dtype=np.float64) for x in model.biases]
        # output: (W h + b) * a + o = (a[:, None] W) h + (a b + o)
        a = np.asarray(model.output_scale, dtype=np.float64)
        w[-1] = w[-1] * a[:, None]
        b[-1] = b[-1] * a + np.asarray(model.output_shift, dtype=np.float64)
        layers = []
        for wi, bi, act in zip(w, b, model.activations):
            lin = torch.nn.Linear(wi.shape[1], wi.shape[0], dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(wi))
                lin.bias.copy_(torch.from_numpy(bi))
            layers.append(lin)
            if act is not None:
                layers.append(getattr(torch.nn, act)())
        self.net = torch.nn.Sequential(*layers).to(device=self.device, dtype=self.dtype).eval()
        self._shift = torch.from_numpy(np.asarray(model.input_shift, dtype=np.float64)).to(self.device)
        self._scale = torch.from_numpy(np.asarray(model.input_scale, dtype=np.float64)).to(self.device)
        self.n_out = w[-1].shape[0]

    def __call__(self, descriptors):
        torch = self._torch
        x = np.asarray(descriptors)
        out = np.empty((x.shape[0], self.n_out), dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, x.shape[0], self.batch_size):
                xb = torch.from_numpy(np.ascontiguousarray(x[start:start + self.batch_size], dtype=np.float64))
                xb = (xb.to(self.device) - self._shift) * self._scale
                yb = self.net(xb.to(self.dtype))
                if self.clamp:
                    yb = torch.clamp_min(yb, 0.0)
                out[start:start + xb.shape[0]] = yb.to("cpu", torch.float64).numpy()
        if not np.all(np.isfinite(out)):
            raise ConvergenceError("the network produced non-finite LDOS values (NaN/inf); check the "
                                   "model weights and the input structure")
        return out
