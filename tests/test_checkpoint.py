"""Checkpoint, SIGTERM and resume under mpirun -n 2: a run stopped twice (once as rehearsed with
MLSURROGATE_STOP_AFTER_PASSES, once by a real SIGTERM to mpirun) and resumed gives results bit-identical
to an uninterrupted run; resumes of a different run, and of a damaged checkpoint, are refused.
"""
import json
import shutil
import signal
import subprocess
import time

import h5py
import numpy as np

from conftest import BIN, MODEL, ROOT, SNAP0
from helpers_faults import assert_failed, expect_error, run
from mlsurrogate.output.outdir import LOCK_NAME

KEYS = ("fermi_energy_eV", "band_energy_eV", "entropy_contribution_eV", "number_of_electrons", "dos_per_eV")


def predict(out, *flags):
    return ["predict", "--model", MODEL, "--structure", SNAP0, "--no-energy", "--no-plot", "--save", "density",
            "--max-points-per-pass", 96, "--out", out, *flags]


def results(out):
    with h5py.File(out / "density.h5") as f:
        density = f["density"][...]
    return json.loads((out / "results.json").read_text()), density


def sigterm_during_passes(args, after_line):
    """Start mpirun, send it SIGTERM once rank 0 has logged ``after_line``; the CompletedProcess."""
    cmd = [str(BIN / "mpirun"), "-n", "2", str(BIN / "mlsurrogate"), *map(str, args)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    lines, deadline = [], time.monotonic() + 120
    try:
        for line in proc.stderr:
            lines.append(line)
            if after_line in line:
                proc.send_signal(signal.SIGTERM)
                break
            assert time.monotonic() < deadline, "".join(lines)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, "".join(lines) + stderr)


def test_stop_sigterm_resume_bit_identical(tmp_path, be2):
    ref_out, out, ck = tmp_path / "ref", tmp_path / "out", tmp_path / "ck"
    ref_out.mkdir()
    (ref_out / LOCK_NAME).write_text("pid 999999 on a-dead-node\n")  # left by a killed job: not a live lock
    proc = run(predict(ref_out), timeout=240)
    assert proc.returncode == 0, proc.stderr
    n_passes = json.loads((ref_out / "results.json").read_text())["descriptor_passes"]
    assert n_passes >= 20

    flags = ["--checkpoint", ck, "--checkpoint-interval", 0]
    proc = expect_error(predict(out, *flags), f"after descriptor pass 3/{n_passes}: state after pass 3/{n_passes} "
                        f"saved in {ck}; rerun the same command with --resume", out, code=3,
                        env={"MLSURROGATE_STOP_AFTER_PASSES": "3"})
    assert not out.exists()

    expect_error(predict(out, *flags, "--resume", "--batch-size", 1000),
                 f"--resume: the checkpoint in {ck} is of a different run (batch_size differ)", out)
    expect_error(predict(out, *flags), f"--checkpoint {ck} holds the checkpoint of an earlier run", out)

    proc = sigterm_during_passes(predict(out, *flags, "--resume"), f"pass 6/{n_passes} done")
    assert_failed(proc, "Interrupted: stopped by SIGTERM after descriptor pass", out, code=3)
    stopped_at = int(proc.stderr.split("SIGTERM after descriptor pass ")[1].split("/")[0])
    assert 6 <= stopped_at < n_passes, proc.stderr
    assert "--resume" in proc.stderr

    expect_error(predict(out, *flags, "--resume"), "(passes, proc_grid, ranks differ)", out, nprocs=1)
    damaged = tmp_path / "damaged"
    shutil.copytree(ck, damaged)
    victim = sorted(damaged.glob("sweep.rank00001.*.npz"))[-1]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle of the saved arrays
    victim.write_bytes(bytes(data))
    expect_error(predict(out, "--checkpoint", damaged, "--resume"),
                 f"{victim} does not match its checksum (damaged checkpoint)", out)

    proc = run(predict(out, *flags, "--resume"), timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert f"pass {stopped_at}/{n_passes} done" not in proc.stderr, "restored passes are not recomputed"
    (ref, ref_density), (got, density) = results(ref_out), results(out)
    for key in KEYS:
        assert got[key] == ref[key], key                       # bit for bit
    assert np.array_equal(density, ref_density)
    assert not any(ck.iterdir()), "the checkpoint is removed once the results are committed"
    assert not (out / LOCK_NAME).exists() and not (ref_out / LOCK_NAME).exists()
