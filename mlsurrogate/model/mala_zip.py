"""Load a MALA model zip (``<name>.params.json``, ``.network.pth``, ``.iscaler.*``, ``.oscaler.*``,
``.info.json``) into a :class:`~mlsurrogate.model.model.Model`, without unpickling arbitrary code.
"""
import json
import os
import zipfile
import zlib

import numpy as np

from ..descriptors.bispectrum import BispectrumParams
from ..electronic.dos import EnergyGrid
from ..errors import ModelError
from ..npyfile import MAX_JSON_BYTES, MAX_WEIGHTS_BYTES, BadArrayFile, read_zip_member
from .model import Model
from .safe_unpickle import load_legacy_torch, load_pickled_record

__all__ = ["load_mala_zip"]

_RFAC0 = 0.99363  # MALA passes this fixed value to LAMMPS


def _member(zf, suffixes):
    names = zf.namelist()
    for suffix in suffixes:
        hits = [n for n in names if n.endswith(suffix)]
        if hits:
            return hits[0]
    return None


def _scaler(zf, kind):
    name = _member(zf, [f".{kind}.json", f".{kind}.pkl"])
    if name is None:
        raise ModelError(f"MALA zip has no {kind} member")
    try:
        raw = read_zip_member(zf, name, MAX_WEIGHTS_BYTES)
    except BadArrayFile as exc:
        raise ModelError(str(exc)) from None
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, zlib.error) as exc:
        raise ModelError(f"{name}: unreadable member ({type(exc).__name__}: {exc})") from None
    if name.endswith(".json"):
        try:
            state = json.loads(raw)
        except ValueError as exc:
            raise ModelError(f"{name}: not JSON ({exc})") from None
    else:
        state = load_pickled_record(raw).state
    return {k: (np.asarray(v, dtype=np.float64) if isinstance(v, (list, np.ndarray)) else v)
            for k, v in state.items()}


def _input_scaling(state, n):
    kind = state.get("typestring")
    if kind in ("feature-wise-standard",):
        mean = np.asarray(state["means"], dtype=np.float64).reshape(-1)
        std = np.asarray(state["stds"], dtype=np.float64).reshape(-1)
        scale = np.where(std > 0, 1.0 / np.where(std > 0, std, 1.0), 0.0)
        return mean, scale
    if kind in ("feature-wise-minmax", "feature-wise-normal"):
        lo = np.asarray(state["mins"], dtype=np.float64).reshape(-1)
        hi = np.asarray(state["maxs"], dtype=np.float64).reshape(-1)
        span = hi - lo
        return lo, np.where(span > 0, 1.0 / np.where(span > 0, span, 1.0), 0.0)
    if kind in ("standard",):
        std = float(state["total_std"])
        return np.full(n, float(state["total_mean"])), np.full(n, 1.0 / std if std > 0 else 0.0)
    if kind in ("minmax", "normal"):
        span = float(state["total_max"]) - float(state["total_min"])
        return np.full(n, float(state["total_min"])), np.full(n, 1.0 / span if span > 0 else 0.0)
    if kind in (None, "None"):
        return np.zeros(n), np.ones(n)
    raise ModelError(f"unsupported input scaler {kind!r}")


def _output_scaling(state, n):
    """(scale, shift) with ldos = y * scale + shift."""
    kind = state.get("typestring")
    if kind in ("minmax", "normal"):
        lo, hi = float(state["total_min"]), float(state["total_max"])
        return np.full(n, hi - lo), np.full(n, lo)
    if kind in ("feature-wise-minmax", "feature-wise-normal"):
        lo = np.asarray(state["mins"], dtype=np.float64).reshape(-1)
        hi = np.asarray(state["maxs"], dtype=np.float64).reshape(-1)
        return hi - lo, lo
    if kind == "standard":
        return np.full(n, float(state["total_std"])), np.full(n, float(state["total_mean"]))
    if kind == "feature-wise-standard":
        return (np.asarray(state["stds"], dtype=np.float64).reshape(-1),
                np.asarray(state["means"], dtype=np.float64).reshape(-1))
    if kind in (None, "None"):
        return np.ones(n), np.zeros(n)
    raise ModelError(f"unsupported output scaler {kind!r}")


def _layers(state_dict):
    linear = sorted({int(k.split(".")[1]) for k in state_dict if k.startswith("layers.") and k.endswith(".weight")})
    if not linear:
        raise ModelError("network file has no layers.N.weight entries")
    weights = [np.asarray(state_dict[f"layers.{i}.weight"]) for i in linear]
    biases = [np.asarray(state_dict[f"layers.{i}.bias"]) for i in linear]
    return weights, biases


