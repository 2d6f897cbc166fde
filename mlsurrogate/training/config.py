"""Training configuration from a TOML file: one frozen dataclass per section, unknown keys are errors.

Units: energies eV, temperature K, lengths Å. Relative paths are relative to ``[data] root``, which
itself is relative to the directory of the TOML file. See README.md ("Train") for every key.
"""
from dataclasses import dataclass, field
import math
import os

from ..config_tables import table_to_dataclass
from ..descriptors.bispectrum import BispectrumParams
from ..electronic.dos import EnergyGrid
from ..errors import InputError
from ..model.model import ACTIVATIONS

__all__ = ["load_test_set", "SnapshotSpec", "ModelSection", "NetworkSection", "OptimSection", "TrainConfig", "load_config",
           "parse_config"]


@dataclass(frozen=True)
class SnapshotSpec:
    """One DFT snapshot: structure file, LDOS (.npy or cube files), optional descriptors (.npy)."""
    structure: str
    ldos: str = None                 # .npy (nx, ny, nz, n_energies), 1/(eV Å^3)
    ldos_cubes: str = None           # glob of pp.x cube files, one per energy (sorted by name), 1/(Ry bohr^3)
    descriptors: str = None          # .npy (nx, ny, nz, K) or (nx, ny, nz, 3 + K) with xyz first
    structure_format: str = None     # ASE format name if the extension is ambiguous
    free_energy: str = None          # [[train]] with energy_refit only: JSON with this snapshot's DFT free energy and
                                     # that of its LDOS target, eV ("free_energy_dft_eV", "free_energy_ldos_eV"):
                                     # the refit then aims the snapshot's energy at DFT's, not at its target's


@dataclass(frozen=True)
class ModelSection:
    """Physics recorded in the model: valence electrons per species, temperature, DFT settings."""
    valence_electrons: dict
    temperature_K: float
    pseudopotentials: dict = field(default_factory=dict)
    xc_functional: str = None
    ecutrho_ry: float = None
    ldos_broadening_std_ev: float = 0.0   # Gaussian std (eV) of the LDOS targets, when broadened beyond pp.x's:
                                          # predict then adds the zero-broadening correction s² D(E_F)/2


@dataclass(frozen=True)
class NetworkSection:
    hidden_layers: tuple = (256, 256)
    activation: str = "LeakyReLU"     # one name for all hidden layers, or a list (one per hidden layer)
    output_scaling: str = "feature-wise-standard"   # or "standard", "minmax"
    clamp_negative_ldos: bool = True


@dataclass(frozen=True)
class OptimSection:
    optimizer: str = "Adam"           # "Adam", "AdamW" or "SGD"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    max_epochs: int = 300
    patience: int = 30                # epochs without a better validation loss before stopping
    min_delta: float = 0.0            # improvement (in scaled MSE) that counts as better
    lr_plateau_patience: int = 0      # halve-the-rate schedule: epochs without improvement before the learning
    lr_plateau_factor: float = 0.5    # rate is multiplied by lr_plateau_factor (0: constant rate)
    lr_cosine_final: float = -1.0     # >= 0: cosine schedule from learning_rate down to this rate at max_epochs
                                      # (per minibatch step); -1: off. Excludes lr_plateau_patience > 0
    energy_refit: bool = False        # after training, refit the last layer so every training snapshot's band free
                                      # energy and electron count are DFT's (training/energy_refit.py)
    energy_refit_tolerance_ev_per_atom: float = 5e-5   # how closely (soft constraint), eV/atom
    seed: int = 0
    threads: int = 1                  # torch CPU threads (results depend on it only in the last bits)
    device: str = "auto"              # "auto" (CUDA if torch sees one), "cpu", "cuda"
    dtype: str = "float32"            # training arithmetic: "float32" or "float64"


@dataclass(frozen=True)
class TrainConfig:
    model: ModelSection
    energy_grid: EnergyGrid
    descriptors: BispectrumParams
    network: NetworkSection
    training: OptimSection
    train: tuple                      # SnapshotSpec
    validation: tuple                 # SnapshotSpec
    validation_fraction: float = 0.0  # share of the training snapshots' points held out for validation
    source: str = None


