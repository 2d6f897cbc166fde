"""Bad values where they enter (issue 13, classes 1, 4, 7, 8) under mpirun -n 2: exit 2, one line, no results.

Every command that reads the same kind of input is covered: predict, descriptors, evaluate, train,
convert-model and score-model.
"""
import ase.io
import numpy as np
import pytest

from conftest import BE2, MODEL, SNAP0
from helpers_faults import expect_error


@pytest.fixture
def bad_structure(tmp_path, be2):
    """A copy of snapshot 0 with atom 1 at a NaN (or inf) position."""
    def make(value):
        atoms = ase.io.read(SNAP0)
        atoms.positions[1, 0] = value
        path = tmp_path / f"bad_{value}.extxyz"
        ase.io.write(path, atoms)
        return path
    return make


# class 1: non-finite positions never reach the native kernel or LAMMPS
@pytest.mark.parametrize("command", [
    ["predict", "--model", MODEL, "--no-energy", "--descriptors", "lammps"],
    ["descriptors", "--grid", 18, 18, 27],
])
def test_non_finite_position(tmp_path, bad_structure, command):
    value = np.inf if "lammps" in command else np.nan
    out = tmp_path / "out"
    expect_error([*command, "--structure", bad_structure(value), "--out", out],
                 "InputError: structure", out)
    assert not out.exists(), "a failed run must not leave the output directory it created"


def test_non_finite_position_evaluate(tmp_path, bad_structure):
    out = tmp_path / "out"
    expect_error(["evaluate", "--structure", bad_structure(np.nan), "--terms", "ewald", "--valence", "Be=2",
                  "--out", out], "has a NaN or infinite position", out)


# class 4: an explicit value is used or refused, never replaced by a default
EXPLICIT = [(["--temperature", "0"], "--temperature 0: must be a positive finite number"),
            (["--temperature", "nan"], "--temperature nan: must be a positive finite number"),
            (["--ecutrho", "0"], "--ecutrho 0: must be a positive finite number"),
            (["--density-window", "-1"], "--density-window -1: must be a positive finite number"),
            (["--max-points-per-pass", "0"], "--max-points-per-pass 0: must be a positive integer"),
            (["--batch-size", "-8"], "--batch-size -8: must be a positive integer")]


@pytest.mark.parametrize("flags, message", [EXPLICIT[0], EXPLICIT[-1]])
def test_explicit_values_refused(tmp_path, be2, flags, message):
    out = tmp_path / "out"
    expect_error(["predict", "--model", MODEL, "--structure", SNAP0, *flags, "--out", out], message, out)
    assert not out.exists()


@pytest.mark.parametrize("flags, message", EXPLICIT)
def test_explicit_values_checked_where_parsed(flags, message):
    """Every explicit predict value goes through the same check (in-process: the parser predict uses)."""
    from mlsurrogate.cli.main import _parser
    from mlsurrogate.cli.predict import check_arguments as _check
    from mlsurrogate.errors import InputError
    args = _parser()[0].parse_args(["predict", "--model", "m", "--structure", "s", "--out", "o", *flags])
    with pytest.raises(InputError) as info:
        _check(args)
    assert str(info.value).startswith(message)


def test_evaluate_infinite_temperature(tmp_path, be2):
    out = tmp_path / "out"
    expect_error(["evaluate", "--structure", SNAP0, "--ldos", BE2 / "Be_snapshot0.out.npy", "--energy-grid",
                  -5, 2.5, 11, "--temperature", "inf", "--out", out], "--temperature inf", out)


# class 7: valences are numbers of electrons: finite and positive, checked before any work
@pytest.mark.parametrize("valence", ["Be=-2"])
def test_evaluate_bad_valence(tmp_path, be2, valence):
    out = tmp_path / "out"
    expect_error(["evaluate", "--structure", SNAP0, "--terms", "ewald", "--valence", valence, "--out", out],
                 f"--valence {valence}", out)


@pytest.mark.parametrize("value", ["nan", "-2", "0", "inf"])
def test_valence_values(value):
    from mlsurrogate.cli.checks import valence_map
    from mlsurrogate.cli.energy_options import parse_assignments
    from mlsurrogate.errors import InputError
    with pytest.raises(InputError, match=f"--valence Be={float(value):g}: the valence charge must be"):
        valence_map(parse_assignments([f"Be={value}"], "--valence", float))


def test_train_bad_valence_before_training(tmp_path, be2):
    from test_train import write_config
    config = write_config(tmp_path / "t.toml")
    config.write_text(config.read_text().replace("{ Be = 2 }", "{ Be = -2 }"))
    proc = expect_error(["train", "--config", config, "--out", tmp_path / "m.mlsm"],
                        "[model] valence_electrons Be = -2", nprocs=0)
    assert "epoch" not in proc.stdout and not (tmp_path / "m.mlsm").exists()


# class 8: the message names the real problem
def test_directory_as_structure(tmp_path, be2):
    out = tmp_path / "out"
    expect_error(["predict", "--model", MODEL, "--structure", tmp_path, "--out", out],
                 "is a directory, not a file", out)


@pytest.mark.parametrize("command", [["predict", "--structure", SNAP0, "--out", "{out}", "--model", "{dir}"]])
def test_directory_as_model(tmp_path, be2, command):
    out = tmp_path / "out"
    args = [str(a).format(out=out, dir=tmp_path) for a in command]
    expect_error(args, f"ModelError: model file {tmp_path} is a directory", out)


def test_score_model_directory(tmp_path, be2):
    expect_error(["score-model", "--data", "models/be2_test.toml", "--model", tmp_path],
                 "is a directory", nprocs=0)


def test_convert_model_into_directory(tmp_path, be2):
    expect_error(["convert-model", MODEL, tmp_path], "is a directory, not a file")


def test_bogus_native_variant(tmp_path, be2):
    out = tmp_path / "out"
    expect_error(["predict", "--model", MODEL, "--structure", SNAP0, "--no-energy", "--out", out],
                 "MLSURROGATE_NATIVE_VARIANT='sse9' is not a kernel variant", out,
                 env={"MLSURROGATE_NATIVE_VARIANT": "sse9"})
