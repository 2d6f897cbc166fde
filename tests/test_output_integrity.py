"""Output paths and integrity (issue 13, classes 5 and 6) under mpirun -n 2: a directory holds the complete
result of one run or no results.json; a second run on the same --out is refused while the first holds it.
"""
import fcntl
import os

import pytest

from conftest import MODEL, SNAP0
from helpers_faults import expect_error
from mlsurrogate.output.outdir import LOCK_NAME


def predict(out, *flags):
    return ["predict", "--model", MODEL, "--structure", SNAP0, "--no-energy", "--out", out, *flags]


@pytest.mark.parametrize("where, message", [
    ("file", "is a file, not a directory"),
    ("under_file", "is a file, so no directory can be made under it"),
    ("empty", "--out is empty"),
    ("proc", "cannot create --out"),
])
def test_bad_out(tmp_path, be2, where, message):
    (tmp_path / "f").write_text("x")
    out = {"file": tmp_path / "f", "under_file": tmp_path / "f" / "out", "empty": "",
           "proc": "/proc/mlsurrogate-out"}[where]
    proc = expect_error(predict(out), message)
    assert proc.stderr.startswith("OutputError: ") and "--out" in proc.stderr, proc.stderr
    assert (tmp_path / "f").read_text() == "x"


def test_concurrent_run_refused(tmp_path, be2):
    """While one run holds DIR's lock (here: this test process), a second run is refused and writes nothing."""
    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b"pid 4242 on testhost\n")
        expect_error(predict(out), "is in use by another run (pid 4242 on testhost)", out)
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]
    finally:
        os.close(fd)


def test_overwrite_never_mixes_runs(tmp_path, be2):
    """--overwrite removes the old result set (all of it, also files this run would not write) before
    writing; a run stopped midway leaves no results.json, so nothing new sits next to old results."""
    out = tmp_path / "out"
    out.mkdir()
    for name in ("results.json", "density.h5", "dos.png"):
        (out / name).write_text("old run\n")
    proc = expect_error(predict(out, "--overwrite", "--max-points-per-pass", 500),  # no --save density either
                        "stopped by MLSURROGATE_STOP_AFTER_PASSES after descriptor pass 2/12", out, code=3,
                        env={"MLSURROGATE_STOP_AFTER_PASSES": "2"})
    assert "nothing saved (no --checkpoint DIR)" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [], "old results removed, no lock or temporary left"


def test_full_disk_is_an_output_error(tmp_path):
    """A write that runs out of space (here: a file-size limit, EFBIG, in a child process) gives one
    OutputError and leaves no temporary file; non-finite results are refused rather than written."""
    import subprocess
    import sys
    code = f"""
import resource
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
from mlsurrogate.errors import MLSurrogateError, OutputError
from mlsurrogate.output.results import write_json_atomic
try:
    write_json_atomic({str(tmp_path / 'results.json')!r}, {{"dos_per_eV": [1.0] * 5000}})
except OutputError as exc:
    print("OutputError:", exc)
try:
    write_json_atomic({str(tmp_path / 'nan.json')!r}, {{"x": float("nan")}})
except MLSurrogateError as exc:
    print("refused:", exc)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "OutputError: cannot write" in proc.stdout and "File too large" in proc.stdout, proc.stdout + proc.stderr
    assert "refused: refusing to write" in proc.stdout and "NaN or infinite" in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == []
