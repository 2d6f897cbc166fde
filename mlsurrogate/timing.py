"""Wall and CPU seconds per stage: the one clock of the pipeline and the energy terms. Local.

``timer.stage("descriptors")`` as a context manager, or ``timer.lap("hartree")`` (seconds since the last
lap go to that key). Keys hold wall seconds; ``KEY_cpu`` holds this process's CPU seconds (all threads)
over the same interval, so per-rank thread use can be read from results.json.
"""
from contextlib import contextmanager
import time

__all__ = ["StageTimer"]


class StageTimer:
    """Accumulates seconds per stage name into :attr:`seconds` (a plain dict, results.json's timings_s)."""

    def __init__(self, seconds=None, cpu=True):
        self.seconds = {} if seconds is None else seconds
        self.cpu = cpu
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def lap(self, name):
        """Add the time since the previous lap (or the start) to ``name``."""
        wall, cpu = time.perf_counter(), time.process_time()
        self.seconds[name] = self.seconds.get(name, 0.0) + wall - self._wall
        if self.cpu:
            self.seconds[name + "_cpu"] = self.seconds.get(name + "_cpu", 0.0) + cpu - self._cpu
        self._wall, self._cpu = wall, cpu

    def restart(self):
        """Forget the time since the last lap (it belongs to no stage)."""
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    @contextmanager
    def stage(self, name):
        """Time the ``with`` body as stage ``name``."""
        self.restart()
        try:
            yield
        finally:
            self.lap(name)