def load_mala_zip(path):
    """Read a MALA ``.zip`` model. Local. Raises ModelError on anything missing or malformed."""
    if not os.path.isfile(path):
        raise ModelError(f"model file {path} does not exist")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"{path}: not a readable zip file ({exc})") from None
    with zf:
        pname = _member(zf, [".params.json"])
        nname = _member(zf, [".network.pth"])
        iname = _member(zf, [".info.json"])
        if pname is None or nname is None:
            raise ModelError(f"{path}: a MALA model zip needs *.params.json and *.network.pth")
        if iname is None:
            raise ModelError(f"{path}: no *.info.json (temperature, electrons per atom, grid); "
                             "cannot run inference without it")
        try:
            params = json.loads(read_zip_member(zf, pname, MAX_JSON_BYTES))
            info = json.loads(read_zip_member(zf, iname, MAX_JSON_BYTES))
            network = read_zip_member(zf, nname, MAX_WEIGHTS_BYTES)
        except BadArrayFile as exc:
            raise ModelError(f"{path}: {exc}") from None
        except ValueError as exc:
            raise ModelError(f"{path}: malformed JSON ({exc})") from None
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, zlib.error) as exc:
            raise ModelError(f"{path}: unreadable member ({type(exc).__name__}: {exc})") from None
        weights, biases = _layers(load_legacy_torch(network))
        net, desc, targets = params.get("network", {}), params.get("descriptors", {}), params.get("targets", {})
        if desc.get("descriptor_type", "Bispectrum") != "Bispectrum":
            raise ModelError(f"descriptor type {desc.get('descriptor_type')!r} is not supported (Bispectrum only)")
        if targets.get("target_type", "LDOS") != "LDOS":
            raise ModelError("only LDOS models are supported")
        n_in, n_out = weights[0].shape[1], weights[-1].shape[0]
        in_shift, in_scale = _input_scaling(_scaler(zf, "iscaler"), n_in)
        out_scale, out_shift = _output_scaling(_scaler(zf, "oscaler"), n_out)

    acts = net.get("layer_activations", ["ReLU"])
    acts = [acts] if isinstance(acts, str) else list(acts)
    n_layers = len(weights)
    if len(acts) == 1:
        acts = acts * n_layers
    activations = [acts[i] if i < n_layers - 1 else None for i in range(n_layers)]
    if net.get("layer_activations_include_output_layer", False):
        activations[-1] = acts[min(n_layers - 1, len(acts) - 1)]

    pseudos = dict(info.get("pseudopotentials") or {})
    numbers = (info.get("atoms") or {}).get("numbers")
    if pseudos:
        species = tuple(sorted(pseudos))
    elif numbers:
        from ase.data import chemical_symbols
        species = tuple(sorted({chemical_symbols[z] for z in numbers}))
    else:
        raise ModelError(f"{path}: info.json names no species (no pseudopotentials or atoms)")
    epa = info.get("electrons_per_atom")
    if epa is None:
        raise ModelError(f"{path}: info.json lacks electrons_per_atom")
    if len(species) > 1:
        raise ModelError(f"{path}: multi-species MALA model ({species}) gives only an average electron count "
                         "per atom; convert it to our format with per-species valences")
    weights_el = desc.get("bispectrum_element_weights") or [1.0] * len(species)
    wmax = max(weights_el)
    voxel = np.asarray((info.get("voxel") or {}).get("array"), dtype=np.float64)
    if voxel.shape != (3, 3):
        raise ModelError(f"{path}: info.json lacks the voxel (grid spacing)")
    model = Model(
        species=species,
        descriptors=BispectrumParams(
            twojmax=int(desc.get("bispectrum_twojmax", 10)), rcutfac=float(desc.get("bispectrum_cutoff", 4.67637)),
            rfac0=_RFAC0, rmin0=0.0, switchflag=int(desc.get("bispectrum_switchflag", 1)), bzeroflag=0,
            quadraticflag=0, radii={s: 0.5 for s in species},
            weights={s: w / wmax for s, w in zip(species, weights_el)}),
        energy_grid=EnergyGrid(float(targets["ldos_gridoffset_ev"]), float(targets["ldos_gridspacing_ev"]),
                               int(targets["ldos_gridsize"])),
        temperature_k=float(info["temperature"]),
        weights=weights, biases=biases, activations=activations,
        input_shift=in_shift, input_scale=in_scale, output_scale=out_scale, output_shift=out_shift,
        grid_spacing_A=tuple(float(v) for v in np.linalg.norm(voxel, axis=1)),
        electrons_per_atom={s: float(epa) for s in species},
        clamp_negative=targets.get("restrict_targets", "zero_out_negative") == "zero_out_negative",
        pseudopotentials=pseudos,
        ecutrho_ry=info.get("ecutrho"), source=os.path.abspath(path), source_format="mala-zip",
        metadata={"training_grid": info.get("grid_dimensions")},
    )
    model.validate()
    return model
