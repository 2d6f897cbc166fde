"""Big-cell machinery: O(N/P) atom handling per rank, the cost model and its refusals, parallel density
writes, and the scaling harness (1 to 8 ranks give the same results)."""
import json
import subprocess
import textwrap
import time

import ase.io
import h5py
import numpy as np
import pytest

from conftest import BIN, ROOT, SNAP0, SNAP1, read_results, run_cli

MODEL = ROOT / "models" / "be2.mlsm"


def run_script(code, nprocs, timeout=120):
    """Run a Python snippet under ``mpirun -n nprocs``; returns stdout (fails on a non-zero exit)."""
    cmd = [str(BIN / "mpirun"), "-n", str(nprocs), str(BIN / "python"), "-c", textwrap.dedent(code)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_native_kernel_gets_only_nearby_atoms_and_identical_values():
    """Each rank's block sees a few of the atoms; its descriptors equal, bit for bit, the kernel's on all atoms."""
    from mpi4py import MPI
    from mlsurrogate.decomposition.grid import GridDecomposition
    from mlsurrogate.decomposition.passes import PassPlan
    from mlsurrogate.descriptors.bispectrum import BispectrumParams
    from mlsurrogate.descriptors.native_grid import NativeGrid, lammps_geometry
    atoms = ase.io.read(SNAP1).repeat((16, 16, 12))
    params = BispectrumParams(twojmax=4)
    grid = (64, 64, 64)
    frac = atoms.get_scaled_positions(wrap=True)
    types = np.ones(len(atoms), dtype=np.int32)
    for rank in (0, 37):
        decomp = GridDecomposition(grid, (4, 4, 4), rank)
        calc = NativeGrid(MPI.COMM_SELF, nthreads=1)
        calc.set_structure(atoms.cell.array, frac, types, ["Be"], params, decomp)
        assert calc.natoms_local < len(atoms) // 4          # a block and its ghost shell, not the structure
        idx, desc = calc.compute_pass(PassPlan((4, 4, 4)), (1, 2, 0))
        cell, lam = lammps_geometry(atoms.cell.array, frac)
        points = np.asarray(idx, dtype=float) * (1.0 / np.array(grid, dtype=float))
        full, _ = calc._mod.SnapGrid(4, params.rfac0, params.rmin0, params.switchflag, params.bzeroflag).compute(
            cell, lam, types - 1, np.array([0.5]), np.array([1.0]), params.rcutfac, points, 1)
        assert np.array_equal(desc, full)


@pytest.mark.parametrize("nprocs", [1, 3])
def test_overlap_check_is_distributed_and_finds_periodic_neighbours(nprocs):
    out = run_script(f"""
        from mpi4py import MPI
        import ase.io, numpy as np
        from mlsurrogate.errors import InputError
        from mlsurrogate.structure.read import check_structure
        comm = MPI.COMM_WORLD
        atoms = ase.io.read("{SNAP0}").repeat((4, 4, 3))
        atoms.rattle(0.05, seed=1)
        check_structure(comm, atoms, ["Be"])                       # a healthy cell passes
        near, dup, nan = atoms.copy(), atoms.copy(), atoms.copy()
        near.positions[17] = near.positions[40] + near.cell[0] + [0.1, 0.2, 0.0]   # near an image of atom 40
        dup.positions[3] = dup.positions[70]
        nan.positions[5, 1] = np.nan
        said = []
        for bad in (near, dup, nan):
            try:
                check_structure(comm, bad, ["Be"])
                said.append("missed")
            except InputError as exc:
                said.append(f"caught {{exc}}")
        for lines in comm.gather(said, root=0) or []:   # one writer: ranks' stdout may interleave
            print(*lines, sep=chr(10))
    """, nprocs)
    lines = out.strip().splitlines()
    assert len(lines) == 3 * nprocs and "missed" not in out
    assert sum("atoms 17 and 40 are 0.224 Å apart" in l for l in lines) == nprocs
    assert sum("atoms 3 and 70 are 0 Å apart" in l for l in lines) == nprocs
    assert sum("atom 5 has a non-finite position" in l for l in lines) == nprocs


def test_ewald_real_space_sum_independent_of_rank_count():
    code = f"""
        from mpi4py import MPI
        import ase.io
        from mlsurrogate.energy.ewald import real_space_sum
        from mlsurrogate.units import BOHR_ANGSTROM
        atoms = ase.io.read("{SNAP1}").repeat((3, 2, 2))
        atoms.rattle(0.1, seed=3)
        z = {{0: 2.0}}
        value = real_space_sum(MPI.COMM_WORLD, atoms.cell.array / BOHR_ANGSTROM, atoms.get_scaled_positions(),
                               lambda idx: 2.0 + 0.0 * idx, 9.0, 0.75)
        if MPI.COMM_WORLD.rank == 0:
            print(repr(value))
    """
    one, three = float(run_script(code, 1)), float(run_script(code, 3))
    assert one > 0 and abs(one - three) <= 1e-12 * abs(one)


@pytest.mark.parametrize("nprocs", [3])
def test_parallel_density_write(tmp_path, nprocs):
    path = tmp_path / "density.h5"
    run_script(f"""
        from mpi4py import MPI
        import numpy as np
        from mlsurrogate.decomposition.grid import GridDecomposition
        from mlsurrogate.output.results import write_density_h5
        comm = MPI.COMM_WORLD
        for shape, name in [((7, 8, 9), "a"), ((5, 6, 40), "b")]:
            d = GridDecomposition.create(comm, shape, np.diag([3.0, 3.0, 9.0]), 0.5)
            i, j, k = np.meshgrid(*[np.arange(s, s + n) for s, n in zip(d.local_start, d.local_shape)], indexing="ij")
            write_density_h5(comm, "{path}" + name, (i * 1e4 + j * 1e2 + k).astype(float), d, np.eye(3))
    """, nprocs)
    for shape, name in [((7, 8, 9), "a"), ((5, 6, 40), "b")]:
        with h5py.File(str(path) + name) as f:
            data = f["density"][...]
            assert f["density"].attrs["units"] == "1/Angstrom^3"
            assert list(f.attrs["grid"]) == list(shape)
        i, j, k = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
        assert np.array_equal(data, i * 1e4 + j * 1e2 + k)


def test_predict_refuses_a_grid_that_cannot_fit_within_seconds(tmp_path, be2):
    out = tmp_path / "huge"
    t0 = time.perf_counter()
    proc = run_cli(["predict", "--model", MODEL, "--structure", SNAP0, "--grid", 4000, 4000, 4000, "--no-energy",
                    "--out", out], nprocs=2, check=False, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "GiB per rank" in proc.stderr and "64,000,000,000 grid points" in proc.stderr
    # refused at start-up: the 6.4e10-point run itself would take days or be OOM-killed; the bound only allows
    # for a loaded machine's slow imports (the refusal itself takes milliseconds after them)
    assert time.perf_counter() - t0 < 240
    assert not (out / "results.json").exists()
    # a cell in nm read as Å: 1000x the default grid points
    wrong = tmp_path / "wrong_unit.extxyz"
    atoms = ase.io.read(SNAP0).repeat((4, 4, 4))
    atoms.set_cell(atoms.cell * 10, scale_atoms=True)
    atoms.write(wrong)
    proc = run_cli(["predict", "--model", MODEL, "--structure", wrong, "--no-energy", "--out", out], nprocs=2,
                   check=False, timeout=120)
    assert proc.returncode == 2 and "GiB per rank" in proc.stderr, proc.stderr
    proc = run_cli(["predict", "--model", MODEL, "--structure", SNAP0, "--no-energy", "--memory-per-rank", "0.2",
                    "--out", out], nprocs=2, check=False, timeout=120)
    assert proc.returncode == 2 and "ranks have 0.2 GiB each" in proc.stderr, proc.stderr


def test_plan_command(tmp_path, be2):
    js = tmp_path / "plan.json"
    proc = run_cli(["plan", "--model", MODEL, "--structure", SNAP0, "--pseudo-dir", be2, "--ranks", 1, 150,
                    "--json", js], nprocs=1)
    assert "--- 150 rank(s)" in proc.stdout and "core-hours" in proc.stdout
    plans = json.loads(js.read_text())
    assert [p["ranks"] for p in plans] == [1, 150] and plans[0]["points"] == 18 * 18 * 27
    assert plans[0]["core_hours"] == pytest.approx(plans[1]["core_hours"])
    assert plans[1]["peak_bytes_per_rank"] < plans[0]["peak_bytes_per_rank"]


def test_scaling_harness_and_1_to_8_ranks_identical(tmp_path, be2):
    """Strong 1..8 ranks (oversubscribed) and weak 1 -> 2 through the harness; identical physics."""
    study = tmp_path / "scaling"
    proc = run_cli(["scaling", "--model", MODEL, "--structure", SNAP0, "--ranks", 1, 2, 3, 4, 5, 6, 7, 8,
                    "--series", "strong", "--grid", 18, 18, 27, "--out", study, "--", "--pseudo-dir", be2,
                    "--no-plot"], nprocs=1, timeout=900)
    assert "strong scaling" in proc.stdout and (study / "scaling.png").exists()
    runs = [read_results(study / f"strong-P{p}") for p in range(1, 9)]
    assert [r["ranks"] for r in runs] == list(range(1, 9))
    for key in ("fermi_energy_eV", "band_energy_eV", "total_energy_eV", "ewald_energy_eV", "xc_energy_eV"):
        ref = runs[0][key]
        assert all(abs(r[key] - ref) <= 1e-9 * abs(ref) for r in runs), key
    weak = tmp_path / "weak"
    # float64: a weak series changes the cell, so the bfloat16 default's bias-correction sample changes with it
    # (~1e-7 eV/atom); extensivity itself holds to round-off
    run_cli(["scaling", "--model", MODEL, "--structure", SNAP0, "--ranks", 1, 2, "--series", "weak", "--out", weak,
             "--", "--pseudo-dir", be2, "--no-plot", "--precision", "float64"], nprocs=1, timeout=300)
    w1, w2 = read_results(weak / "weak-P1"), read_results(weak / "weak-P2")
    assert w2["natoms"] == 2 * w1["natoms"] and np.prod(w2["grid"]) == 2 * np.prod(w1["grid"])
    assert w2["total_energy_per_atom_eV"] == pytest.approx(w1["total_energy_per_atom_eV"], abs=1e-8)
    proc = run_cli(["scaling", "--model", MODEL, "--structure", SNAP0, "--ranks", 48, 96, "--slurm", "--out",
                    tmp_path / "slurm", "--", "--no-energy"], nprocs=1)
    script = (tmp_path / "slurm" / "jobs" / "strong-P96.slurm").read_text()
    assert "#SBATCH --ntasks=96" in script and "#SBATCH --nodes=2" in script and "srun" in script


def test_ewald_on_coarse_grids_gets_its_own_grid_and_the_same_value(comm):
    """A grid kept coarse while the cell grows would make Ewald's pairs O(N^2); it moves to its own grid."""
    from mlsurrogate.energy.plane_waves import PlaneWaveGrid
    from mlsurrogate.energy.setup import energy_inputs
    from mlsurrogate.energy.terms import energy_terms, ewald_grid, ewald_layout
    atoms = ase.io.read(SNAP1).repeat((3, 3, 2))
    inputs = energy_inputs(atoms, valences={"Be": 2.0}, need_functional=False)
    values = {}
    for shape in [(8, 8, 8), ewald_grid(inputs.cell_bohr)]:
        pw = PlaneWaveGrid(comm, shape, inputs.cell_bohr, 0.0)
        own = ewald_layout(inputs.cell_bohr, len(atoms), shape)[0]
        values[shape] = (own, energy_terms(pw, inputs, None, ("ewald",))["ewald"])
    (coarse_own, coarse), (fine_own, fine) = values.values()
    assert coarse_own and not fine_own
    assert abs(coarse - fine) <= 1e-9 * abs(fine)
