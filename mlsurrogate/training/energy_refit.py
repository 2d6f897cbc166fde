"""Refit a trained network's last layer so every training snapshot's band free energy and electron count are exact.

Why: the point-wise LDOS loss leaves each snapshot's band energy off by ~1 meV/atom, independently between
snapshots, and an energy difference such as a stacking-fault energy is the difference of two such errors (a
5–20 % spread between training seeds on Be; models/README.md). The last layer is linear in the hidden features
h (n, H+1, with a 1 for the bias), so with the hidden layers frozen the smallest change of the trained layer Θ₀
that meets linear constraints on each snapshot's DOS, measured by the training MSE of the scaled LDOS it adds, is a
small linear problem:

    minimise |H (Θ - Θ₀)|² + ε |Θ - Θ₀|²  subject to  <A_k, Θ> = t_k     (Θ: (H+1, n_energies), scaled outputs)

Constraints, per training snapshot s, at the DFT LDOS's own Fermi level mu_s (fixed):
  N:  Σ_i D_i w^occ_i(mu_s) = N_s                       (electron count; keeps the model's E_F at mu_s)
  Ω:  Σ_i D_i [w^band_i + w^entropy_i](mu_s) = the DFT value (the band energy minus mu N, and -TS), plus the
      snapshot's free_energy_offset_ev (DFT's total free energy minus its LDOS target's; 0 unless [[train]]
      free_energy gives it): with it, the model's total free energy aims at DFT's instead of the target's
with D = dV Σ_r LDOS(r) the snapshot's DOS. To first order in the LDOS error, the model's band free energy
(band energy - TS, E_F solved for N) then equals the DFT LDOS's. The density terms (Hartree, XC) are not
constrained: on the Be training cells they are < 0.2 meV/atom of a 1-2 meV/atom error (models/README.md).
Staying next to Θ₀ matters: re-solving the whole layer by least squares meets the constraints as well, but moves
the layer along directions the training points hardly see, and held-out cells with it (Be: a rattled cell by
17 meV/atom; benchmarks/results/be_model/session26/).

Solution: Θ = Θ₀ - K⁻¹ Σ_k λ_k A_k with K = HᵀH + ε, (M + diag(1/ρ)) λ = <A, Θ₀> - t, M_jk = <A_j, K⁻¹ A_k>
(ρ: the soft constraints' weights). Units: LDOS 1/(eV Å³), DOS 1/eV, energies eV. Local (training runs as one
process).
"""
from dataclasses import dataclass

import numpy as np

from ..electronic.dos import fermi_level
from ..electronic.fermi_dirac import band_weights, entropy_weights, occupation_weights
from ..errors import InputError
from ..units import kelvin_to_ev

__all__ = ["RefitReport", "hidden_features", "refit_last_layer"]


@dataclass
class RefitReport:
    """Per training snapshot: band free energy and electron count errors (model - aim, at the DFT E_F; the aim is
    the DFT LDOS's band free energy plus the snapshot's free-energy offset) before and after, eV and electrons;
    the offsets, eV; training-point MSE of the scaled LDOS before and after."""
    names: list
    omega_error_before_ev: np.ndarray
    omega_error_after_ev: np.ndarray
    count_error_before: np.ndarray
    count_error_after: np.ndarray
    train_mse_before: float
    train_mse_after: float
    free_energy_offsets_ev: np.ndarray = None

    def as_dict(self):
        offsets = self.free_energy_offsets_ev if self.free_energy_offsets_ev is not None else [0.0] * len(self.names)
        per = {n: {"band_free_energy_error_before_eV": float(a), "band_free_energy_error_after_eV": float(b),
                   "electron_count_error_before": float(c), "electron_count_error_after": float(d),
                   "free_energy_offset_eV": float(o)}
               for n, a, b, c, d, o in zip(self.names, self.omega_error_before_ev, self.omega_error_after_ev,
                                           self.count_error_before, self.count_error_after, offsets)}
        return {"snapshots": per, "train_mse_before": self.train_mse_before,
                "train_mse_after": self.train_mse_after}


def hidden_features(model, x, batch=65536):
    """Inputs of the last layer, (n, H) float64, for descriptors x (n, K), in float64. Local."""
    import torch
    from ..model.inference import _activation
    layers = [(torch.from_numpy(np.asarray(w, np.float64)), torch.from_numpy(np.asarray(b, np.float64)),
               _activation(torch, a)) for w, b, a in zip(model.weights[:-1], model.biases[:-1], model.activations[:-1])]
    shift, scale = np.asarray(model.input_shift, np.float64), np.asarray(model.input_scale, np.float64)
    out = np.empty((x.shape[0], model.weights[-1].shape[1]))
    with torch.inference_mode():
        for s in range(0, x.shape[0], batch):
            h = torch.from_numpy((np.asarray(x[s:s + batch], np.float64) - shift) * scale)
            for w, b, act in layers:
                h = torch.nn.functional.linear(h, w, b)
                h = act(h) if act is not None else h
            out[s:s + batch] = h.numpy()
    return out


