"""Atoms exactly on grid points: the native kernel is continuous there (r -> 0 limit), LAMMPS' exclusion is opt-in.

With ideal positions on a commensurate grid, atoms coincide with grid points; LAMMPS' neighbour test
|r|^2 > 1e-20 drops them, so a 1e-9 Å rounding (a file with 9 decimals) moves the descriptors by a finite
amount. The limit exists: for rmin0 = 0 the Cayley-Klein parameters tend to a = 1, b = 0.
"""
import numpy as np
import pytest

from conftest import BE2, ROOT

from mlsurrogate.descriptors.native_grid import native_module
from mlsurrogate.structure.hcp import build_hcp

A, C = 2.25982586776780, 3.56987856087494


def descriptors_at_origin(offset, exclude):
    """Descriptors of the grid point at the origin with one Be atom ``offset`` (Å) away plus a neighbour."""
    cell = np.diag([6.0, 6.0, 6.0])
    frac = np.array([[offset / 6.0, 0.0, 0.0], [0.3, 0.1, 0.05]])
    kernel = native_module().SnapGrid(10, 0.99363, 0.0, 1, 0, exclude)
    desc, _ = kernel.compute(cell, frac, np.zeros(2, dtype=np.int32), np.array([0.5]), np.array([1.0]),
                             4.67637, np.zeros((1, 3)), 1)
    return desc[0]


def test_kernel_continuous_at_zero_distance():
    exact, near = descriptors_at_origin(0.0, False), descriptors_at_origin(1e-9, False)
    assert np.all(np.isfinite(exact))
    # continuous: b ~ r / z0 is linear in r, so 1e-9 Å moves the descriptors by O(1e-9) of their scale
    assert np.max(np.abs(exact - near) / np.abs(near).max()) < 1e-8
    # LAMMPS' exclusion (the parity option): the atom on the point is dropped, 1e-9 Å away it counts
    lam_exact, lam_near = descriptors_at_origin(0.0, True), descriptors_at_origin(1e-9, True)
    assert np.max(np.abs(lam_near - near)) < 1e-12 * np.abs(near).max()
    assert np.max(np.abs(lam_exact - lam_near)) > 1e-2 * np.abs(near).max()


def _energy_per_atom(comm, atoms, grid, descriptors="native"):
    from mlsurrogate.energy.stage import EnergySettings
    from mlsurrogate.model.load import load_model
    from mlsurrogate.pipeline import PredictOptions, predict
    model = load_model(comm, str(ROOT / "models" / "be2.mlsm"))
    pred = predict(comm, atoms, model, PredictOptions(grid=grid, descriptors=descriptors,
                                                      energy=EnergySettings(pseudo_dir=str(BE2))))
    return pred.energy["total_energy_eV"] / len(atoms)


@pytest.mark.parametrize("shift", [None, (0.0123, -0.0456, 0.0789)])
def test_ideal_supercell_equals_primitive(comm, be2, shift):
    """hcp Be: 1x1x2 supercell (4 layers) = 2 x the 2-atom cell to 1e-6 eV/atom, atoms on grid points or not.

    Without a shift the even layers sit on grid points (z = i c/2, 27 points per c); the supercell's positions
    are rounded to 1e-9 Å as a file with 9 decimals would, which LAMMPS' exclusion turns into a jump.
    """
    prim = build_hcp("Be", A, C, (1, 1, 1)).atoms
    prim.translate([0.0, 0.0, -C / 4])              # layers at z = 0, c/2: layer 0 on grid points
    if shift is not None:
        prim.translate(shift)
    prim.wrap()
    sup = prim.repeat((1, 1, 2))
    sup.positions = np.round(sup.positions, 9)
    e_prim = _energy_per_atom(comm, prim, (18, 18, 27))
    e_sup = _energy_per_atom(comm, sup, (18, 18, 54))
    print(f"shift {shift}: {e_prim:.9f} vs {e_sup:.9f} eV/atom, difference {e_sup - e_prim:.2e}")
    assert abs(e_sup - e_prim) < 1e-6
