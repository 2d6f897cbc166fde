"""The LDOS network in float64 with its backward pass (vector-Jacobian products). Stage: forces.

Same function as model/inference.LdosNetwork at precision float64: standardised input, linear layers and
activations, output scaling folded into the last layer, negative LDOS clamped to zero. Local.
"""
import numpy as np

__all__ = ["NetworkBackward"]


class NetworkBackward:
    """descriptors (m, K) -> LDOS (m, n_e) and d(Σ L·g_c)/d descriptors for several g_c."""

    def __init__(self, model):
        import torch
        from ..model.inference import _activation
        self._torch = torch
        w = [np.asarray(x, dtype=np.float64) for x in model.weights]
        b = [np.asarray(x, dtype=np.float64) for x in model.biases]
        a = np.asarray(model.output_scale, dtype=np.float64)
        w[-1] = w[-1] * a[:, None] if a.ndim else w[-1] * a
        b[-1] = b[-1] * a + np.asarray(model.output_shift, dtype=np.float64)
        self._layers = [(torch.from_numpy(wi), torch.from_numpy(bi), None if act is None else getattr(torch.nn, act)())
                        for wi, bi, act in zip(w, b, model.activations)]
        self._shift = torch.from_numpy(np.asarray(model.input_shift, dtype=np.float64))
        self._scale = torch.from_numpy(np.asarray(model.input_scale, dtype=np.float64))
        self.clamp = model.clamp_negative

    def _forward(self, x):
        F = self._torch.nn.functional
        y = (x - self._shift) * self._scale
        for wi, bi, act in self._layers:
            y = F.linear(y, wi, bi)
            if act is not None:
                y = act(y)
        return self._torch.clamp_min(y, 0.0) if self.clamp else y

    def __call__(self, descriptors, grad_fn):
        """(LDOS (m, n_e), [d/dx of Σ L·g_c] each (m, K)) with g_c = grad_fn(LDOS) -> list of (m, n_e) arrays."""
        torch = self._torch
        with torch.enable_grad():
            x = torch.from_numpy(np.ascontiguousarray(descriptors, dtype=np.float64)).requires_grad_(True)
            y = self._forward(x)
            ldos = y.detach().numpy()
            gs = grad_fn(ldos)
            out = []
            for c, g in enumerate(gs):
                (gx,) = torch.autograd.grad(y, x, torch.from_numpy(np.ascontiguousarray(g, dtype=np.float64)),
                                            retain_graph=c + 1 < len(gs))
                out.append(gx.numpy())
        return ldos, out