def _snapshots(raw, where, root):
    if not isinstance(raw, list):
        raise InputError(f"[[{where}]] must be an array of tables")
    out = []
    for i, entry in enumerate(raw):
        spec = table_to_dataclass(SnapshotSpec, entry, f"{where}.{i}")
        if (spec.ldos is None) == (spec.ldos_cubes is None):
            raise InputError(f"[[{where}]] entry {i}: give exactly one of 'ldos' (.npy) and 'ldos_cubes' (glob)")
        join = lambda p: None if p is None else os.path.normpath(os.path.join(root, os.path.expanduser(p)))
        out.append(SnapshotSpec(structure=join(spec.structure), ldos=join(spec.ldos),
                                ldos_cubes=join(spec.ldos_cubes), descriptors=join(spec.descriptors),
                                structure_format=spec.structure_format, free_energy=join(spec.free_energy)))
    return tuple(out)


def _check(cfg):
    net, opt = cfg.network, cfg.training
    acts = [net.activation] if isinstance(net.activation, str) else list(net.activation)
    if any(a not in ACTIVATIONS for a in acts):
        raise InputError(f"[network] activation {net.activation!r}: known are {', '.join(ACTIVATIONS)}")
    if not isinstance(net.activation, str) and len(acts) != len(net.hidden_layers):
        raise InputError("[network] give one activation, or one per hidden layer")
    if not net.hidden_layers or any(int(n) < 1 for n in net.hidden_layers):
        raise InputError("[network] hidden_layers must be a non-empty list of positive sizes")
    if net.output_scaling not in ("feature-wise-standard", "standard", "minmax"):
        raise InputError("[network] output_scaling must be 'feature-wise-standard', 'standard' or 'minmax'")
    if opt.optimizer not in ("Adam", "AdamW", "SGD"):
        raise InputError("[training] optimizer must be 'Adam', 'AdamW' or 'SGD'")
    if opt.device not in ("auto", "cpu", "cuda") or opt.dtype not in ("float32", "float64"):
        raise InputError("[training] device must be auto/cpu/cuda and dtype float32/float64")
    if opt.lr_plateau_patience < 0 or not 0.0 < opt.lr_plateau_factor < 1.0:
        raise InputError("[training] lr_plateau_patience must be >= 0 and lr_plateau_factor in (0, 1)")
    cosine = opt.lr_cosine_final
    if not (isinstance(cosine, (int, float)) and math.isfinite(cosine) and (cosine == -1 or cosine >= 0)):
        raise InputError(f"[training] lr_cosine_final {cosine!r}: a final learning rate >= 0, or -1 (off)")
    if cosine >= 0 and opt.lr_plateau_patience > 0:
        raise InputError("[training] give either lr_cosine_final (cosine schedule) or lr_plateau_patience "
                         "(halve on plateau), not both")
    if cosine >= 0 and not cosine < opt.learning_rate:
        raise InputError("[training] lr_cosine_final must be below learning_rate")
    tol = opt.energy_refit_tolerance_ev_per_atom
    if not isinstance(opt.energy_refit, bool):
        raise InputError(f"[training] energy_refit {opt.energy_refit!r}: true or false")
    if isinstance(tol, bool) or not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol > 0):
        raise InputError(f"[training] energy_refit_tolerance_ev_per_atom {tol!r}: a positive number (eV/atom)")
    for key in ("learning_rate", "batch_size", "max_epochs", "threads"):
        if not getattr(opt, key) > 0:
            raise InputError(f"[training] {key} must be positive")
    g = cfg.energy_grid
    if g.count < 2 or not (math.isfinite(g.spacing_ev) and g.spacing_ev > 0) or not math.isfinite(g.offset_ev):
        raise InputError("[energy_grid] needs count >= 2, a finite spacing_ev > 0 and a finite offset_ev")
    if not (math.isfinite(cfg.model.temperature_K) and cfg.model.temperature_K > 0):
        raise InputError(f"[model] temperature_K {cfg.model.temperature_K}: must be a positive finite number")
    if not cfg.model.valence_electrons:
        raise InputError("[model] valence_electrons must name every species, e.g. {Be = 2}")
    for symbol, z in cfg.model.valence_electrons.items():
        if isinstance(z, bool) or not isinstance(z, (int, float)) or not (math.isfinite(z) and z > 0):
            raise InputError(f"[model] valence_electrons {symbol} = {z!r}: must be a positive finite number")
    if cfg.model.ecutrho_ry is not None and not (math.isfinite(cfg.model.ecutrho_ry) and cfg.model.ecutrho_ry > 0):
        raise InputError(f"[model] ecutrho_ry {cfg.model.ecutrho_ry}: must be a positive finite number")
    s = cfg.model.ldos_broadening_std_ev
    if not (isinstance(s, (int, float)) and math.isfinite(s) and s >= 0):
        raise InputError(f"[model] ldos_broadening_std_ev {s!r}: must be a finite number >= 0 (eV)")
    if not (math.isfinite(opt.learning_rate) and math.isfinite(opt.weight_decay) and opt.weight_decay >= 0):
        raise InputError("[training] learning_rate and weight_decay must be finite (weight_decay >= 0)")
    if not cfg.train:
        raise InputError("no [[train]] snapshots given")
    with_f = [spec.free_energy is not None for spec in cfg.train]
    if any(with_f) and not opt.energy_refit:
        raise InputError("[[train]] free_energy is used only by the energy refit: set [training] energy_refit = true "
                         "or remove it")
    if any(with_f) and not all(with_f):
        raise InputError("[[train]] free_energy: give it for every training snapshot or for none (the refit aims "
                         "all snapshots at the same kind of energy)")
    if any(spec.free_energy is not None for spec in cfg.validation):
        raise InputError("[[validation]] free_energy: only [[train]] snapshots have one (the energy refit)")
    if not 0.0 <= cfg.validation_fraction < 1.0:
        raise InputError("[data] validation_fraction must be in [0, 1)")
    if not cfg.validation and cfg.validation_fraction == 0.0:
        raise InputError("the validation set is empty: give [[validation]] snapshots or "
                         "[data] validation_fraction > 0")


