"""Forces: the exact derivative of the surrogate's free energy (issue 15).

The networks are piecewise linear (ReLU, LeakyReLU), so F(R) is only piecewise smooth: it has kinks
wherever a unit switches at some grid point, densely along any path. A central difference with a 1e-4 Å
step straddles many of them and differs from the derivative by up to ~7e-4 eV/Å (README, Forces). So the
checks use one-sided differences with a 1e-7 Å step (round-off ~1e-5 eV/Å, curvature error ~1e-7 eV/Å;
on the tilted cell below 1e-5 Å steps still straddle kinks):
the force must equal the forward or the backward difference (the side without a kink; both agree when
neither step crosses one). Coarse grids with a lowered ecutrho keep each run to seconds.

The written forces are the exact derivative minus its mean over atoms (the grid's egg-box net force,
removed as Quantum ESPRESSO does; results.json net_force_removed_eV_per_A). On the production grid of
Be2 (18x18x27, 160 Ry) the removed mean is below 2e-5 eV/Å and the finite differences are compared with
the written forces; on the coarse grids the mean is larger than the tolerance (up to 0.02-0.04 eV/Å per
atom on the tilted, rattled and two-species cells), so there they are compared with the exact derivative,
written forces + removed net force / natoms, and the written forces must sum to zero.
"""
import ase.io
import numpy as np
import pytest

from conftest import BE2, MODEL, ROOT, SNAP0, read_results, run_cli
from helpers_models import two_species_model

BE2_MLSM = ROOT / "models" / "be2.mlsm"
STEP_A = 1e-7
GRID_BE2, ECUT_BE2 = (12, 12, 18), 60.0         # holds the 60 Ry sphere of the Be2 cell
GRID_PROD, ECUT_PROD = (18, 18, 27), 160.0      # the models' grid and cutoff: egg-box net force < 1e-4 eV/Å
NET_FORCE_SUM = 1e-6                            # eV/Å: the written forces sum to zero (issue 15)
B_UPF = "/usr/share/espresso/pseudo/B.pbe-n-rrkjus_psl.1.0.0.UPF"   # Debian quantum-espresso-data


def _tolerance(f):
    return max(1e-4, 1e-3 * abs(f))


def _predict(comm, atoms, model, grid, ecut, forces=False, pseudo_files=None):
    from mlsurrogate.energy.stage import EnergySettings
    from mlsurrogate.pipeline import PredictOptions, predict
    energy = EnergySettings(pseudo_dir=str(BE2), ecutrho_ry=ecut, pseudo_files=pseudo_files)
    return predict(comm, atoms, model, PredictOptions(grid=grid, dtype="float64", forces=forces, energy=energy))


def _exact_forces(pred):
    """-dF/dR as computed: the written forces plus the removed mean; checks that the written ones sum to zero."""
    assert np.abs(pred.forces.sum(axis=0)).max() <= NET_FORCE_SUM, pred.forces.sum(axis=0)
    return pred.forces + pred.net_force_removed / len(pred.forces)


def _one_sided_differences(comm, atoms, model, grid, ecut, atom, axis, step=STEP_A, pseudo_files=None):
    """(-forward, -backward) differences of total_energy_eV, eV/Å."""
    energies = []
    for sign in (1, 0, -1):
        moved = atoms.copy()
        moved.positions[atom, axis] += sign * step
        energies.append(_predict(comm, moved, model, grid, ecut, pseudo_files=pseudo_files).energy["total_energy_eV"])
    return -(energies[0] - energies[1]) / step, -(energies[1] - energies[2]) / step


def _assert_derivative(force, differences, where):
    assert min(abs(force - d) - _tolerance(d) for d in differences) <= 0, (where, force, differences)


