"""Bias correction of the bfloat16 network on a fixed sample of the structure's grid points.

Rounding the weights to bfloat16 (8-bit mantissa) shifts every layer's output by a systematic
~1e-3 relative amount that does not average out over grid points (a band-energy change of a few
meV/atom for the production-shaped model), while the rounding of the activations mostly does. The
correction ("bias correction" of post-training quantisation): layer by layer, on the sample, add to
the bias the mean of (reference layer output - low-precision layer output), so the low-precision
network's mean output over the sample equals the reference's. The reference is the float32 network:
it is within ~4e-7 of float64 (README "Precision"), 100x below the error corrected here, at half
float64's cost (the sample is a fixed cost of every run: ~1.3 µs per grid point at 128 atoms,
descriptors included). The sample is a fixed sub-lattice of the global grid (~``target`` points),
so the correction does not depend on the rank count.
"""
import numpy as np

__all__ = ["calibration_indices", "calibration_descriptors", "correct_biases"]


def calibration_indices(decomp, target=4096):
    """Global grid indices (m, 3) int64 of this rank's points of the calibration sub-lattice. Local.

    The sub-lattice takes every s-th point along each axis, s = max(1, floor((N / target)^(1/3))),
    the same on any rank count.
    """
    s = max(1, int((decomp.global_size / target) ** (1.0 / 3.0)))
    axes = []
    for start, n in zip(decomp.local_start, decomp.local_shape):
        first = -(-start // s) * s
        axes.append(np.arange(first, start + n, s, dtype=np.int64))
    grids = np.meshgrid(*axes, indexing="ij")
    return np.stack([g.ravel() for g in grids], axis=1)


def calibration_descriptors(comm, atoms, model, decomp, precision="float32"):
    """Native descriptors (m, K) float64 of this rank's calibration points. Collective over ``comm``."""
    from ..descriptors.field import open_descriptors
    with open_descriptors(comm, "native", atoms, model.species, model.descriptors, decomp,
                          precision=precision) as calc:
        return calc.compute_points(calibration_indices(decomp))


def correct_biases(comm, torch, layers, exact, x):
    """Shift the biases of ``layers`` so their mean outputs over all ranks' samples match ``exact``.

    layers : [(weight, bias, activation)] torch tensors in the working precision, biases replaced
    here; exact : [(weight, bias)] reference tensors (the reference runs in their dtype, float32 or
    float64); x : (m, K) standardised float64 input tensor.
    Collective over ``comm`` (one allreduce per layer).
    """
    from mpi4py import MPI
    F = torch.nn.functional
    n = comm.allreduce(int(x.shape[0]), op=MPI.SUM)
    if n == 0:
        return layers
    ref, low, out = x.to(exact[0][0].dtype), x, []
    for (w, b, act), (w_ref, b_ref) in zip(layers, exact):
        z_ref = F.linear(ref, w_ref, b_ref)
        z_low = F.linear(low.to(w.dtype), w, b)
        diff = z_ref.to(torch.float64) - z_low.to(torch.float64)
        shift = comm.allreduce(diff.sum(dim=0).cpu().numpy(), op=MPI.SUM) / n
        b = (b.to(torch.float64) + torch.from_numpy(shift).to(b.device)).to(b.dtype)
        z_low = F.linear(low.to(w.dtype), w, b)
        out.append((w, b, act))
        ref, low = (act(z_ref), act(z_low)) if act is not None else (z_ref, z_low)
    return out