def _constraint_weights(energies, dos_dft, n_electrons, temperature_k):
    """(w_occ, w_omega) at the DFT DOS's Fermi level: weights (eV, eV²) on the energy nodes."""
    mu = fermi_level(energies, dos_dft, n_electrons, temperature_k)
    kt = kelvin_to_ev(temperature_k)
    return occupation_weights(energies, mu, kt), band_weights(energies, mu, kt) + entropy_weights(energies, mu, kt)


def refit_last_layer(model, snapshots, masks, energy_grid, temperature_k, tolerance_ev_per_atom=5e-5,
                     count_tolerance_per_atom=1e-4, ridge=1e-4):
    """A copy of ``model`` whose last layer is the smallest change of its own that meets the constraints
    (module docstring); ``ridge`` is ε relative to the mean diagonal of HᵀH.

    snapshots : training Snapshots (descriptors (n, K), ldos (n, n_energies) 1/(eV Å³), voxel_volume Å³,
    n_electrons); masks : per snapshot, True for points held out for validation (not fitted; they do count in
    the snapshot's DOS). The constraints are soft: missing one by tolerance_ev_per_atom (Ω) or
    count_tolerance_per_atom (N) per atom costs as much as the old layer's whole squared error; in practice
    they are met to far below that unless two snapshots ask for different energies of the same features.
    Returns (new Model, RefitReport). InputError if the problem is singular.
    """
    import copy
    energies = energy_grid.energies
    scale = np.broadcast_to(np.asarray(model.output_scale, np.float64), (len(energies),))
    shift = np.broadcast_to(np.asarray(model.output_shift, np.float64), (len(energies),))
    n_hidden = model.weights[-1].shape[1] + 1
    G = np.zeros((n_hidden, n_hidden))
    C = np.zeros((n_hidden, len(energies)))
    rows, targets, tolerances, yy, n_fit = [], [], [], 0.0, 0
    theta_old = np.vstack([np.asarray(model.weights[-1], np.float64).T, np.asarray(model.biases[-1], np.float64)])
    for snap, held in zip(snapshots, masks):
        h = np.hstack([hidden_features(model, snap.descriptors), np.ones((snap.descriptors.shape[0], 1))])
        fit = ~held
        y = (snap.ldos[fit] - shift) / scale
        G += h[fit].T @ h[fit]
        C += h[fit].T @ y
        yy, n_fit = yy + float(np.sum(y * y)), n_fit + int(fit.sum())
        dv = snap.voxel_volume
        dos_dft = snap.ldos.sum(axis=0) * dv
        base = dv * h.shape[0] * shift      # the output shift's share of the DOS
        s_sum = h.sum(axis=0)               # Σ_r h_r over the whole snapshot
        for w, tol, offset in zip(_constraint_weights(energies, dos_dft, snap.n_electrons, temperature_k),
                                  (count_tolerance_per_atom, tolerance_ev_per_atom), (0.0, snap.free_energy_offset_ev)):
            rows.append(dv * np.outer(s_sum, scale * w))          # <A, Θ> = dV Σ_E w_E σ_E (Θᵀ S)_E
            targets.append(float(w @ dos_dft - w @ base) + offset)
            tolerances.append(tol * snap.n_atoms)
    from scipy.linalg import cho_factor, cho_solve
    try:
        factor = cho_factor(G + np.eye(n_hidden) * (ridge * np.trace(G) / n_hidden))
    except np.linalg.LinAlgError:
        raise InputError("energy refit: the hidden features of the training points are linearly dependent "
                         "(Gram matrix not positive definite)") from None
    A = np.stack(rows)                                             # (k, H+1, n_energies)
    GA = np.stack([cho_solve(factor, a) for a in A])
    M = np.einsum("jhe,khe->jk", A, GA)
    t = np.array(targets)
    residual = np.einsum("khe,he->k", A, theta_old) - t
    sse = lambda th: np.sum(th * (G @ th)) - 2 * np.sum(th * C) + yy
    # soft constraints: a miss of one tolerance costs as much as the old model's whole squared error
    rho = sse(theta_old) / np.array(tolerances) ** 2
    try:
        lam = np.linalg.solve(M + np.diag(1.0 / rho), residual)
    except np.linalg.LinAlgError:
        raise InputError("energy refit: the snapshot constraints are linearly dependent (two identical "
                         "training snapshots?)") from None
    theta = theta_old - np.einsum("k,khe->he", lam, GA)
    err = lambda th: np.einsum("khe,he->k", A, th) - t
    e_old, e_new = err(theta_old), err(theta)
    mse = lambda th: sse(th) / (n_fit * len(energies))
    new = copy.deepcopy(model)
    dtype = np.asarray(model.weights[-1]).dtype
    new.weights[-1] = np.ascontiguousarray(theta[:-1].T).astype(dtype)
    new.biases[-1] = theta[-1].astype(dtype)
    new.validate()
    report = RefitReport(names=[snap.name for snap in snapshots],
                         omega_error_before_ev=e_old[1::2], omega_error_after_ev=e_new[1::2],
                         count_error_before=e_old[0::2], count_error_after=e_new[0::2],
                         train_mse_before=float(mse(theta_old)), train_mse_after=float(mse(theta)),
                         free_energy_offsets_ev=np.array([snap.free_energy_offset_ev for snap in snapshots]))
    return new, report
