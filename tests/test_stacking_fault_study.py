"""`mlsurrogate study stacking-fault`: one MPI job (2 ranks) vs SLURM-style separate runs (1 rank) + --collect.

Coarse grids (10 x 10 x 16 points per hcp cell, ecutrho 40 Ry) keep it fast; the physics checks do not
depend on the grid: the study.json contract, γ = ΔF / (n_faults area), the same γ on 1 and 2 ranks, a
neutral density difference, and no silent overwrite.
"""
import json

import h5py
import numpy as np
import pytest

from conftest import BE2, ROOT, run_cli

MODEL = ROOT / "models" / "be2.mlsm"
# float64: the test compares a 2-rank job with 1-rank runs to FFT round-off
COMMON = ["--model", MODEL, "--sizes", 1, 2, "--points-per-cell", 10, 10, 16, "--ecutrho", 40, "--pseudo-dir", BE2,
          "--precision", "float64"]
EV_A2 = 16021.766339999998          # mJ/m^2 per eV/Å^2


@pytest.fixture(scope="module")
def job(tmp_path_factory, be2):
    out = tmp_path_factory.mktemp("sf") / "job"
    run_cli(["study", "stacking-fault", *COMMON, "--out", out], nprocs=2, timeout=300)
    return out, json.loads((out / "study.json").read_text())


def test_contract(job):
    out, study = job
    assert set(study) >= {"model", "lattice", "cells", "fit", "gamma_mJ_per_m2", "gamma_method", "gamma_converged"}
    assert study["lattice"] == {"a_A": pytest.approx(2.2598258677678), "c_A": pytest.approx(3.56987856087494)}
    assert set(study["fit"]) >= {"law", "a", "b"}
    assert [c["natoms"] for c in study["cells"]] == [4, 32]
    for c in study["cells"]:
        for key in ("repeat", "natoms", "n_faults", "fault_area_A2", "structure_perfect", "structure_faulted",
                    "free_energy_perfect_eV", "free_energy_faulted_eV", "delta_F_eV", "gamma_mJ_per_m2",
                    "delta_F_hartree_eV", "excess_charge_per_fault_e"):
            assert key in c, key
        assert (out / c["structure_perfect"]).is_file() and (out / c["structure_faulted"]).is_file()
        assert c["n_faults"] == 1
        assert c["delta_F_eV"] == pytest.approx(c["free_energy_faulted_eV"] - c["free_energy_perfect_eV"], abs=1e-12)
        assert c["gamma_mJ_per_m2"] == pytest.approx(c["delta_F_eV"] / c["fault_area_A2"] * EV_A2, rel=1e-9)
        perfect = json.loads((out / c["results_perfect"]).read_text())
        assert perfect["grid"] == [10 * c["repeat"][0], 10 * c["repeat"][1], 16 * c["repeat"][2]]
    assert study["gamma_mJ_per_m2"] == study["cells"][-1]["gamma_mJ_per_m2"]
    assert (out / "stacking_fault.png").stat().st_size > 10000 and (out / "rdf.png").is_file()
    assert study["rdf"]["distance_perfect_to_training"] is not None      # be2.mlsm records its training RDF


def test_density_difference(job):
    out, study = job
    with h5py.File(out / "density_difference.h5") as f:
        diff, line = f["density"][:], f["line_density_difference"][:]
        assert diff.shape == (20, 20, 64)
    # both cells hold the same electrons: the difference integrates to zero (plane by plane sum)
    assert abs(line.sum()) < 1e-8 * np.abs(line).sum()
    assert abs(diff.sum()) < 1e-8 * np.abs(diff).sum()
    assert len(study["density_difference"]["z_A"]) == 64


def test_no_silent_overwrite(job):
    out, _ = job
    proc = run_cli(["study", "stacking-fault", *COMMON, "--out", out], nprocs=2, timeout=120, check=False)
    assert proc.returncode == 2 and "OutputError" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def cli(*args):
    """``mlsurrogate ARGS`` in this process (1 rank, no start-up cost); asserts exit code 0."""
    from mlsurrogate.cli.main import main
    assert main([str(a) for a in args]) == 0