def test_descriptor_adjoint_matches_finite_differences():
    """The native kernel's adjoint: d(Σ β·B)/dR against central differences of the descriptors, triclinic
    cell, two species with different radii and weights, with and without the switching function."""
    from mlsurrogate.descriptors.native_grid import native_module
    kernel_module = native_module()
    rng = np.random.default_rng(0)
    cell = np.array([[3.0, 0, 0], [-1.2, 3.1, 0.2], [0.3, 0.1, 4.5]])
    frac = rng.random((5, 3))
    types = np.array([0, 1, 0, 1, 0], dtype=np.int32)
    radii, weights = np.array([0.5, 0.6]), np.array([1.0, 0.7])
    for twojmax, switch in ((6, 0), (8, 1)):
        k = kernel_module.SnapGrid(twojmax, 0.99363, 0.0, switch, 0)
        points = rng.random((7, 3))
        beta = rng.standard_normal((7, 2, k.ncoeff))
        value = lambda fr: np.einsum("pk,pck->c", k.compute(cell, fr, types, radii, weights, 4.67637, points)[0], beta)
        grad = k.adjoint(cell, frac, types, radii, weights, 4.67637, points, beta)
        h, inv = 1e-5, np.linalg.inv(cell)
        for a in range(len(frac)):
            for c in range(3):
                step = np.eye(3)[c] * h @ inv
                plus, minus = frac.copy(), frac.copy()
                plus[a] += step
                minus[a] -= step
                fd = (value(plus) - value(minus)) / (2 * h)
                assert np.allclose(grad[:, a, c], fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max()), (twojmax, a, c)


def test_adjoint_from_kept_u_totals_equals_the_adjoint_alone():
    """The forces sweep's kernel path: compute(keep_u=True) hands its U totals to adjoint(u_totals=...). Same
    gradient as the adjoint summing U itself, and the same descriptors as compute() (its B from the flat Z
    term lists: rounding only); triclinic cell, two species, bzeroflag on. Wrong shapes are refused."""
    from mlsurrogate.descriptors.native_grid import native_module
    rng = np.random.default_rng(1)
    cell = np.array([[3.2, 0, 0], [-1.1, 3.0, 0.3], [0.2, 0.4, 4.4]])
    frac = rng.random((6, 3))
    types = np.array([0, 1, 1, 0, 1, 0], dtype=np.int32)
    radii, weights = np.array([0.5, 0.6]), np.array([1.0, 0.7])
    k = native_module().SnapGrid(8, 0.99363, 0.0, 1, 1)
    points = rng.random((37, 3))                    # not a multiple of the kernel's 16 lanes
    args = (cell, frac, types, radii, weights, 4.67637, points)
    beta = rng.standard_normal((len(points), 1, k.ncoeff))
    desc = k.compute(*args)[0]
    kept, _, u_totals = k.compute(*args, keep_u=True)
    assert u_totals.shape == (len(points), 2, sum((j + 1) ** 2 for j in range(9)))
    assert np.abs(kept - desc).max() <= 1e-13 * np.abs(desc).max()
    alone = k.adjoint(*args, beta)
    from_kept = k.adjoint(*args, beta, u_totals=u_totals)
    assert np.abs(from_kept - alone).max() <= 1e-13 * np.abs(alone).max()
    with pytest.raises(ValueError, match="u_totals"):
        k.adjoint(*args, beta, u_totals=u_totals[:, :, :-1])
    with pytest.raises(ValueError, match="keep_u"):
        k.compute(*args, single=True, keep_u=True)


@pytest.mark.parametrize("model_path", [BE2_MLSM, MODEL], ids=["be2.mlsm", "Be_model.zip"])
def test_forces_match_finite_differences_on_be2(comm, be2, model_path):
    """Be2 snapshot 0 on the models' grid (18x18x27, 160 Ry): the written forces sum to zero and equal -dE/dR
    by differences of total_energy_eV. The removed net force is small here (measured: 6.9e-6 eV/Å for
    be2.mlsm, 3.6e-5 eV/Å for Be_model.zip, i.e. <= 1.8e-5 eV/Å per atom), below the tolerance."""
    from mlsurrogate.model.load import load_model
    model = load_model(comm, str(model_path))
    atoms = ase.io.read(SNAP0)
    pred = _predict(comm, atoms, model, GRID_PROD, ECUT_PROD, forces=True)
    forces = pred.forces
    assert forces.shape == (2, 3)
    assert np.abs(forces.sum(axis=0)).max() <= NET_FORCE_SUM
    for atom, axis in ((0, 1), (1, 2)):
        _assert_derivative(forces[atom, axis],
                           _one_sided_differences(comm, atoms, model, GRID_PROD, ECUT_PROD, atom, axis), (atom, axis))


def _rattled_supercell():
    atoms = ase.io.read(SNAP0) * (2, 2, 2)
    atoms.rattle(stdev=0.05, seed=3)
    return atoms


