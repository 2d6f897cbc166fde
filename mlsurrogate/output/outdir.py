"""The output directory of one run: checked, locked, committed last. Stage: output.

A directory holds either the complete result of one run or no ``results.json``:

* ``--out`` is checked where it enters (empty, a file, under a file, unwritable: one OutputError);
* a lock file (``.mlsurrogate.lock``, a POSIX ``lockf`` lock held by rank 0 for the whole run) refuses a
  second run on the same directory; the kernel drops the lock when its process dies, so a lock left by
  a killed job is never mistaken for a live one;
* with ``--overwrite`` the old result set is removed *before* anything new is written (results.json
  first: the directory stops looking complete at once), new files are written under temporary names
  and renamed into place, ``results.json`` last (the commit marker);
* a run that fails removes its temporary files, and the directory itself if the run created it and
  left it empty.
"""
import errno
import fcntl
import logging
import os
import socket

from ..errors import OutputError
from ..parallel import on_root

__all__ = ["OutputDir", "LOCK_NAME", "check_output_file", "check_free_space", "reserve_space", "prepare_output_dir",
           "commit_file"]

LOCK_NAME = ".mlsurrogate.lock"

log = logging.getLogger("mlsurrogate")


def _check_path(path, flag="--out"):
    """OutputError if ``path`` cannot become a directory we write to. Local."""
    if not str(path).strip():
        raise OutputError(f"{flag} is empty: give a directory name")
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputError(f"{flag} {path} is a file, not a directory")
    parent = os.path.abspath(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise OutputError(f"{flag} {path}: {parent} is a file, so no directory can be made under it")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{flag} {path}: {parent} is not writable")


def check_output_file(path, overwrite, flag="OUT"):
    """OutputError unless ``path`` can be written as one file (train, convert-model). Local."""
    if not str(path).strip():
        raise OutputError(f"{flag} is empty: give a file name")
    if os.path.isdir(path):
        raise OutputError(f"{flag} {path} is a directory, not a file")
    if os.path.exists(path) and not overwrite:
        raise OutputError(f"{path} exists; pass --overwrite to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OutputError(f"the folder of {path} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"the folder of {path} is not writable")


def check_free_space(directory, nbytes, what):
    """OutputError if ``what`` (``nbytes`` bytes) cannot fit the free space of ``directory``. Local."""
    import shutil
    free = shutil.disk_usage(directory).free
    if nbytes > free:
        raise OutputError(f"{what} would take {nbytes / 2**30:.4g} GiB but {directory} has {free / 2**30:.4g} GiB "
                          "free: use a smaller --grid or another --out")
    return True


def reserve_space(path, nbytes):
    """Allocate the blocks of ``path`` up to ``nbytes`` now (writes through a memory map to a sparse file on
    a full disk would kill the process with SIGBUS instead of raising). OutputError if the disk is full."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, nbytes)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            return False  # file system without fallocate: the free-space check above is what we have
        raise OutputError(f"cannot reserve {nbytes / 2**30:.4g} GiB for {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    return True


class _Lock:
    """Exclusive ``lockf`` lock on DIR/.mlsurrogate.lock, held while the object lives. Local."""

    def __init__(self, directory):
        self.path = os.path.join(directory, LOCK_NAME)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EACCES, errno.EAGAIN):  # e.g. ENOLCK: no locks on this file system
                    log.warning("%s: the file system refuses locks (%s); a concurrent run on this --out would not "
                                "be detected", directory, exc.strerror)
                    break
                holder = os.read(fd, 200).decode(errors="replace").strip() or "unknown process"
                os.close(fd)
                raise OutputError(f"{directory} is in use by another run ({holder}); wait for it or choose "
                                  "another --out") from None
            try:  # the previous holder may have unlinked the file between our open and our lock
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        self.fd = fd

    def release(self):
        if self.fd is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            os.close(self.fd)  # closing drops the lock
            self.fd = None


class OutputDir:
    """Context manager for a run's output directory. Collective over ``comm`` (rank 0 does the file work).

    names : the result files the command writes (``results.json`` among them); with ``overwrite`` the
    existing ones are removed on entry. On an exception, temporary files are removed (and the directory,
    if this run created it and it is empty); the lock is released on every exit.
    """

    def __init__(self, comm, path, overwrite, names):
        self.comm, self.path, self.overwrite, self.names = comm, str(path), overwrite, list(names)
        self._lock, self._created = None, False

    def file(self, name):
        return os.path.join(self.path, name)

    def temp(self, name):
        """Temporary name of result file ``name`` (renamed by :meth:`commit`)."""
        return os.path.join(self.path, f".{name}.tmp")

    def _enter(self):
        _check_path(self.path)
        self._created = not os.path.isdir(self.path)
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create --out {self.path}: {exc.strerror}") from None
        self._lock = _Lock(self.path)
        existing = [n for n in self.names if os.path.exists(self.file(n))]
        if existing and not self.overwrite:
            self._lock.release()
            raise OutputError(f"{self.path} already holds {', '.join(existing)}; choose another --out or pass "
                              "--overwrite")
        for name in sorted(existing, key=lambda n: n != "results.json"):  # the commit marker goes first
            os.remove(self.file(name))
        return True

    def _enter_checked(self):
        try:
            return self._enter()
        except OSError as exc:
            if self._lock is not None:
                self._lock.release()
            raise OutputError(f"cannot prepare --out {self.path}: {exc.strerror or exc}") from None

    def __enter__(self):
        on_root(self.comm, self._enter_checked)
        return self

    def rename_local(self, name):
        """Rename the finished temporary of ``name`` into place. Local (rank 0)."""
        try:
            os.replace(self.temp(name), self.file(name))
        except OSError as exc:
            raise OutputError(f"cannot write {self.file(name)}: {exc.strerror}") from None
        return True

    def commit(self, name):
        """Rename the finished temporary of ``name`` into place. Collective."""
        return on_root(self.comm, self.rename_local, name)

    def _cleanup(self, failed):
        if failed:
            for name in self.names:
                if os.path.exists(self.temp(name)):
                    os.remove(self.temp(name))
        if self._lock is not None:
            self._lock.release()
        if failed and self._created and os.path.isdir(self.path) and not os.listdir(self.path):
            os.rmdir(self.path)

    def __exit__(self, exc_type, exc, tb):
        if self.comm.rank == 0:
            try:
                self._cleanup(exc_type is not None)
            except OSError:
                pass  # cleanup is best effort; the original error is what the user must see
        return False


def _prepare(path, overwrite, names):
    _check_path(path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {path}: {exc.strerror}") from None
    existing = [n for n in names if os.path.exists(os.path.join(path, n))]
    if existing and not overwrite:
        raise OutputError(f"{path} already holds {', '.join(existing)}; choose another --out or pass --overwrite")
    return True


def prepare_output_dir(comm, path, overwrite, names=("results.json",)):
    """Create ``path`` and refuse existing ``names`` unless ``overwrite``, without a lock: for the folders of
    a study whose top directory is checked the same way (one job writes them). Collective."""
    return on_root(comm, _prepare, str(path), overwrite, list(names))


def commit_file(comm, tmp_path, final_path):
    """Rename a finished temporary file into place on rank 0. Collective."""
    return on_root(comm, os.replace, tmp_path, final_path)
