"""hcp builder (``mlsurrogate build hcp``): stacking sequence, one I2 fault per periodic cell, shared rattle."""
import numpy as np
import pytest

from conftest import run_cli

from mlsurrogate.errors import InputError
from mlsurrogate.structure.hcp import build_hcp

A, C = 2.25982586776780, 3.56987856087494


def stacking(atoms, layers, periods=2):
    """Site letters (A/B/C) of the layers, continued over ``periods`` periodic images along the third vector."""
    cell = atoms.cell.array
    inv = np.linalg.inv(np.array([[A, 0.0], [-0.5 * A, 0.5 * np.sqrt(3) * A]]).T)
    out = []
    for p in range(periods):
        pos = atoms.positions + p * cell[2]
        order = np.argsort(pos[:, 2], kind="stable")
        z = np.round(pos[order, 2] / (C / 2) - 0.5).astype(int)
        for layer in np.unique(z):
            xy = pos[order][z == layer][0, :2]
            f = np.mod(inv @ xy, 1.0)
            f[np.isclose(f, 1.0)] = 0.0
            site = {(0, 0): "A", (1, 2): "B", (2, 1): "C"}[tuple(np.round(f * 3).astype(int) % 3)]
            out.append(site)
    return "".join(out)


def cubic_layers(seq):
    """Number of layers (in the middle one of three periods) whose two neighbours differ: fcc-like (I2 has two)."""
    n = len(seq) // 3
    return sum(seq[i - 1] != seq[i + 1] for i in range(n, 2 * n))


@pytest.mark.parametrize("nz", [2, 3, 4])
def test_perfect_and_faulted_stacking(nz):
    perfect = build_hcp("Be", A, C, (2, 1, nz))
    faulted = build_hcp("Be", A, C, (2, 1, nz), fault="I2")
    assert len(perfect.atoms) == len(faulted.atoms) == 4 * nz
    assert perfect.n_faults == 0 and faulted.n_faults == 1
    assert stacking(perfect.atoms, 2 * nz) == "AB" * (2 * nz)
    seq = stacking(faulted.atoms, 2 * nz, periods=3)
    assert cubic_layers(seq) == 2                      # exactly one I2 (two fcc-like layers) per period
    assert all(seq[i] != seq[i + 1] for i in range(len(seq) - 1))   # close packed everywhere, across the image
    assert abs(np.linalg.det(perfect.atoms.cell) - np.linalg.det(faulted.atoms.cell)) < 1e-9
    assert perfect.area_A2 == pytest.approx(2 * A * A * np.sqrt(3) / 2)
    m = 2 * ((nz + 1) // 2)
    assert faulted.fault_z_A == pytest.approx(m * C / 2)


def test_rattle_same_displacements():
    p0, f0 = build_hcp("Be", A, C, (2, 2, 2)), build_hcp("Be", A, C, (2, 2, 2), fault="I2")
    p1 = build_hcp("Be", A, C, (2, 2, 2), rattle=0.05, seed=3)
    f1 = build_hcp("Be", A, C, (2, 2, 2), fault="I2", rattle=0.05, seed=3)
    dp = p1.atoms.positions - p0.atoms.positions
    df = f1.atoms.positions - f0.atoms.positions
    # equal modulo the periodic wrap (cell vectors), atom by atom
    frac = np.linalg.solve(f1.atoms.cell.array.T, (df - dp).T).T
    assert np.allclose(frac, np.round(frac), atol=1e-9)
    assert 0.03 < np.std(dp[np.abs(dp) < 1]) < 0.07


def test_bad_input():
    with pytest.raises(InputError):
        build_hcp("Be", A, C, (1, 1, 1), fault="I2")
    with pytest.raises(InputError):
        build_hcp("Be", A, C, (0, 1, 1))


def test_build_cli(tmp_path):
    out = tmp_path / "sf.extxyz"
    args = ["build", "hcp", "--symbol", "Be", "--a", A, "--c", C, "--repeat", 2, 2, 4, "--fault", "I2",
            "--out", out]
    proc = run_cli(args, nprocs=1, timeout=120)
    assert "32 atoms" in proc.stdout and "1 fault(s)" in proc.stdout
    import ase.io
    atoms = ase.io.read(out)
    assert len(atoms) == 32 and atoms.info["n_faults"] == 1
    again = run_cli(args, nprocs=1, timeout=120, check=False)
    assert again.returncode == 2 and "OutputError" in again.stderr and len(again.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("nz", [2, 3, 4])
def test_orthogonal_faulted_cell_is_the_same_crystal(nz):
    """--orthogonal: three periods of the tilted I2 cell in an orthogonal cell (3 faults, 6 NZ layers): the
    same stacking sequence, the same atoms per volume, the third vector along z."""
    tilted = build_hcp("Be", A, C, (1, 1, nz), fault="I2")
    ortho = build_hcp("Be", A, C, (1, 1, nz), fault="I2", orthogonal=True)
    assert ortho.n_faults == 3 and ortho.layers == 6 * nz and len(ortho.atoms) == 3 * len(tilted.atoms)
    assert np.allclose(ortho.atoms.cell[2], [0.0, 0.0, 3 * nz * C])
    assert abs(np.linalg.det(ortho.atoms.cell)) == pytest.approx(3 * abs(np.linalg.det(tilted.atoms.cell)))
    seq_tilted = stacking(tilted.atoms, 2 * nz, periods=3)
    assert stacking(ortho.atoms, 6 * nz, periods=1) == seq_tilted
    d = ortho.atoms.get_all_distances(mic=True)
    np.fill_diagonal(d, np.inf)
    assert d.min() == pytest.approx(np.sqrt(A * A / 3 + C * C / 4))      # nearest neighbours, no overlaps
    with pytest.raises(InputError, match="orthogonal"):
        build_hcp("Be", A, C, (1, 1, nz), orthogonal=True)
