"""Our own model format: one zip file holding ``model.json`` (metadata) and ``weights.npz`` (arrays). Stage: model.

Nothing in it is executable: the JSON is parsed with ``json``, the arrays with
``numpy.load(..., allow_pickle=False)``. Arrays keep their dtype, so a model written and read back
predicts bit-identical LDOS. Layout of ``weights.npz``: ``layers.{i}.weight`` (out_i, in_i),
``layers.{i}.bias`` (out_i,), ``input_shift``/``input_scale`` (K,), ``output_scale``/``output_shift``
(n_energies,). ``model.json`` describes everything else (units in its ``units`` entry).
"""
import io
import json
import os
import zipfile
import zlib

import numpy as np

from ..descriptors.bispectrum import BispectrumParams
from ..electronic.dos import EnergyGrid
from ..errors import ModelError, OutputError
from ..npyfile import MAX_JSON_BYTES, MAX_WEIGHTS_BYTES, BadArrayFile, arrays_from_npz_bytes, read_zip_member
from .model import Model

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "write_model", "read_native_model", "is_native_model"]

FORMAT_NAME = "mlsurrogate-model"
FORMAT_VERSION = 1
_JSON, _NPZ = "model.json", "weights.npz"
_UNITS = {"ldos": "1/(eV*Angstrom^3)", "energy": "eV", "length": "Angstrom", "temperature": "K",
          "descriptors": "dimensionless", "ecutrho": "Ry"}
_SCALER_ARRAYS = ("input_shift", "input_scale", "output_scale", "output_shift")


def is_native_model(path):
    """True if ``path`` is a zip file with a ``model.json`` member. Local."""
    try:
        with zipfile.ZipFile(path) as zf:
            return _JSON in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _jsonable(value):
    """Metadata values as plain JSON (numpy scalars/arrays to Python numbers/lists)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _metadata(model):
    return {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "units": _UNITS,
        "species": [{"symbol": s, "valence_electrons": float(model.electrons_per_atom[s]),
                     "pseudopotential": model.pseudopotentials.get(s)} for s in model.species],
        "xc_functional": model.xc_functional,
        "ecutrho_ry": model.ecutrho_ry,
        "descriptors": {"type": "bispectrum", **model.descriptors.to_dict()},
        "energy_grid": {"offset_ev": model.energy_grid.offset_ev, "spacing_ev": model.energy_grid.spacing_ev,
                        "count": model.energy_grid.count},
        "temperature_K": float(model.temperature_k),
        "ldos_broadening_std_eV": float(model.ldos_broadening_std_ev),
        "grid_spacing_A": [float(h) for h in model.grid_spacing_A],
        "network": {"layer_sizes": model.layer_sizes, "activations": list(model.activations),
                    "clamp_negative_ldos": bool(model.clamp_negative)},
        "scalers": {"input": "x_scaled = (descriptors - input_shift) * input_scale",
                    "output": "ldos = network_output * output_scale + output_shift"},
        "provenance": _jsonable(model.metadata),
    }


def write_model(model, path, overwrite=False):
    """Write ``model`` to ``path`` (one zip file). Local. Written to a temporary name, then renamed."""
    model.validate()
    if os.path.exists(path) and not overwrite:
        raise OutputError(f"{path} exists; pass --overwrite to replace it")
    arrays = {}
    for i, (w, b) in enumerate(zip(model.weights, model.biases)):
        arrays[f"layers.{i}.weight"] = np.ascontiguousarray(w)
        arrays[f"layers.{i}.bias"] = np.ascontiguousarray(b)
    for name in _SCALER_ARRAYS:
        arrays[name] = np.broadcast_to(np.asarray(getattr(model, name)),
                                       (model.n_energies if name.startswith("output") else model.n_features,)).copy()
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(_JSON, json.dumps(_metadata(model), indent=1))
            zf.writestr(_NPZ, buf.getvalue())
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write model {path}: {exc}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _get(d, key, where):
    if key not in d:
        raise ModelError(f"model.json lacks {where}{key}")
    return d[key]


def _model_from(path, meta, arrays):
    if meta.get("format") != FORMAT_NAME:
        raise ModelError(f"model.json is not an {FORMAT_NAME} file")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"model format version {meta.get('format_version')} is not supported "
                         f"(this engine reads version {FORMAT_VERSION})")
    net, grid = _get(meta, "network", ""), _get(meta, "energy_grid", "")
    desc = dict(_get(meta, "descriptors", ""))
    if desc.pop("type", "bispectrum") != "bispectrum":
        raise ModelError("only bispectrum descriptors are supported")
    species = [_get(s, "symbol", "species.") for s in _get(meta, "species", "")]
    acts = _get(net, "activations", "network.")
    n = len(acts)
    missing = [k for k in [f"layers.{i}.{p}" for i in range(n) for p in ("weight", "bias")] + list(_SCALER_ARRAYS)
               if k not in arrays]
    if missing:
        raise ModelError(f"weights.npz lacks {', '.join(missing)}")
    try:
        model = Model(
            species=tuple(species), descriptors=BispectrumParams(**desc),
            energy_grid=EnergyGrid(float(grid["offset_ev"]), float(grid["spacing_ev"]), int(grid["count"])),
            temperature_k=float(_get(meta, "temperature_K", "")),
            ldos_broadening_std_ev=float(meta.get("ldos_broadening_std_eV", 0.0)),
            weights=[arrays[f"layers.{i}.weight"] for i in range(n)],
            biases=[arrays[f"layers.{i}.bias"] for i in range(n)], activations=list(acts),
            **{k: arrays[k] for k in _SCALER_ARRAYS},
            grid_spacing_A=tuple(float(h) for h in _get(meta, "grid_spacing_A", "")),
            electrons_per_atom={s["symbol"]: float(s["valence_electrons"]) for s in meta["species"]},
            clamp_negative=bool(net.get("clamp_negative_ldos", True)),
            pseudopotentials={s["symbol"]: s["pseudopotential"] for s in meta["species"] if s.get("pseudopotential")},
            xc_functional=meta.get("xc_functional"), ecutrho_ry=meta.get("ecutrho_ry"),
            source=os.path.abspath(path), source_format=FORMAT_NAME, metadata=dict(meta.get("provenance") or {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"model.json is malformed: {type(exc).__name__}: {exc}") from None
    if model.layer_sizes != list(net.get("layer_sizes", model.layer_sizes)):
        raise ModelError(f"weights give layer sizes {model.layer_sizes}, model.json says {net['layer_sizes']}")
    model.validate()
    return model


def read_native_model(path):
    """Read a model written by :func:`write_model`. Local. Never unpickles; ModelError on bad files."""
    if not os.path.isfile(path):
        raise ModelError(f"model file {path} does not exist")
    try:
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(read_zip_member(zf, _JSON, MAX_JSON_BYTES))
            arrays = arrays_from_npz_bytes(read_zip_member(zf, _NPZ, MAX_WEIGHTS_BYTES), MAX_WEIGHTS_BYTES)
    except KeyError as exc:
        raise ModelError(f"{path}: missing member {exc}") from None
    except BadArrayFile as exc:
        raise ModelError(f"{path}: unreadable model ({exc})") from None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, zlib.error) as exc:
        raise ModelError(f"{path}: unreadable model ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict):
        raise ModelError(f"{path}: model.json is not a JSON object")
    return _model_from(path, meta, arrays)
