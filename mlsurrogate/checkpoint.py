"""Checkpoint and resume of the descriptor-pass loop, and a clean stop on SIGTERM. Stage: pipeline.

After a pass, the ranks agree (one allreduce) whether to save and whether to stop. A save writes every
rank's sweep state (partial DOS, density window, density accumulator: plain ``.npz``, no pickle) as
``<stage>.rank<r>.pass<p>.npz``, then rank 0 writes ``manifest.json`` (the run's parameters, the pass
and every file's SHA-256) atomically: the manifest is the commit, and the files of the previous pass
are removed only after it. A resume checks the parameters and the checksums and continues after the
saved pass; the state is restored bit for bit, so the results equal an uninterrupted run's bit for bit.
"""
import hashlib
import json
import os
import signal
import time

import numpy as np

from .errors import InputError, Interrupted, OutputError
from .parallel import on_root, raise_collectively

__all__ = ["PassControl", "Checkpoint", "sigterm_flag", "file_sha256", "sweep_state", "restore_sweep"]

MANIFEST = "manifest.json"


def file_sha256(path):
    """SHA-256 hex digest of a file's bytes. Local."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class sigterm_flag:
    """Context manager: while active, SIGTERM only sets ``self.requested`` (checked at pass boundaries)."""

    def __init__(self):
        self.requested = False
        self._old = None

    def _handler(self, signum, frame):
        self.requested = True

    def __enter__(self):
        self._old = signal.signal(signal.SIGTERM, self._handler)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGTERM, self._old)
        return False


def _jsonable(value):
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))


def _differences(saved, current):
    keys = sorted(set(saved) | set(current))
    return [k for k in keys if saved.get(k) != current.get(k)]


class Checkpoint:
    """The checkpoint directory of one run. Collective over ``comm``.

    params : dict of JSON values identifying the run (structure and model hashes, options); a resume
    whose params differ is refused. resume : continue from the saved state (which must exist); without
    it, a directory that already holds a checkpoint is refused.
    """

    def __init__(self, comm, directory, params, resume):
        self.comm, self.dir, self.params = comm, str(directory), _jsonable(params)
        self.manifest = on_root(comm, self._open, resume)

    def _open(self, resume):
        path = os.path.join(self.dir, MANIFEST)
        if os.path.exists(self.dir) and not os.path.isdir(self.dir):
            raise InputError(f"--checkpoint {self.dir} is a file, not a directory")
        if not resume:
            if os.path.exists(path):
                raise InputError(f"--checkpoint {self.dir} holds the checkpoint of an earlier run: pass --resume "
                                 "to continue it, or choose another directory")
            try:
                os.makedirs(self.dir, exist_ok=True)
            except OSError as exc:
                raise InputError(f"cannot create --checkpoint {self.dir}: {exc.strerror}") from None
            if not os.access(self.dir, os.W_OK | os.X_OK):
                raise InputError(f"--checkpoint {self.dir} is not writable")
            return {"params": self.params, "stages": {}}
        try:
            with open(path) as f:
                manifest = json.load(f)
        except FileNotFoundError:
            raise InputError(f"--resume: no checkpoint in {self.dir} (no {MANIFEST})") from None
        except (OSError, ValueError) as exc:
            raise InputError(f"--resume: unreadable {path}: {exc}") from None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("params"), dict):
            raise InputError(f"--resume: {path} is not a checkpoint manifest")
        diff = _differences(manifest["params"], self.params)
        if diff:
            raise InputError(f"--resume: the checkpoint in {self.dir} is of a different run ({', '.join(diff)} "
                             "differ); rerun with the original settings or start without --resume")
        return manifest

    def _file(self, stage, p, rank):
        return os.path.join(self.dir, f"{stage}.rank{rank:05d}.pass{p:06d}.npz")

    def restore(self, stage, sweep_params):
        """(last finished pass, {name: array}) of this rank for ``stage``, or None. Collective.

        sweep_params : the sweep's own identity (grid, brick, passes, ...), checked like ``params``.
        """
        entry = self.manifest["stages"].get(stage)
        if entry is None:
            return None
        diff = _differences(entry["sweep"], _jsonable(sweep_params))
        error, state = None, None
        if diff:
            error = InputError(f"--resume: the checkpoint in {self.dir} is of a different run ({', '.join(diff)} "
                               "differ); rerun with the original settings or start without --resume")
        else:
            path = self._file(stage, entry["pass"], self.comm.rank)
            try:
                if file_sha256(path) != entry["sha256"][self.comm.rank]:
                    raise InputError(f"--resume: {path} does not match its checksum (damaged checkpoint)")
                with np.load(path, allow_pickle=False) as npz:
                    state = {k: npz[k] for k in npz.files}
            except OSError as exc:
                error = InputError(f"--resume: cannot read {path}: {exc.strerror or exc}")
            except (InputError, ValueError) as exc:
                error = exc if isinstance(exc, InputError) else InputError(f"--resume: {path}: {exc}")
        raise_collectively(self.comm, error)
        return entry["pass"], state

    def save(self, stage, p, sweep_params, state):
        """Write this rank's ``state`` after pass ``p`` of ``stage``, then commit the manifest. Collective."""
        path, error, digest = self._file(stage, p, self.comm.rank), None, None
        tmp = path + ".tmp"
        try:
            with open(tmp, "wb") as f:
                np.savez(f, **state)
            os.replace(tmp, path)
            digest = file_sha256(path)
        except OSError as exc:
            error = OutputError(f"cannot write checkpoint {path}: {exc.strerror or exc}")
        raise_collectively(self.comm, error)
        digests = self.comm.gather(digest, root=0)
        previous = self.manifest["stages"].get(stage)
        self.manifest["stages"][stage] = {"pass": p, "sweep": _jsonable(sweep_params), "sha256": digests}

        def commit():
            tmp_manifest = os.path.join(self.dir, f".{MANIFEST}.tmp")
            with open(tmp_manifest, "w") as f:
                json.dump(self.manifest, f, indent=1)
            os.replace(tmp_manifest, os.path.join(self.dir, MANIFEST))
            return True
        on_root(self.comm, commit)
        if previous is not None and previous["pass"] != p:
            try:
                os.remove(self._file(stage, previous["pass"], self.comm.rank))
            except OSError:
                pass

    def remove(self):
        """Delete the checkpoint files (after the results are committed). Collective."""
        def clean():
            for name in os.listdir(self.dir):
                if name == MANIFEST or (name.endswith(".npz") and ".rank" in name):
                    os.remove(os.path.join(self.dir, name))
            return True
        on_root(self.comm, clean)