def parse_config(raw, base_dir=".", source=None):
    """TrainConfig from a parsed TOML dict. Local. InputError on unknown keys or bad values."""
    known = {"data", "model", "energy_grid", "descriptors", "network", "training", "train", "validation"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputError(f"unknown section(s) in the config: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    data = dict(raw.get("data", {}))
    extra = sorted(set(data) - {"root", "validation_fraction"})
    if extra:
        raise InputError(f"unknown key(s) in [data]: {', '.join(extra)} (known: root, validation_fraction)")
    root = os.path.join(base_dir, os.path.expanduser(os.path.expandvars(data.get("root", "."))))
    for name in ("model", "energy_grid"):
        if name not in raw:
            raise InputError(f"the config needs a [{name}] section")
    model = table_to_dataclass(ModelSection, raw["model"], "model")
    species = tuple(sorted(model.valence_electrons))
    desc_raw = dict(raw.get("descriptors", {}))
    desc_raw.setdefault("radii", {s: 0.5 for s in species})
    desc_raw.setdefault("weights", {s: 1.0 for s in species})
    cfg = TrainConfig(
        model=model,
        energy_grid=table_to_dataclass(EnergyGrid, raw["energy_grid"], "energy_grid"),
        descriptors=table_to_dataclass(BispectrumParams, desc_raw, "descriptors"),
        network=table_to_dataclass(NetworkSection, raw.get("network", {}), "network",
                         {"hidden_layers": lambda v: tuple(int(n) for n in v)}),
        training=table_to_dataclass(OptimSection, raw.get("training", {}), "training"),
        train=_snapshots(raw.get("train", []), "train", root),
        validation=_snapshots(raw.get("validation", []), "validation", root),
        validation_fraction=float(data.get("validation_fraction", 0.0)), source=source)
    _check(cfg)
    return cfg


def _read_toml(path):
    import tomllib
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise InputError(f"cannot read config {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None


def load_config(path):
    """Read and check a training TOML file. Local."""
    return parse_config(_read_toml(path), os.path.dirname(os.path.abspath(path)), os.path.abspath(path))


def load_test_set(path):
    """The ``[[test]]`` snapshots of a TOML file (keys as ``[[train]]``; ``[data] root`` allowed). Local."""
    raw = _read_toml(path)
    unknown = sorted(set(raw) - {"data", "test"}) + sorted(set(raw.get("data", {})) - {"root"})
    if unknown:
        raise InputError(f"{path}: unknown key(s) {', '.join(unknown)} (a test set has [data] root and [[test]])")
    root = os.path.join(os.path.dirname(os.path.abspath(path)),
                        os.path.expanduser(os.path.expandvars(raw.get("data", {}).get("root", "."))))
    specs = _snapshots(raw.get("test", []), "test", root)
    if not specs:
        raise InputError(f"{path}: no [[test]] snapshots")
    return specs
