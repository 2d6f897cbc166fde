"""Crafted and oversized files (issue 13, classes 2 and 3): a model never reads outside its own bytes, headers
are checked against the data before anything is allocated, and work that cannot finish is refused with numbers.
"""
import io
import pickle
import struct
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

from conftest import MODEL, SNAP0
from helpers_faults import expect_error
from helpers_models import write_mala_zip
from mlsurrogate.errors import ModelError
from mlsurrogate.model.load import read_model_file
from mlsurrogate.model.safe_unpickle import load_legacy_torch


def legacy_torch_bytes(tensors, numel=None, count=None):
    """A legacy ``torch.save`` stream of {name: (float32 storage data, offset, size, stride)}, written by hand
    so that size/stride/offset can lie; ``numel``/``count`` override the declared/stored element counts."""
    import torch
    import torch._utils

    class Storage:
        def __init__(self, key, data):
            self.key, self.data = key, data

    class Tensor:
        def __init__(self, storage, offset, size, stride):
            self.args = (storage, offset, size, stride, False, OrderedDict())

        def __reduce__(self):
            return torch._utils._rebuild_tensor_v2, self.args

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                n = len(obj.data) if numel is None else numel
                return "storage", torch.FloatStorage, obj.key, "cpu", n
            return None

    storages = {name: Storage(str(i), np.asarray(d, dtype=np.float32)) for i, (name, (d, *_)) in
                enumerate(tensors.items())}
    state = OrderedDict((name, Tensor(storages[name], off, size, stride))
                        for name, (_, off, size, stride) in tensors.items())
    buf = io.BytesIO()
    for obj in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
        pickle.dump(obj, buf, protocol=2)
    Pickler(buf, protocol=2).dump(state)
    pickle.dump([s.key for s in storages.values()], buf, protocol=2)
    for s in storages.values():
        buf.write(struct.pack("<q", len(s.data) if count is None else count))
        buf.write(s.data.tobytes())
    return buf.getvalue()


def test_crafted_tensor_round_trip():
    """The hand-written stream is what the loader expects: an honest strided tensor comes back exactly."""
    data = np.arange(20, dtype=np.float32)
    out = load_legacy_torch(legacy_torch_bytes({"w": (data, 2, (3, 2), (5, 1))}))
    assert np.array_equal(out["w"], data[2:].reshape(-1)[[0, 1, 5, 6, 10, 11]].reshape(3, 2))


@pytest.mark.parametrize("offset, size, stride, message", [
    (0, (4, 5), (5, 1000), "reaches element"),       # stride past the storage
    (18, (2, 2), (2, 1), "reaches element"),         # offset + extent past the storage
    (25, (), (), "outside its storage"),             # scalar past the storage
    (0, (4, 5), (5, -1), "negative or mismatched"),
])
def test_crafted_tensor_refused(offset, size, stride, message):
    data = np.arange(20, dtype=np.float32)
    with pytest.raises(ModelError, match=message):
        load_legacy_torch(legacy_torch_bytes({"w": (data, offset, size, stride)}))


def test_short_storage_refused():
    """A storage declared with 100 elements but holding 20 is refused (never filled from other memory)."""
    data = np.arange(20, dtype=np.float32)
    with pytest.raises(ModelError, match="declared with 100"):
        load_legacy_torch(legacy_torch_bytes({"w": (data, 0, (10, 10), (10, 1))}, numel=100))


def test_crafted_model_under_mpirun(tmp_path, be2):
    bad = legacy_torch_bytes({"layers.0.weight": (np.zeros(10), 0, (91, 91), (1, 4096))})
    model = write_mala_zip(tmp_path / "crafted.zip", MODEL, replace={".network.pth": bad})
    out = tmp_path / "out"
    expect_error(["predict", "--model", model, "--structure", SNAP0, "--out", out], "reaches element", out)


def _rewrite_member(src, dst, member, write):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in zin.namelist():
            if name == member:
                with zout.open(name, "w") as f:
                    write(f)
            else:
                zout.writestr(name, zin.read(name))
    return dst


def test_zip_bombs_refused_before_reading(tmp_path, be2):
    from mlsurrogate.model.native_format import write_model
    good = tmp_path / "be.mlsm"
    write_model(read_model_file(MODEL), good)

    def zeros(nbytes):
        def write(f):
            chunk = b"0" * (1 << 20)
            for _ in range(nbytes >> 20):
                f.write(chunk)
        return write
    json_bomb = _rewrite_member(good, tmp_path / "json_bomb.mlsm", "model.json", zeros(32 << 20))
    with pytest.raises(ModelError, match="model.json would unpack to 32 MiB"):
        read_model_file(json_bomb)
    npz_bomb = _rewrite_member(good, tmp_path / "npz_bomb.mlsm", "weights.npz", zeros(200 << 20))
    with pytest.raises(ModelError, match="a zip bomb"):
        read_model_file(npz_bomb)


def _npy_claiming(path, shape):
    """A small .npy file whose header claims ``shape`` (float64)."""
    header = {"descr": "<f8", "fortran_order": False, "shape": shape}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(np.zeros(16).tobytes())
    return path


def test_npy_header_checked_against_size(tmp_path, be2):
    fake = _npy_claiming(tmp_path / "n.npy", (2160, 2160, 2160))   # 75 GiB claimed, 128 bytes present
    out = tmp_path / "out"
    expect_error(["evaluate", "--structure", SNAP0, "--density", fake, "--ecutrho", 160, "--out", out],
                 "header says float64 (2160, 2160, 2160) (75.08 GiB) but the data is 128 bytes", out)


def test_training_npy_header_checked(tmp_path, be2):
    from mlsurrogate.errors import InputError
    from mlsurrogate.training.data import _load_npy
    with pytest.raises(InputError, match="header says"):
        _load_npy(str(_npy_claiming(tmp_path / "l.npy", (18, 18, 27, 10**9))), "LDOS")


def test_descriptors_larger_than_disk(tmp_path, be2):
    out = tmp_path / "out"
    expect_error(["descriptors", "--structure", SNAP0, "--grid", 4000, 4000, 4000, "--out", out],
                 "descriptors.npy would take 4.339e+04 GiB", out)
    assert not out.exists(), "no sparse temporary, no directory left behind"


def test_huge_cutoff_refused(tmp_path, be2):
    out = tmp_path / "out"
    expect_error(["descriptors", "--structure", SNAP0, "--grid", 18, 18, 27, "--rcutfac", 200, "--out", out],
                 "neighbours per grid point", out)
