"""Stateless MPI helpers: collective error handling, root-only work, threads, memory.

Every function takes the communicator explicitly; nothing here holds MPI state.
"""
import os
import resource

from .errors import MLSurrogateError

__all__ = ["agree", "raise_collectively", "on_root", "bcast_result", "node_local_size", "torch_threads_per_rank",
           "peak_rss_bytes", "max_over_ranks", "pin_mmap_threshold", "reduce_identical"]


def raise_collectively(comm, error):
    """Raise on every rank if any rank passes an exception (``error`` may be None).

    The exception of the lowest failing rank is raised everywhere (same type, same text), so no rank
    continues into a collective the others have left. Collective over ``comm``.
    """
    failures = comm.allgather(None if error is None else (type(error), str(error)))
    for failure in failures:
        if failure is not None:
            exc_type, text = failure
            raise exc_type(text)


def agree(comm, ok, exc_type, message):
    """Collective check: raise ``exc_type(message)`` on every rank if ``ok`` is False on any rank."""
    raise_collectively(comm, None if ok else exc_type(message))


def on_root(comm, fn, *args, **kwargs):
    """Run ``fn`` on rank 0 only and return its result on every rank.

    An ``MLSurrogateError`` (or OSError/ValueError) raised on the root is re-raised on every rank,
    so no rank is left waiting in a later collective. Collective over ``comm``.
    """
    result, error = None, None
    if comm.rank == 0:
        try:
            result = fn(*args, **kwargs)
        except (MLSurrogateError, OSError, ValueError, KeyError) as exc:  # user-caused failures
            error = exc
    return bcast_result(comm, result, error)


def bcast_result(comm, result, error):
    """Broadcast ``(result, error)`` from rank 0; raise the error everywhere. Collective."""
    result, error = comm.bcast((result, error), root=0)
    if error is not None:
        raise error
    return result


def node_local_size(comm):
    """Number of ranks of ``comm`` on this node. Collective over ``comm``."""
    from mpi4py import MPI
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return local.Get_size()
    finally:
        local.Free()


def torch_threads_per_rank(comm):
    """Threads each rank may use without oversubscribing its node. Collective over ``comm``.

    The cores this process may run on (its CPU affinity) divided by the ranks sharing the node,
    at least 1. ``OMP_NUM_THREADS``, when set, wins.
    """
    local_ranks = node_local_size(comm)
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    node_cores = os.cpu_count() or 1
    if affinity < node_cores:  # the launcher pinned us: our share is our affinity mask
        return max(1, affinity)
    return max(1, node_cores // local_ranks)


def pin_mmap_threshold(nbytes=1 << 17):
    """Make glibc serve every allocation >= ``nbytes`` by mmap and give it back on free. Local.

    glibc raises its mmap threshold after each large free (up to 32 MiB), after which the per-pass
    buffers (descriptors, LDOS, activations: several MiB each) come from the heap and fragment it: the
    peak memory then grows with the number of passes (measured: +144 MiB over 54 passes). Setting the
    threshold explicitly turns that adjustment off. Returns False where mallopt is unavailable.
    """
    import ctypes
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_mmap_threshold = -3
    return bool(libc.mallopt(m_mmap_threshold, int(nbytes)))


def peak_rss_bytes():
    """Peak resident set size of this process, bytes. Local."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def max_over_ranks(comm, value):
    """Maximum of ``value`` over all ranks. Collective over ``comm``."""
    from mpi4py import MPI
    return comm.allreduce(value, op=MPI.MAX)


def reduce_identical(comm, array):
    """Sum of ``array`` over all ranks, bit-identical on every rank (rank 0's sum, broadcast). Collective."""
    from mpi4py import MPI
    return comm.bcast(comm.allreduce(array, op=MPI.SUM), root=0)