def test_slurm_then_collect_equals_one_job(job, tmp_path):
    """--slurm writes cells and job arrays; runs made separately on 1 rank, collected, give the same study."""
    _, study = job
    out = tmp_path / "cluster"
    cli("study", "stacking-fault", *COMMON, "--slurm", "--out", out)
    script = (out / "jobs" / "K2.slurm").read_text()
    assert "#SBATCH --array=0-1" in script and "--grid 20 20 64" in script and "srun" in script
    assert (out / "jobs" / "submit_all.sh").is_file()
    manifest = json.loads((out / "study_manifest.json").read_text())
    for cell in manifest["cells"]:
        for kind in ("perfect", "faulted"):
            cli("predict", "--model", MODEL, "--structure", out / f"K{cell['size']}" / f"{kind}.extxyz",
                "--grid", *cell["grid"], "--ecutrho", 40, "--pseudo-dir", BE2, "--save", "density", "--no-plot",
                "--precision", "float64",
                "--out", out / f"K{cell['size']}" / kind)
    cli("study", "stacking-fault", "--collect", out)
    collected = json.loads((out / "study.json").read_text())
    for a, b in zip(study["cells"], collected["cells"]):
        # 1 vs 2 ranks: F agrees to FFT round-off (~1e-12 relative), i.e. ~1e-9 eV, 1e-5 mJ/m^2 on 4.4 Å^2
        assert b["gamma_mJ_per_m2"] == pytest.approx(a["gamma_mJ_per_m2"], abs=1e-4)
        assert b["excess_charge_per_fault_e"] == pytest.approx(a["excess_charge_per_fault_e"], abs=1e-9)
    assert collected["fit"]["b"] == pytest.approx(study["fit"]["b"], rel=1e-7)


def test_relax_along_stacking_axis(tmp_path, be2):
    """--relax (2 ranks): every cell relaxed along z only before its energy. The perfect hcp cell has zero
    forces by symmetry (no step taken); the faulted cell's atoms move along z only and its free energy drops
    below the unrelaxed one of the same job's settings. --relax with --slurm is refused."""
    import ase.io
    args = ["study", "stacking-fault", "--model", MODEL, "--sizes", 1, "--points-per-cell", 10, 10, 16,
            "--ecutrho", 40, "--pseudo-dir", BE2, "--precision", "float64"]
    run_cli([*args, "--out", tmp_path / "plain"], nprocs=2, timeout=300)
    run_cli([*args, "--relax", "--relax-steps", 3, "--out", tmp_path / "relaxed"], nprocs=2, timeout=300)
    study = json.loads((tmp_path / "relaxed" / "study.json").read_text())
    assert study["relaxed_along_z"] is True
    perfect = json.loads((tmp_path / "relaxed" / "K1" / "perfect" / "results.json").read_text())
    assert perfect["relax"]["steps"] == 0 and perfect["relax"]["max_force_eV_per_A"] < 1e-8
    faulted = json.loads((tmp_path / "relaxed" / "K1" / "faulted" / "results.json").read_text())
    plain = json.loads((tmp_path / "plain" / "K1" / "faulted" / "results.json").read_text())
    assert faulted["relax"]["steps"] == 3 and faulted["relax"]["max_displacement_A"] > 0
    assert faulted["total_energy_eV"] < plain["total_energy_eV"]
    assert faulted["total_energy_eV"] == pytest.approx(faulted["relax"]["free_energy_eV"], abs=1e-8)
    start = ase.io.read(tmp_path / "relaxed" / "K1" / "faulted.extxyz")
    end = ase.io.read(tmp_path / "relaxed" / "K1" / "faulted" / "relaxed.extxyz")
    assert np.allclose(end.positions[:, :2], start.positions[:, :2], atol=1e-12)
    proc = run_cli([*args, "--relax", "--slurm", "--out", tmp_path / "s"], nprocs=1, check=False)
    assert proc.returncode != 0 and "--relax runs inside one job only" in proc.stdout + proc.stderr


def test_orthogonal_screened_study(tmp_path, be2):
    """--orthogonal: three-fault orthogonal faulted cells against perfect cells three times as long (the same
    crystals, no sheared grid); with --screening. γ is per fault; the bookkeeping follows."""
    out = tmp_path / "ortho"
    run_cli(["study", "stacking-fault", *COMMON, "--orthogonal", "--screening", "--out", out], nprocs=2, timeout=400)
    study = json.loads((out / "study.json").read_text())
    assert [c["natoms"] for c in study["cells"]] == [12, 96]
    for c in study["cells"]:
        assert c["n_faults"] == 3
        assert c["gamma_mJ_per_m2"] == pytest.approx(c["delta_F_eV"] / (3 * c["fault_area_A2"]) * EV_A2, rel=1e-9)
        assert c["grid"] == [10 * c["repeat"][0], 10 * c["repeat"][1], 3 * 16 * c["repeat"][2]]
        faulted = json.loads((out / c["results_faulted"]).read_text())
        assert faulted["screening"]["components"] > 0 and "screening_correction_eV" in faulted
        assert np.isfinite(c["excess_charge_per_fault_e"])
