"""Run a command as users do and check the failure contract: exit code, one line, no results, no temporaries."""
import os
import subprocess

from conftest import BIN, ROOT


def run(args, nprocs=2, env=None, timeout=120):
    """``mpirun -n nprocs mlsurrogate ARGS`` (nprocs 0: one process without mpirun); CompletedProcess."""
    cmd = ([str(BIN / "mpirun"), "-n", str(nprocs)] if nprocs else []) + [str(BIN / "mlsurrogate"), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, **(env or {})})


def assert_failed(proc, message, out=None, code=2):
    """Exit ``code`` on every rank, ``message`` printed once on one line, no traceback, nothing left in ``out``."""
    text = proc.stdout + proc.stderr
    assert proc.returncode == code, text
    assert message in proc.stderr, text
    assert proc.stderr.count(message) == 1, "the message must be printed once, by rank 0"
    assert "Traceback" not in text and "BAD TERMINATION" not in text, text
    line = [ln for ln in proc.stderr.splitlines() if message in ln][0]
    assert line.split(":")[0].endswith("Error") or line.startswith("Interrupted"), line
    if out is not None:
        assert not (out / "results.json").exists()
        if out.is_dir():
            leftovers = [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
            assert not leftovers, leftovers


def expect_error(args, message, out=None, nprocs=2, env=None, code=2):
    """Run and check :func:`assert_failed`; returns the CompletedProcess."""
    proc = run(args, nprocs=nprocs, env=env)
    assert_failed(proc, message, out, code)
    return proc