def test_rattled_supercell_forces_on_1_and_2_ranks(tmp_path, comm, be2):
    """16 rattled atoms: `predict --forces` on 2 ranks writes forces.npy and forces_eV_per_A equal to the
    1-rank forces, summing to zero, and the removed net force; the exact derivative (written forces + removed
    net force / 16) matches differences of the energy (the removed mean is up to 0.037 eV/Å on this coarse
    grid and low cutoff: net (-0.18, -0.59, -0.37) eV/Å)."""
    from mlsurrogate.model.load import load_model
    atoms = _rattled_supercell()
    grid, ecut = (16, 16, 24), 28.0
    path = tmp_path / "rattled.extxyz"
    ase.io.write(path, atoms)
    run_cli(["predict", "--model", BE2_MLSM, "--structure", path, "--out", tmp_path / "out", "--no-plot",
             "--pseudo-dir", BE2, "--precision", "float64", "--grid", *grid, "--ecutrho", ecut, "--forces",
             "--max-points-per-pass", 1500], nprocs=2)
    two = np.load(tmp_path / "out" / "forces.npy")
    assert two.shape == (16, 3)
    res = read_results(tmp_path / "out")
    assert np.array_equal(np.array(res["forces_eV_per_A"]), two)
    assert np.abs(two.sum(axis=0)).max() <= NET_FORCE_SUM
    model = load_model(comm, str(BE2_MLSM))
    pred = _predict(comm, ase.io.read(path), model, grid, ecut, forces=True)
    assert np.allclose(pred.forces, two, rtol=0, atol=1e-8)
    assert np.allclose(res["net_force_removed_eV_per_A"], pred.net_force_removed, rtol=0, atol=1e-8)
    one = _exact_forces(pred)
    for atom, axis in ((5, 2), (11, 0)):
        _assert_derivative(one[atom, axis],
                           _one_sided_differences(comm, ase.io.read(path), model, grid, ecut, atom, axis), (atom, axis))


def test_relax_along_one_axis_writes_trajectory(tmp_path, be2):
    """`relax --axis z` (2 ranks): the trajectory holds every step, atoms move only along z, the energy of the
    last step is below the first, and results.json reports the final forces."""
    run_cli(["relax", "--model", BE2_MLSM, "--structure", BE2 / "Be_snapshot1.out", "--out", tmp_path / "r",
             "--grid", *GRID_BE2, "--ecutrho", ECUT_BE2, "--pseudo-dir", BE2, "--axis", "z", "--steps", 2,
             "--fmax", 1e-4], nprocs=2)
    frames = ase.io.read(tmp_path / "r" / "relax.traj", index=":")
    res = read_results(tmp_path / "r")
    assert len(frames) == res["steps"] + 1 == 3 and not res["converged"]
    start = ase.io.read(BE2 / "Be_snapshot1.out")
    for frame in frames:
        assert np.allclose(frame.positions[:, :2], start.positions[:, :2], atol=1e-12)
    assert frames[-1].get_potential_energy() < frames[0].get_potential_energy()
    assert np.allclose(res["forces_eV_per_A"], frames[-1].get_forces())


def test_triclinic_cell_forces_match_finite_differences(comm, be2):
    """A fully triclinic cell (Be2 with c tilted over a and b, atoms rattled): oblique Gaussian stencils, the
    kernel's rotated frame and the Ewald pairs all enter; the exact derivative (written forces + removed net
    force / 2; the removed mean is up to 0.02 eV/Å on this coarse grid) equals one-sided differences."""
    from mlsurrogate.model.load import load_model
    model = load_model(comm, str(BE2_MLSM))
    atoms = ase.io.read(SNAP0)
    cell = atoms.cell.array.copy()
    cell[2] += 0.35 * cell[0] + 0.2 * cell[1]
    atoms.set_cell(cell, scale_atoms=True)
    atoms.rattle(stdev=0.03, seed=7)
    forces = _exact_forces(_predict(comm, atoms, model, GRID_BE2, ECUT_BE2, forces=True))
    for atom, axis in ((0, 2), (1, 0)):
        _assert_derivative(forces[atom, axis],
                           _one_sided_differences(comm, atoms, model, GRID_BE2, ECUT_BE2, atom, axis), (atom, axis))


def _two_species_cell():
    """Triclinic cell (angles 87, 81, 109 degrees) with 2 Be and 2 B, nearest neighbours 1.7-2.3 Å."""
    cell = np.array([[3.1, 0, 0], [-1.0, 2.9, 0], [0.6, 0.4, 3.6]])
    frac = np.array([[0.05, 0.1, 0.0], [0.55, 0.45, 0.1], [0.3, 0.7, 0.55], [0.8, 0.2, 0.6]])
    return ase.Atoms("BeBBeB", cell=cell, scaled_positions=frac, pbc=True)


