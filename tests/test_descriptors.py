"""LAMMPS sna/grid/local descriptors against the reference files, in-process (COMM_SELF)."""
import ase.io
import numpy as np
import pytest

from conftest import BE2
from mlsurrogate.decomposition.grid import GridDecomposition
from mlsurrogate.decomposition.passes import plan_passes
from mlsurrogate.descriptors.bispectrum import BispectrumParams, n_bispectrum_features
from mlsurrogate.descriptors.lammps_grid import LammpsGrid, lammps_cell
from mlsurrogate.errors import InputError


def compute_all(comm, atoms, params, grid, max_points):
    d = GridDecomposition.create(comm, grid, atoms.cell.array, params.max_cutoff(["Be"]))
    plan = plan_passes(d, max_points)
    out = np.full((d.local_size, params.n_features), np.nan)
    with LammpsGrid(comm) as lg:
        lg.set_structure(atoms.cell.array, atoms.get_scaled_positions(), [1] * len(atoms), ["Be"], params, d)
        for off in plan.offsets:
            idx, desc = lg.compute_pass(plan, off)
            out[d.local_flat_index(*idx.T)] = desc
    return out.reshape(d.local_shape + (-1,)), plan


@pytest.mark.parametrize("twojmax,k", [(2, 5), (4, 14), (6, 30), (8, 55), (10, 91)])
def test_feature_count(twojmax, k):
    assert n_bispectrum_features(twojmax) == k


@pytest.mark.parametrize("snap,max_points", [(0, 10**6), (0, 700), (1, 2000), (2, 10**6), (3, 10**6)])
def test_reference_descriptors(comm, be2, snap, max_points):
    """Equal to Be_snapshot*.in.npy (float32 files) to 1e-6 relative, also when split into passes."""
    # snapshots 2/3 have no pw.x output here; their positions (10 digits) are in qe_inputs
    src = BE2 / f"Be_snapshot{snap}.out" if snap < 2 else BE2 / "qe_inputs" / f"Be_snapshot{snap}.pw.scf.in"
    atoms = ase.io.read(src)
    ref = np.load(BE2 / f"Be_snapshot{snap}.in.npy")[..., 3:].astype(np.float64)
    got, plan = compute_all(comm, atoms, BispectrumParams(), (18, 18, 27), max_points)
    assert not np.isnan(got).any()
    if max_points < 8748:
        assert plan.n_passes > 1
    scale = np.abs(ref).max(axis=(0, 1, 2))
    assert np.max(np.abs(got - ref) / scale) < 1e-6


def test_lammps_cell_keeps_fractional_geometry():
    cell = np.array([[3.0, 0.4, 0.2], [0.5, 2.5, 0.1], [0.3, -0.2, 4.0]])
    _, rot = lammps_cell(cell)
    assert np.allclose(rot @ rot.T, cell @ cell.T)       # same metric: a rotation
    with pytest.raises(InputError, match="left-handed"):
        lammps_cell(cell[[1, 0, 2]])
