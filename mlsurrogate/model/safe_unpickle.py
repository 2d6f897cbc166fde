"""Read MALA's pickled files without executing pickled code. Stage: model.

MALA models contain legacy (non-zip) ``torch.save`` state dicts and pickled ``DataScaler`` objects whose
tensors are nested legacy torch blobs. A pickle can call any importable function, so we never use
``pickle.load``/``torch.load`` on them. Instead a restricted unpickler maps the handful of globals these
files use onto inert stand-ins and refuses everything else; tensors come back as numpy arrays.
"""
import io
import pickle
import struct
from collections import OrderedDict

import numpy as np

from ..errors import ModelError

__all__ = ["load_legacy_torch", "load_pickled_record", "PickledRecord"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name):
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
    def __init__(self, dtype, numel):
        self.dtype, self.numel, self.data = dtype, numel, None


class _TensorRef:
    """A tensor whose storage bytes come later in the stream."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def materialise(self):
        """The tensor as its own C-contiguous array; ModelError if any element would lie outside the
        storage (size, stride and offset come from the file and are never trusted)."""
        if self.storage.data is None:
            raise ModelError("tensor storage missing from the torch file")
        base = self.storage.data
        itemsize = base.dtype.itemsize
        numbers = (self.offset, *self.size, *self.stride)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in numbers):
            raise ModelError("tensor offset/size/stride in the torch file are not integers")
        if (self.offset < 0 or any(n < 0 for n in self.size) or any(s < 0 for s in self.stride)
                or len(self.size) != len(self.stride)):
            raise ModelError(f"tensor with offset {self.offset}, size {self.size}, stride {self.stride}: "
                             "negative or mismatched values in the torch file")
        if len(self.size) == 0:
            if self.offset >= len(base):
                raise ModelError(f"scalar tensor at offset {self.offset} lies outside its storage of {len(base)}")
            return np.array(base[self.offset])
        if 0 in self.size:
            return np.zeros(self.size, dtype=base.dtype)
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
        if last >= len(base):
            raise ModelError(f"tensor of size {self.size}, stride {self.stride}, offset {self.offset} reaches "
                             f"element {last} of a storage of {len(base)} elements: garbled or crafted torch file")
        view = np.lib.stride_tricks.as_strided(
            base[self.offset:], shape=self.size, strides=[s * itemsize for s in self.stride])
        return np.array(view)  # own copy, C-contiguous


class PickledRecord:
    """Inert stand-in for a pickled object: its class name and its attribute dict."""

    qualname = "?"

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        obj.state = {}
        return obj

    def __setstate__(self, state):
        self.state = dict(state) if isinstance(state, dict) else {"state": state}


def _rebuild_tensor(storage, offset, size, stride, *unused):
    return _TensorRef(storage, offset, size, stride)


def _rebuild_parameter(data, requires_grad, backward_hooks, *unused):
    return data


def _record_factory(qualname):
    return type("PickledRecord", (PickledRecord,), {"qualname": qualname})


class _RestrictedUnpickler(pickle.Unpickler):
    """Allows only the globals legacy torch state dicts and MALA scalers need."""

    def __init__(self, file, storages):
        super().__init__(file, encoding="latin1")
        self._storages = storages

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) in (("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor")):
            return _rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            return _load_storage_from_bytes
        if module.startswith("mala.") and name in ("DataScaler",):
            return _record_factory(f"{module}.{name}")
        raise ModelError(f"refusing to load pickled global {module}.{name}: not a plain array or scaler")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise ModelError(f"unsupported persistent id in torch file: {pid!r}")
        _, storage_type, key, _location, numel = pid[:5]
        if not isinstance(storage_type, _StorageType):
            raise ModelError("unsupported storage type in torch file")
        if key not in self._storages:
            self._storages[key] = _Storage(storage_type.dtype, int(numel))
        return self._storages[key]


def _resolve(obj):
    if isinstance(obj, _TensorRef):
        return obj.materialise()
    if isinstance(obj, OrderedDict):
        return OrderedDict((k, _resolve(v)) for k, v in obj.items())
    if isinstance(obj, dict):
        return {k: _resolve(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v) for v in obj)
    if isinstance(obj, PickledRecord):
        obj.state = _resolve(obj.state)
        return obj
    return obj


def _read_stream(f):
    """One legacy torch stream: magic, protocol, sys info, object, storage keys, raw storages."""
    storages = {}
    load = lambda: _RestrictedUnpickler(f, storages).load()
    if load() != _LEGACY_MAGIC:
        raise ModelError("not a legacy torch file (bad magic number); zip-format torch files are not "
                         "supported here, convert the model with a trusted MALA installation")
    load()  # protocol version
    load()  # sys info
    result = load()
    for key in load():
        st = storages.get(key)
        if st is None:
            raise ModelError(f"storage {key} listed but not referenced")
        (count,) = struct.unpack("<q", f.read(8))
        if count < 0 or count != st.numel:
            raise ModelError(f"storage {key} holds {count} elements but is declared with {st.numel}")
        nbytes = count * st.dtype.itemsize
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise ModelError("torch file is truncated")
        st.data = np.frombuffer(raw, dtype=st.dtype.newbyteorder("<")).astype(st.dtype)
    return result


def _load_storage_from_bytes(blob):
    """A storage saved with torch's legacy format inside a pickle (used by pickled tensors)."""
    return _read_stream(io.BytesIO(blob))


def load_legacy_torch(data):
    """Parse a legacy ``torch.save`` byte string into nested dicts of numpy arrays. Local."""
    try:
        return _resolve(_read_stream(io.BytesIO(data)))
    except ModelError:
        raise
    except (pickle.UnpicklingError, EOFError, struct.error, ValueError, TypeError, AttributeError) as exc:
        raise ModelError(f"garbled torch file: {exc}") from None


def load_pickled_record(data):
    """Parse a pickled MALA object (e.g. DataScaler) into a :class:`PickledRecord`. Local."""
    try:
        obj = _resolve(_RestrictedUnpickler(io.BytesIO(data), {}).load())
    except ModelError:
        raise
    except (pickle.UnpicklingError, EOFError, struct.error, ValueError, TypeError, AttributeError) as exc:
        raise ModelError(f"garbled pickle: {exc}") from None
    if not isinstance(obj, PickledRecord):
        raise ModelError("pickle does not contain a scaler object")
    return obj
