"""Forces of a prediction: the second sweep over the grid and the position-only terms. Stage: forces.

Collective over ``comm``. After ``predict``'s energy (pass 1) this recomputes, pass by pass and batch by
batch, the descriptors (float64 native kernel, U totals kept for the batch), runs the network forward and
backward (float64, one channel: λ is known from pass 1's dn/dμ), and lets the kernel's adjoint turn dF/dB
into dF/dR for the atoms near the rank's block. Memory per rank: one batch's descriptors, U totals (8 KB per
point at twojmax 10) and network activations, plus U(r) and dn/dμ(r) (8 bytes each per local grid point, the
density's size) and O(N) per-atom arrays. The total is summed with Allreduce. Units: eV, Å; forces in eV/Å.
"""
import logging
import time

import numpy as np

from ..descriptors.field import open_descriptors
from ..energy.core_charge import core_density_g
from ..energy.plane_waves import PlaneWaveGrid
from ..energy.redistribute import redistribute
from ..energy.terms import SIGMA_GRID_STEPS, _gaussians_g, ewald_layout
from ..units import ANGSTROM3_PER_BOHR3, BOHR_ANGSTROM, RYDBERG_EV, kelvin_to_ev
from .electronic import LdosGradient
from .ewald_forces import ewald_gradient
from .network import NetworkBackward
from .potentials import core_charge_gradient, density_potential

__all__ = ["check_force_options", "position_gradients", "descriptor_sweep", "predict_forces", "remove_net_force"]

log = logging.getLogger("mlsurrogate")
RY_PER_BOHR_TO_EV_PER_A = RYDBERG_EV / BOHR_ANGSTROM


def check_force_options(options):
    """InputError (raised on every rank alike) unless ``options`` (PredictOptions) allow forces. Local."""
    from ..errors import InputError
    if options.energy is None:
        raise InputError("forces need the total energy: drop --no-energy")
    if not options.keep_density:
        raise InputError("forces need the density (the potentials of the energy terms)")
    if options.descriptors != "native":
        raise InputError("forces need the native descriptors (the adjoint is in the native kernel)")


def position_gradients(comm, energy_plan, grid, decomp, density):
    """(U (local points,) eV·Å³ = ∂E_rest/∂n per grid value on ``decomp``'s block in flat order,
    {term: (n, 3) dE/dR in eV/Å} for the core charge and Ewald). density: this rank's block, 1/Å³. Collective."""
    inputs = energy_plan.inputs
    pw = PlaneWaveGrid(comm, grid, inputs.cell_bohr, energy_plan.ecutrho_ry)
    dens_b = redistribute(comm, density * ANGSTROM3_PER_BOHR3, decomp.local_start, pw.real_start, pw.real_shape)
    steps = np.linalg.norm(inputs.cell_bohr, axis=1) / np.asarray(pw.shape)
    sigma = SIGMA_GRID_STEPS * float(steps.max())
    core_species = sorted(s for s, pp in inputs.pseudos.items() if pp.core_charge is not None and s in inputs.species)
    # the core charges' radial form factors: the energy stage's tables (tabulating is most of this stage's time)
    forms = inputs.core_form_factors(core_species, np.sqrt(pw.ecutrho))
    core_g = core_density_g(pw, _gaussians_g(pw, inputs, core_species, sigma), inputs.pseudos, sigma, forms)
    v, phi = density_potential(pw, dens_b, core_g, inputs.functional)
    del dens_b
    dv_a = abs(np.linalg.det(inputs.cell_A)) / np.prod(grid)
    u = redistribute(comm, v * (RYDBERG_EV * dv_a), pw.real_start, decomp.local_start, decomp.local_shape)
    terms = {"core_charge": core_charge_gradient(pw, inputs, phi, sigma, forms) * RY_PER_BOHR_TO_EV_PER_A}
    own, e_sigma, e_shape = ewald_layout(inputs.cell_bohr, inputs.natoms, pw.shape)
    terms["ewald"] = ewald_gradient(comm, inputs, e_sigma, e_shape) * RY_PER_BOHR_TO_EV_PER_A
    return u.ravel(), terms


def descriptor_sweep(comm, backend, network, decomp, plan, ldos_grad, u, dn_dmu, batch_size=2048):
    """dF/dR (n, 3) eV/Å through the LDOS (descriptors, network, Fermi level). Collective.

    u, dn_dmu : U(r) (eV Å³) and dn/dμ(r) (1/(eV Å³)) of this rank's block in flat order. λ first (one
    Allreduce), then batch by batch of ``batch_size`` points: descriptors with the kernel's U totals kept
    (8 KB per point at twojmax 10, one batch at a time), network forward and backward of dF/dL = A + λ B,
    and the adjoint from those U."""
    from mpi4py import MPI
    lam = ldos_grad.lam(comm.allreduce(ldos_grad.mu_sum(dn_dmu, u), op=MPI.SUM))
    grad = np.zeros((backend.natoms_total, 3))
    for offset in plan.offsets:
        pass_idx = plan.block_indices(decomp, offset)
        for s in range(0, len(pass_idx), batch_size):
            idx = pass_idx[s:s + batch_size]
            desc, u_totals = backend.compute_points(idx, keep_u=True)
            a, b = ldos_grad.parts(u[decomp.local_flat_index(*idx.T)])
            _, (beta,) = network(desc, lambda l: (a + lam * b,))
            grad += backend.adjoint_points(idx, beta[:, None, :], u_totals)[0]
    return comm.allreduce(grad, op=MPI.SUM)


def remove_net_force(forces):
    """(forces minus their mean over atoms, the net force Σ_I F_I (3,)), eV/Å. Local.

    The energy is evaluated on a grid fixed to the cell, so a rigid translation changes it slightly (the
    egg-box effect) and its exact gradient has a small net force. Like Quantum ESPRESSO (PW/src/forces.f90,
    "impose total force = 0": each component minus sumfor / nat) we subtract the mean force from every atom.
    """
    net = np.asarray(forces, dtype=np.float64).sum(axis=0)
    return forces - net / len(forces), net


def predict_forces(comm, atoms, model, energy_plan, grid, decomp, plan, density, dn_dmu, dos, mu, temperature_k,
                   batch_size=2048, timings=None):
    """Exact forces -dF/dR (n, 3) eV/Å on the atoms of ``atoms`` (input order; net force not removed: see
    :func:`remove_net_force`) and {term: dE/dR}. Collective.

    density : this rank's block of the predicted density (1/Å³); dn_dmu : its μ-derivative at fixed LDOS
    (1/(eV Å³), same block, ``DensityAccumulator.density(mu, dwo)``); dos (n_e,) global, mu (eV) of pass 1.
    """
    t0 = time.perf_counter()
    u, terms = position_gradients(comm, energy_plan, grid, decomp, density)
    t1 = time.perf_counter()
    dv = abs(np.linalg.det(atoms.cell.array)) / decomp.global_size
    ldos_grad = LdosGradient.create(model.energy_grid.energies, dos, mu, kelvin_to_ev(temperature_k), dv)
    network = NetworkBackward(model)
    with open_descriptors(comm, "native", atoms, model.species, model.descriptors, decomp,
                          precision="float64") as backend:
        terms["ldos"] = descriptor_sweep(comm, backend, network, decomp, plan, ldos_grad, u,
                                         np.asarray(dn_dmu, dtype=np.float64).ravel(), batch_size)
    if timings is not None:
        timings["forces_potentials"] = t1 - t0
        timings["forces_sweep"] = time.perf_counter() - t1
    gradient = sum(terms.values())
    return -gradient, terms
