"""Forces: the exact derivative of the surrogate's free energy (issue 15).

The networks are piecewise linear (ReLU, LeakyReLU), so F(R) is only piecewise smooth: it has kinks
wherever a unit switches at some grid point, densely along any path. A central difference with a 1e-4 Å
step straddles many of them and differs from the derivative by up to ~7e-4 eV/Å (README, Forces). So the
checks use one-sided differences with a 1e-7 Å step (round-off ~1e-5 eV/Å, curvature error ~1e-7 eV/Å;
on the tilted cell below 1e-5 Å steps still straddle kinks):
the force must equal the forward or the backward difference (the side without a kink; both agree when
neither step crosses one). Coarse grids with a lowered ecutrho keep each run to seconds.
"""
import ase.io
import numpy as np
import pytest

from conftest import BE2, MODEL, ROOT, SNAP0, read_results, run_cli

BE2_MLSM = ROOT / "models" / "be2.mlsm"
STEP_A = 1e-7
GRID_BE2, ECUT_BE2 = (12, 12, 18), 60.0         # holds the 60 Ry sphere of the Be2 cell


def _tolerance(f):
    return max(1e-4, 1e-3 * abs(f))


def _predict(comm, atoms, model, grid, ecut, forces=False):
    from mlsurrogate.energy.stage import EnergySettings
    from mlsurrogate.pipeline import PredictOptions, predict
    return predict(comm, atoms, model, PredictOptions(grid=grid, dtype="float64", forces=forces,
                                                      energy=EnergySettings(pseudo_dir=str(BE2), ecutrho_ry=ecut)))


def _one_sided_differences(comm, atoms, model, grid, ecut, atom, axis):
    """(-forward, -backward) differences of total_energy_eV, eV/Å."""
    energies = []
    for sign in (1, 0, -1):
        moved = atoms.copy()
        moved.positions[atom, axis] += sign * STEP_A
        energies.append(_predict(comm, moved, model, grid, ecut).energy["total_energy_eV"])
    return -(energies[0] - energies[1]) / STEP_A, -(energies[1] - energies[2]) / STEP_A


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


@pytest.mark.parametrize("model_path", [BE2_MLSM, MODEL], ids=["be2.mlsm", "Be_model.zip"])
def test_forces_match_finite_differences_on_be2(comm, be2, model_path):
    """Be2 snapshot 0: every force component equals -dE/dR by central differences of total_energy_eV."""
    from mlsurrogate.model.load import load_model
    model = load_model(comm, str(model_path))
    atoms = ase.io.read(SNAP0)
    forces = _predict(comm, atoms, model, GRID_BE2, ECUT_BE2, forces=True).forces
    assert forces.shape == (2, 3)
    for atom, axis in ((0, 1), (1, 2)):
        _assert_derivative(forces[atom, axis],
                           _one_sided_differences(comm, atoms, model, GRID_BE2, ECUT_BE2, atom, axis), (atom, axis))


def _rattled_supercell():
    atoms = ase.io.read(SNAP0) * (2, 2, 2)
    atoms.rattle(stdev=0.05, seed=3)
    return atoms


def test_rattled_supercell_forces_on_1_and_2_ranks(tmp_path, comm, be2):
    """16 rattled atoms: `predict --forces` on 2 ranks writes forces.npy and forces_eV_per_A equal to the
    1-rank forces; those match central differences."""
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
    assert np.array_equal(np.array(read_results(tmp_path / "out")["forces_eV_per_A"]), two)
    model = load_model(comm, str(BE2_MLSM))
    one = _predict(comm, ase.io.read(path), model, grid, ecut, forces=True).forces
    assert np.allclose(one, two, rtol=0, atol=1e-8)
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
    kernel's rotated frame and the Ewald pairs all enter; forces equal one-sided differences."""
    from mlsurrogate.model.load import load_model
    model = load_model(comm, str(BE2_MLSM))
    atoms = ase.io.read(SNAP0)
    cell = atoms.cell.array.copy()
    cell[2] += 0.35 * cell[0] + 0.2 * cell[1]
    atoms.set_cell(cell, scale_atoms=True)
    atoms.rattle(stdev=0.03, seed=7)
    forces = _predict(comm, atoms, model, GRID_BE2, ECUT_BE2, forces=True).forces
    for atom, axis in ((0, 2), (1, 0)):
        _assert_derivative(forces[atom, axis],
                           _one_sided_differences(comm, atoms, model, GRID_BE2, ECUT_BE2, atom, axis), (atom, axis))
