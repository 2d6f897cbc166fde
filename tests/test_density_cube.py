"""Densities as Gaussian cube files: ASE reads back exactly the HDF5 density (to the printed digits), the
atoms and the cell, whether written by ``predict`` or converted from density.h5, on 1, 2 and 3 ranks."""
import ase.io
import h5py
import numpy as np
from ase.io.cube import read_cube_data

from conftest import ROOT, SNAP0, run_cli

MODEL = ROOT / "models" / "be2.mlsm"
GRID = ("19", "18", "27")     # 19 x-planes: uneven x slabs on 2 and 3 ranks


def _expected(h5_path):
    """The cube values the HDF5 density must print as: electrons/bohr^3 rounded to %13.5E."""
    from mlsurrogate.units import ANGSTROM3_PER_BOHR3
    with h5py.File(h5_path, "r") as f:
        density = np.array(f["density"]) * ANGSTROM3_PER_BOHR3
    return np.vectorize(lambda v: float("%.5E" % v))(density)


def _check_cube(path, expected, atoms):
    data, read = read_cube_data(str(path))
    assert data.shape == expected.shape
    assert np.array_equal(data, expected)
    assert np.allclose(read.cell.array, atoms.cell.array, rtol=0, atol=1e-5)       # 6 decimals of bohr
    assert np.allclose(read.positions, atoms.positions, rtol=0, atol=1e-5)
    assert list(read.numbers) == list(atoms.numbers)


def test_cube_equals_h5_written_and_converted(tmp_path):
    atoms = ase.io.read(SNAP0)
    common = ["predict", "--model", MODEL, "--structure", SNAP0, "--grid", *GRID, "--no-energy", "--no-plot",
              "--precision", "float64", "--save", "density"]
    run_cli(common + ["--out", tmp_path / "h5"], nprocs=2)
    expected = _expected(tmp_path / "h5" / "density.h5")
    assert expected.min() > 0

    run_cli(common + ["--out", tmp_path / "cube", "--density-format", "cube"], nprocs=2)
    assert not (tmp_path / "cube" / "density.h5").exists()
    _check_cube(tmp_path / "cube" / "density.cube", expected, atoms)

    for n in (1, 2, 3):
        out = tmp_path / f"converted{n}.cube"
        run_cli(["convert-density", tmp_path / "h5" / "density.h5", out, "--structure", SNAP0], nprocs=n)
        _check_cube(out, expected, atoms)
    assert (tmp_path / "converted1.cube").read_bytes() == (tmp_path / "converted3.cube").read_bytes()
    assert (tmp_path / "converted2.cube").read_bytes() == (tmp_path / "cube" / "density.cube").read_bytes()

    refused = run_cli(["convert-density", tmp_path / "h5" / "density.h5", tmp_path / "converted1.cube"],
                      nprocs=2, check=False)
    assert refused.returncode == 2 and "exists" in refused.stdout + refused.stderr


def test_cube_fixed_width_with_signs_and_tiny_values(comm, tmp_path):
    """Negative, tiny (< 1e-99, printed as 0) and large values keep every column's byte length. Local writer."""
    from ase import Atoms
    from mlsurrogate.decomposition.grid import GridDecomposition
    from mlsurrogate.output.cube import column_bytes, write_density_cube
    from mlsurrogate.units import ANGSTROM3_PER_BOHR3
    atoms = Atoms("Be", positions=[[0.3, 0.2, 0.1]], cell=np.diag([2.0, 2.5, 3.0]), pbc=True)
    shape = (3, 4, 7)                                          # 7 = one full line of 6 and one of 1
    decomp = GridDecomposition.create(comm, shape, atoms.cell.array, 1.0)
    rng = np.random.default_rng(1)
    values = rng.standard_normal(shape) * 10.0 ** rng.integers(-8, 8, shape)
    values[0, 0, :3] = [1e-120 / ANGSTROM3_PER_BOHR3, -1e-120, 0.0]
    path = tmp_path / "d.cube"
    write_density_cube(comm, str(path), values / ANGSTROM3_PER_BOHR3, decomp, atoms)
    data, _ = read_cube_data(str(path))
    expected = np.vectorize(lambda v: float("%.5E" % v))(values)
    expected[0, 0, :2] = 0.0
    assert np.array_equal(data, expected)
    body = path.read_text().splitlines(keepends=True)[7:]     # 2 comments, origin, 3 axes, 1 atom
    assert sum(map(len, body)) == column_bytes(7) * 3 * 4
    assert {len(line) for line in body} == {13 * 6 + 1, 13 + 1}
