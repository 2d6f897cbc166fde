"""Load a model from disk on rank 0 and share it with every rank. Stage: model."""
import os

from ..errors import ModelError
from ..parallel import on_root
from .mala_zip import load_mala_zip
from .native_format import is_native_model, read_native_model

__all__ = ["load_model", "read_model_file"]


def read_model_file(path):
    """Read a model file of any supported format (ours, or a MALA .zip), chosen by content. Local."""
    if os.path.isdir(path):
        raise ModelError(f"model file {path} is a directory, not a file")
    if not os.path.isfile(path):
        raise ModelError(f"model file {path} does not exist")
    if is_native_model(path):
        return read_native_model(path)
    if str(path).endswith(".zip"):
        return load_mala_zip(path)
    raise ModelError(f"{path}: unknown model format (expected an mlsurrogate model or a MALA .zip)")


def load_model(comm, path):
    """The model at ``path`` on every rank (read once on rank 0). Collective over ``comm``."""
    return on_root(comm, read_model_file, path)
