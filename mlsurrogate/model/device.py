"""Where the network runs: ``--device cpu`` (default) or ``cuda``. Stage: model.

Only the network moves to the accelerator; descriptors, post-processing and the energy stay on the CPU.
With several ranks per node and several GPUs, node-local rank r uses GPU r mod (number of GPUs).
"""
from ..errors import InputError

__all__ = ["DEVICES", "DEFAULT_DEVICE", "DEVICE_HELP", "network_device"]

DEVICES = ("cpu", "cuda")
DEFAULT_DEVICE = "cpu"
DEVICE_HELP = ("where the network runs (default cpu). cuda: the network on this node's NVIDIA GPU(s), node-local "
               "rank r on GPU r mod #GPUs; descriptors, post-processing and energy stay on the CPU; needs a "
               "CUDA build of torch")


def _cuda_problem(torch):
    """Why CUDA cannot be used in this process (a sentence), or None."""
    if not torch.backends.cuda.is_built():
        return f"this torch ({torch.__version__}) was built without CUDA"
    if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
        return "torch finds no usable CUDA GPU on this node"
    return None


def network_device(comm, name):
    """The torch.device the network of this rank runs on. Collective over ``comm``.

    Raises InputError on every rank when ``name`` is unknown or CUDA is unusable on any rank.
    """
    import torch
    from mpi4py import MPI
    from ..parallel import raise_collectively
    if name not in DEVICES:
        raise InputError(f"--device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "cpu":
        return torch.device("cpu")
    problem = _cuda_problem(torch)
    raise_collectively(comm, None if problem is None else InputError(
        f"--device cuda: {problem} (rank {comm.rank}); run with --device cpu"))
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        local_rank = local.Get_rank()
    finally:
        local.Free()
    return torch.device("cuda", local_rank % torch.cuda.device_count())
