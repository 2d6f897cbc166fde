"""Build MALA-style model zips for tests (legacy torch state dict, pickled scalers from the real model)."""
import io
import zipfile

import numpy as np


def write_mala_zip(path, source_zip, transform_state=None, drop=(), replace=None):
    """Copy ``source_zip`` to ``path``, optionally editing the state dict or members.

    transform_state(state_dict_of_numpy) -> state_dict_of_numpy; drop: member suffixes to leave out;
    replace: {suffix: bytes} to substitute members.
    """
    import torch
    from mlsurrogate.model.safe_unpickle import load_legacy_torch
    with zipfile.ZipFile(source_zip) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            if any(name.endswith(s) for s in drop):
                continue
            data = src.read(name)
            for suffix, new in (replace or {}).items():
                if name.endswith(suffix):
                    data = new
            if name.endswith(".network.pth") and transform_state is not None:
                sd = transform_state(load_legacy_torch(data))
                buf = io.BytesIO()
                torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}, buf,
                           _use_new_zipfile_serialization=False)
                data = buf.getvalue()
            dst.writestr(name, data)
    return path
