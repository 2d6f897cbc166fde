"""Sub-grid translation of DFT fields (mlsurrogate/dft/shift.py), used to augment the Be training data."""
import numpy as np
import pytest

from mlsurrogate.dft.shift import fourier_shift, shift_structure


def _plane_waves(shape, shift=(0.0, 0.0, 0.0)):
    """A real band-limited periodic field (three plane waves well inside the grid's band) at r - shift."""
    axes = [np.arange(n) / n for n in shape]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    x, y, z = x - shift[0], y - shift[1], z - shift[2]
    return (1.0 + 0.5 * np.cos(2 * np.pi * (x + 2 * z)) + 0.3 * np.sin(2 * np.pi * (3 * y - z))
            + 0.2 * np.cos(2 * np.pi * (2 * x - y + 4 * z) + 0.4))


def test_fourier_shift_equals_the_field_at_the_moved_points():
    shape, s = (18, 18, 30), np.array([0.37 / 18, 0.71 / 18, 0.55 / 30])
    got = fourier_shift(_plane_waves(shape), s)
    assert np.max(np.abs(got - _plane_waves(shape, s))) < 1e-12


def test_whole_grid_step_is_a_roll_and_energies_are_shifted_alike():
    rng = np.random.default_rng(0)
    field = _plane_waves((12, 12, 20))[..., None] * rng.random(7)      # (n1, n2, n3, energies)
    got = fourier_shift(field, [1 / 12, 0.0, -2 / 20], chunk=3)
    assert got.shape == field.shape and got.dtype == field.dtype
    assert np.max(np.abs(got - np.roll(field, (1, -2), axis=(0, 2)))) < 1e-12
    assert np.sum(got) == pytest.approx(np.sum(field), rel=1e-13)      # electrons conserved


def test_shift_structure_moves_atoms_by_the_fractional_vector():
    import ase
    atoms = ase.Atoms("Be2", scaled_positions=[[0, 0, 0.1], [0.5, 0.5, 0.6]], cell=[2.0, 3.0, 4.0], pbc=True)
    moved = shift_structure(atoms, [0.25, 0.0, 0.95])
    assert np.allclose(moved.get_scaled_positions(), [[0.25, 0, 0.05], [0.75, 0.5, 0.55]])
    assert np.allclose(atoms.get_scaled_positions(), [[0, 0, 0.1], [0.5, 0.5, 0.6]])  # input untouched
