"""Bad input under mpirun -n 2: every rank exits non-zero with one clear message, no results, no hang."""
import ase.io
import numpy as np
import pytest

from conftest import BE2, MODEL, SNAP0, run_cli
from helpers_models import write_mala_zip


def expect_failure(tmp_path, args, message, nprocs=2):
    out = tmp_path / "out"
    proc = run_cli(["predict", *args, "--out", out], nprocs=nprocs, timeout=120, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
    assert proc.stderr.count(message) == 1, "the message must be printed once, by rank 0"
    assert "Traceback" not in proc.stderr
    assert not (out / "results.json").exists()
    return proc


@pytest.fixture
def structure(tmp_path, be2):
    def make(edit):
        atoms = ase.io.read(SNAP0)
        edit(atoms)
        path = tmp_path / "s.extxyz"
        ase.io.write(path, atoms)
        return path
    return make


def test_missing_model(tmp_path, be2):
    expect_failure(tmp_path, ["--model", tmp_path / "nope.zip", "--structure", SNAP0], "ModelError: ")


def test_garbled_model(tmp_path, be2):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 garbage")
    expect_failure(tmp_path, ["--model", bad, "--structure", SNAP0], "not a readable zip")


def test_unreadable_structure(tmp_path, be2):
    junk = tmp_path / "junk.xyz"
    junk.write_text("this is not\na structure\n")
    expect_failure(tmp_path, ["--model", MODEL, "--structure", junk], "cannot read structure")


def test_unknown_species(tmp_path, structure):
    path = structure(lambda a: a.set_chemical_symbols(["Be", "Al"]))
    expect_failure(tmp_path, ["--model", MODEL, "--structure", path], "species Al not in the model")


def test_overlapping_atoms(tmp_path, structure):
    def overlap(a):
        a.positions[1] = a.positions[0] + [0.05, 0, 0]
    expect_failure(tmp_path, ["--model", MODEL, "--structure", structure(overlap)], "Å apart")


def test_grid_too_small_for_ranks(tmp_path, be2):
    expect_failure(tmp_path, ["--model", MODEL, "--structure", SNAP0, "--grid", 1, 1, 1, "--no-energy"],
                   "too small for 2 MPI ranks")


def _cuda_usable():
    import torch
    return torch.cuda.is_available()


@pytest.mark.skipif(_cuda_usable(), reason="this machine has a CUDA GPU: --device cuda is valid here")
def test_device_cuda_without_gpu(tmp_path, be2):
    """--device cuda where torch has no CUDA: InputError on every rank before any descriptor is computed."""
    expect_failure(tmp_path, ["--model", MODEL, "--structure", SNAP0, "--no-energy", "--device", "cuda"],
                   "InputError: --device cuda: ")


def test_nan_from_network(tmp_path, be2):
    def blow_up(sd):
        sd = dict(sd)
        sd["layers.0.weight"] = (sd["layers.0.weight"].astype(np.float64) * 1e308).astype(np.float64)
        return sd
    model = write_mala_zip(tmp_path / "nan.zip", MODEL, transform_state=blow_up)
    expect_failure(tmp_path, ["--model", model, "--structure", SNAP0, "--pseudo-dir", BE2], "non-finite LDOS")


def test_existing_output_not_overwritten(tmp_path, be2):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text("{\"keep\": true}\n")
    proc = run_cli(["predict", "--model", MODEL, "--structure", SNAP0, "--out", out], timeout=120, check=False)
    assert proc.returncode != 0 and "--overwrite" in proc.stderr
    assert (out / "results.json").read_text() == "{\"keep\": true}\n"
