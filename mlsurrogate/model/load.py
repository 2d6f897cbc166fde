"""Load a model from disk on rank 0 and share it with every rank. Stage: model."""
from ..errors import ModelError
from ..parallel import on_root
from .mala_zip import load_mala_zip

__all__ = ["load_model", "read_model_file"]


def read_model_file(path):
    """Read a model file of any supported format. Local."""
    if str(path).endswith(".zip"):
        return load_mala_zip(path)
    raise ModelError(f"{path}: unknown model format (expected a MALA .zip)")


def load_model(comm, path):
    """The model at ``path`` on every rank (read once on rank 0). Collective over ``comm``."""
    return on_root(comm, read_model_file, path)