class PassControl:
    """What happens at a pass boundary: checkpoint when due, stop when asked. Collective over ``comm``.

    stop : object with a ``requested`` attribute (e.g. :class:`sigterm_flag`); checkpoint : a
    :class:`Checkpoint` or None; interval_s : seconds between saves (0: after every pass);
    stop_after_pass : stop as if SIGTERM came after this many passes (tests, and rehearsing a job script).
    """

    def __init__(self, comm, stop=None, checkpoint=None, interval_s=0.0, stop_after_pass=None):
        self.comm, self.stop, self.checkpoint = comm, stop, checkpoint
        self.interval_s, self.stop_after_pass = interval_s, stop_after_pass
        self._last_save, self._passes_done = time.monotonic(), 0

    def restore(self, stage, sweep_params):
        """(next pass to compute, state or None). Collective."""
        if self.checkpoint is None:
            return 0, None
        saved = self.checkpoint.restore(stage, sweep_params)
        return (0, None) if saved is None else (saved[0] + 1, saved[1])

    def after_pass(self, stage, p, n_passes, sweep_params, state_fn):
        """Called after pass ``p`` (0-based) of ``n_passes``; ``state_fn()`` gives this rank's state. Collective."""
        from mpi4py import MPI
        self._passes_done += 1
        signalled = bool(self.stop is not None and self.stop.requested)
        rehearsal = self.stop_after_pass is not None and self._passes_done >= self.stop_after_pass
        due = (self.checkpoint is not None and p + 1 < n_passes
               and time.monotonic() - self._last_save >= self.interval_s)
        flags = np.array([signalled, rehearsal, due], dtype=np.int32)
        self.comm.Allreduce(MPI.IN_PLACE, flags, op=MPI.MAX)  # every rank takes the same decision
        signalled, rehearsal, due = (bool(f) for f in flags)
        stop = signalled or rehearsal
        saved = False
        if self.checkpoint is not None and (due or stop):
            self.checkpoint.save(stage, p, sweep_params, state_fn())
            self._last_save, saved = time.monotonic(), True
        if stop:
            if saved:
                how = (f"state after pass {p + 1}/{n_passes} saved in {self.checkpoint.dir}; rerun the same command "
                       "with --resume to continue")
            else:
                how = "nothing saved (no --checkpoint DIR); rerun the command"
            why = "SIGTERM" if signalled else "MLSURROGATE_STOP_AFTER_PASSES"
            raise Interrupted(f"stopped by {why} after descriptor pass {p + 1}/{n_passes}: {how}")


def sweep_state(dos_local, window, acc):
    """One rank's sweep state as arrays: partial DOS (n_e,), density window, accumulator. Local."""
    state = {"dos_local": dos_local,
             "window_idx": np.array([] if window is None else [window.i_lo, window.i_hi], dtype=np.int64),
             "window_mu": np.array([] if window is None else [window.mu_lo, window.mu_hi], dtype=np.float64)}
    if acc is not None:
        state.update(acc.state())
    return state


def restore_sweep(comm, saved, n_local, energies, kt):
    """(dos_local, window, accumulator or None) from :func:`sweep_state`'s arrays. Collective (errors)."""
    from .electronic.density import DensityAccumulator, DensityWindow
    error, result = None, None
    try:
        window = None
        if saved["window_idx"].size:
            (i_lo, i_hi), (mu_lo, mu_hi) = saved["window_idx"].tolist(), saved["window_mu"].tolist()
            window = DensityWindow(int(i_lo), int(i_hi), float(mu_lo), float(mu_hi))
        acc = None
        if "acc_below" in saved:
            acc = DensityAccumulator(n_local, energies, kt, window)
            acc.load_state(saved)
        dos_local = np.array(saved["dos_local"], dtype=np.float64)
        if dos_local.shape != (len(energies),):
            raise ValueError(f"partial DOS has shape {dos_local.shape}, expected ({len(energies)},)")
        result = (dos_local, window, acc)
    except (KeyError, ValueError, TypeError) as exc:
        error = InputError(f"--resume: the checkpoint does not fit this run ({exc})")
    raise_collectively(comm, error)
    return result
