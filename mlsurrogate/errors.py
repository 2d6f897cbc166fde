"""Exception hierarchy. Every error a user can cause is an ``MLSurrogateError``.

Library code raises these on *all* ranks at once (see :mod:`mlsurrogate.parallel`); the CLI turns them
into one line on rank 0 and exit code 2 on every rank.
"""

__all__ = ["MLSurrogateError", "InputError", "ModelError", "ConvergenceError", "OutputError",
           "Interrupted"]


class MLSurrogateError(RuntimeError):
    """Base class of all errors the engine reports to users."""

    exit_code = 2  #: exit status of every rank


class InputError(MLSurrogateError):
    """Bad user input: structure, grid, options. Raised before the expensive work starts."""


class ModelError(MLSurrogateError):
    """A model file that is missing, garbled, unsafe, or does not fit the input."""


class ConvergenceError(MLSurrogateError):
    """A root finder (e.g. the Fermi level) failed, or the network produced non-finite values."""


class OutputError(MLSurrogateError):
    """The output location cannot be written, or would overwrite existing results."""


class Interrupted(MLSurrogateError):
    """The run was asked to stop (SIGTERM) and stopped cleanly at a pass boundary; exit code 3."""

    exit_code = 3