def test_two_species_triclinic_forces_on_1_and_2_ranks(tmp_path, comm, be2):
    """Be and B (descriptor radii 0.5/0.4, weights 1.0/0.7; both UPFs with a core charge) in a triclinic
    cell, a smooth random network (tests/helpers_models.py): `predict --forces` on 2 ranks equals 1 rank,
    the written forces sum to zero, and the exact derivative (written + removed net force / 4) matches
    central differences of total_energy_eV with a 1e-4 Å step. The removed mean is large on this coarse
    grid (net (0.08, 0.13, -0.12) eV/Å, up to 0.033 eV/Å per atom, mostly from B's sharp core charge in
    E_xc) and shrinks with the grid (net 0.02 eV/Å at 28x28x32 / 200 Ry, 1e-3 eV/Å at 48x48x56 / 500 Ry)."""
    import os
    if not os.path.isfile(B_UPF):
        pytest.skip(f"{B_UPF} missing: install Debian's quantum-espresso-data (make test tries to)")
    from mlsurrogate.energy.upf import read_upf
    from mlsurrogate.model.load import load_model
    from mlsurrogate.model.native_format import write_model
    boron = read_upf(B_UPF)
    assert boron.z_valence == 3.0 and boron.core_charge is not None and boron.functional is not None
    atoms = _two_species_cell()
    write_model(two_species_model(atoms), tmp_path / "BeB.mlsm")
    ase.io.write(tmp_path / "BeB.extxyz", atoms)
    grid, ecut = (16, 16, 20), 60.0
    run_cli(["predict", "--model", tmp_path / "BeB.mlsm", "--structure", tmp_path / "BeB.extxyz", "--out",
             tmp_path / "out", "--no-plot", "--pseudo-dir", BE2, "--pseudo", f"B={B_UPF}", "--precision", "float64",
             "--grid", *grid, "--ecutrho", ecut, "--forces"], nprocs=2)
    res = read_results(tmp_path / "out")
    two = np.load(tmp_path / "out" / "forces.npy")
    assert sorted(res["species"]) == ["B", "Be"] and abs(res["density_integral_electrons"] - 10.0) < 1e-6
    assert np.array_equal(np.array(res["forces_eV_per_A"]), two)
    model = load_model(comm, str(tmp_path / "BeB.mlsm"))
    pseudo = {"B": B_UPF}
    pred = _predict(comm, atoms, model, grid, ecut, forces=True, pseudo_files=pseudo)
    assert np.isclose(pred.energy["total_energy_eV"], res["total_energy_eV"], rtol=0, atol=1e-8)
    assert np.allclose(pred.forces, two, rtol=0, atol=1e-8)
    assert np.allclose(res["net_force_removed_eV_per_A"], pred.net_force_removed, rtol=0, atol=1e-8)
    exact = _exact_forces(pred)
    h = 1e-4
    for atom, axis in ((0, 1), (1, 0), (2, 2), (3, 1)):
        forward, backward = _one_sided_differences(comm, atoms, model, grid, ecut, atom, axis, h, pseudo)
        central = 0.5 * (forward + backward)
        assert abs(exact[atom, axis] - central) <= _tolerance(central), (atom, axis, exact[atom, axis], central)


def test_plan_counts_the_forces_sweep(comm):
    """`plan`'s memory estimate adds the second sweep on top of the energy run: at least the float64
    descriptors and dF/dB of two channels per pass point, plus density and U(r) per block point."""
    from mlsurrogate.cost import estimate
    from mlsurrogate.energy.stage import EnergySettings
    from mlsurrogate.model.load import load_model
    from mlsurrogate.pipeline import PredictOptions
    model = load_model(comm, str(BE2_MLSM))
    atoms = ase.io.read(SNAP0) * (4, 4, 4)
    energy = EnergySettings(pseudo_dir=str(BE2), ecutrho_ry=ECUT_PROD)
    plans = [estimate(len(atoms), atoms.cell.array, (72, 72, 108), model, 2,
                      PredictOptions(dtype="float64", energy=energy, forces=f)) for f in (False, True)]
    assert "forces" not in plans[0].memory_bytes
    extra = plans[1].memory_bytes["forces"]
    assert extra >= 3 * 8 * model.n_features * plans[1].points_per_pass + 16 * plans[1].points_per_rank
    assert plans[1].peak_bytes_per_rank == plans[0].peak_bytes_per_rank + extra
