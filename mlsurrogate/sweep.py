"""One sweep over the grid: descriptors -> network -> DOS and the density accumulator. Stage: descriptors + model.

Collective over ``comm``. Each rank visits its block one sub-lattice pass at a time (decomposition/passes.py):
descriptors of the pass's points (m, K) -> LDOS (m, n_energies) in 1/(eV Å³) -> added to this rank's DOS
and, when the density is wanted, folded into a :class:`~mlsurrogate.electronic.density.DensityAccumulator`.
Only the accumulator stays per grid point; descriptors and LDOS live for one pass.

Which energy nodes the accumulator keeps (its window) is decided by the caller (:mod:`mlsurrogate.pipeline`):
a :class:`DensityWindow` known before the sweep, a function that picks it from the DOS estimated after the
first pass, or None for no density at all.
"""
from dataclasses import dataclass
import logging
import time

import numpy as np

from .checkpoint import restore_sweep, sweep_state
from .electronic.density import DensityAccumulator, DensityWindow
from .errors import MLSurrogateError, ModelError
from .parallel import agree, raise_collectively, reduce_identical

__all__ = ["SweepResult", "LdosSweep"]

log = logging.getLogger("mlsurrogate")


@dataclass
class SweepResult:
    """dos : (n_energies,) 1/eV, bit-identical on every rank; accumulator : this rank's, or None."""
    dos: np.ndarray
    accumulator: DensityAccumulator = None


class LdosSweep:
    """Sweeps of one structure through one descriptor backend and one network. Collective over ``comm``.

    run : the resolved run (:class:`~mlsurrogate.pipeline.RunSetup`); backend : an open descriptor backend
    with the structure set; net : an :class:`~mlsurrogate.model.inference.LdosNetwork`; timer : a
    :class:`~mlsurrogate.timing.StageTimer`; control : a :class:`~mlsurrogate.checkpoint.PassControl` or None.
    """

    def __init__(self, comm, run, backend, net, timer, control=None):
        self.comm, self.run, self.backend, self.net, self.timer, self.control = comm, run, backend, net, timer, control

    def sweep(self, window, stage="sweep"):
        """One pass over all sub-lattices; a :class:`SweepResult`. ``stage`` names it in the checkpoint.

        window : DensityWindow (known now), a function ``dos_estimate (n_energies,) -> DensityWindow`` called
        once after the first pass, or None (no density).
        """
        run, comm = self.run, self.comm
        energies = run.energies
        dos_local, acc = np.zeros(len(energies)), None
        if isinstance(window, DensityWindow):
            acc = DensityAccumulator(run.decomp.local_size, energies, run.kt, window)
        sweep_id = {"stage": stage, "grid": run.decomp.global_shape, "proc_grid": run.decomp.proc_grid,
                    "ranks": comm.size, "passes": run.passes.n_passes, "keep_density": window is not None,
                    "window": ([window.i_lo, window.i_hi, window.mu_lo, window.mu_hi]
                               if isinstance(window, DensityWindow) else None)}
        start, saved = (0, None) if self.control is None else self.control.restore(stage, sweep_id)
        if saved is not None:
            dos_local, _, acc = restore_sweep(comm, saved, run.decomp.local_size, energies, run.kt)
        started = time.perf_counter()
        for p, offset in enumerate(run.passes.offsets):
            if p < start:
                continue  # restored from the checkpoint
            flat, ldos = self._ldos_of_pass(offset)
            self.timer.restart()
            dos_local += ldos.sum(axis=0) * run.dv
            if acc is None and window is not None:   # first pass: the window follows from its DOS
                estimate = reduce_identical(comm, dos_local) * run.passes.n_passes
                acc = DensityAccumulator(run.decomp.local_size, energies, run.kt, window(estimate))
            if acc is not None:
                acc.add(flat, ldos)
            self.timer.lap("postprocess")
            self._log_progress(p, start, started)
            if self.control is not None:
                self.control.after_pass(stage, p, run.passes.n_passes, sweep_id,
                                        lambda: sweep_state(dos_local, None if acc is None else acc.window, acc))
        if acc is not None:
            agree(comm, bool(acc.filled.all()), MLSurrogateError,
                  "some grid points were never computed by the descriptor passes (please report this)")
        return SweepResult(dos=reduce_identical(comm, dos_local), accumulator=acc)

    def _ldos_of_pass(self, offset):
        """(flat local indices (m,), LDOS (m, n_energies)) of one pass; one collective error check."""
        run = self.run
        self.timer.restart()
        idx, desc = self.backend.compute_pass(run.passes, offset)
        self.timer.lap("descriptors")
        error, ldos = _pass_error(run.decomp, run.n_features, idx, desc), None
        if error is None:
            try:
                ldos = self.net(desc)
            except MLSurrogateError as exc:
                error = exc
        raise_collectively(self.comm, error)  # one collective decision per pass
        self.timer.lap("inference")
        return run.decomp.local_flat_index(*idx.T), ldos

    def _log_progress(self, p, start, started):
        n = self.run.passes.n_passes
        if self.comm.rank == 0 and n > 1:
            done = time.perf_counter() - started
            log.info("pass %d/%d done, %.1f s elapsed, about %.0f s left", p + 1, n, done,
                     done / (p + 1 - start) * (n - p - 1))


def _pass_error(decomp, n_features, idx, desc):
    """Local sanity check of one descriptor pass; an exception to raise collectively, or None."""
    if desc.shape[1] != n_features:
        return ModelError(f"descriptors have {desc.shape[1]} components, the model expects {n_features}")
    if not np.all((idx >= decomp.local_start) & (idx < np.add(decomp.local_start, decomp.local_shape))):
        return MLSurrogateError("the descriptor backend returned grid points outside this rank's block: its domain "
                                "decomposition does not match ours (please report this with the structure)")
    return None
