"""DFT settings of a training set from one TOML file: one frozen dataclass per section, unknown keys are errors.

Units: energies eV (LDOS grid), cutoffs Ry, temperature K, k-point spacing 1/Å (2π included). Relative
``pseudo_dir`` is relative to the TOML file. See README.md ("Training data from DFT") for every key.
"""
from dataclasses import asdict, dataclass, field
import math
import os
import shlex

from ..config_tables import table_to_dataclass
from ..errors import InputError

__all__ = ["QeSection", "LdosSection", "RunSection", "DftSettings", "load_settings", "parse_settings"]


@dataclass(frozen=True)
class QeSection:
    """pw.x settings. kpoints (3 ints) wins over kpoint_spacing_inv_A; with neither, an error."""
    pseudo_dir: str
    pseudopotentials: dict                 # symbol -> UPF file name
    ecutwfc_ry: float
    ecutrho_ry: float
    temperature_K: float                   # Fermi-Dirac smearing, degauss = k_B T
    smearing: str = "fermi-dirac"
    kpoints: tuple = None                  # explicit Monkhorst-Pack mesh (n1, n2, n3), Gamma-centred
    kpoint_spacing_inv_A: float = None     # n_i = ceil(|b_i| / spacing), |b_i| with 2π
    masses: dict = field(default_factory=dict)   # symbol -> amu (default: ASE's)
    conv_thr_ry_per_atom: float = 1e-8     # scf threshold per atom, Ry
    mixing_mode: str = "local-TF"
    mixing_beta: float = 0.3
    bands_factor: float = 2.0              # nbnd = ceil(bands_factor * valence electrons / 2)
    symmetry: object = True                # false: nosym + noinv (all k-points of the mesh); "time-reversal":
                                           # nosym only (the mesh with k = -k: half of it, for cells with no
                                           # symmetry, where pw.x's own reduction can sample more than the mesh)


@dataclass(frozen=True)
class LdosSection:
    """pp.x LDOS energy grid E_i = emin_ev + i delta_e_ev, i < count (QE's absolute eigenvalue scale, eV),
    Gaussian broadening degauss_ldos_ev (eV)."""
    emin_ev: float
    delta_e_ev: float
    count: int
    degauss_ldos_ev: float


@dataclass(frozen=True)
class RunSection:
    """How to start the codes. ``mpi`` is a command prefix with ``{ranks}`` (empty string: no MPI)."""
    pw_x: str = "pw.x"
    pp_x: str = "pp.x"
    mpi: str = "mpirun -np {ranks}"
    ranks: int = 1
    pools: int = 0                         # pw.x -nk; 0: one pool per rank
    keep_cubes: bool = False               # keep pp.x cube files after conversion
    keep_wavefunctions: bool = False       # keep pw.x's outdir after pp.x


@dataclass(frozen=True)
class DftSettings:
    qe: QeSection
    ldos: LdosSection
    run: RunSection
    source: str = None

    def to_dict(self):
        d = {"qe": asdict(self.qe), "ldos": asdict(self.ldos), "run": asdict(self.run)}
        d["qe"]["kpoints"] = list(self.qe.kpoints) if self.qe.kpoints else None
        return d

    def with_kpoints(self, kpoints):
        """A copy with the k-point mesh ``kpoints`` (n1, n2, n3)."""
        from dataclasses import replace
        return replace(self, qe=replace(self.qe, kpoints=tuple(int(k) for k in kpoints)))

    def mpi_prefix(self):
        """The MPI launcher as an argument list (empty without MPI)."""
        return shlex.split(self.run.mpi.format(ranks=self.run.ranks)) if self.run.mpi.strip() else []


def _positive(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise InputError(f"{name} = {value!r}: must be a positive finite number")


def _check(s):
    q, l, r = s.qe, s.ldos, s.run
    for name in ("ecutwfc_ry", "ecutrho_ry", "temperature_K", "conv_thr_ry_per_atom", "mixing_beta"):
        _positive(getattr(q, name), f"[qe] {name}")
    if q.ecutrho_ry < q.ecutwfc_ry:
        raise InputError("[qe] ecutrho_ry must be >= ecutwfc_ry")
    if q.smearing not in ("fermi-dirac", "gaussian", "mv", "mp"):
        raise InputError("[qe] smearing must be fermi-dirac, gaussian, mv or mp")
    if q.kpoints is None and q.kpoint_spacing_inv_A is None:
        raise InputError("[qe] give kpoints = [n1, n2, n3] or kpoint_spacing_inv_A")
    if q.kpoints is not None and (len(q.kpoints) != 3 or any(isinstance(k, bool) or not isinstance(k, int) or k < 1
                                                               for k in q.kpoints)):
        raise InputError(f"[qe] kpoints = {q.kpoints!r}: three positive integers")
    if q.kpoint_spacing_inv_A is not None:
        _positive(q.kpoint_spacing_inv_A, "[qe] kpoint_spacing_inv_A")
    if not q.pseudopotentials:
        raise InputError("[qe] pseudopotentials must name a UPF file per species, e.g. {Be = \"Be.UPF\"}")
    for symbol, name in q.pseudopotentials.items():
        if not os.path.isfile(os.path.join(q.pseudo_dir, name)):
            raise InputError(f"[qe] pseudopotential {symbol} = {name!r} not found in {q.pseudo_dir}")
    if not (isinstance(q.symmetry, bool) or q.symmetry == "time-reversal"):
        raise InputError(f"[qe] symmetry = {q.symmetry!r}: true, false or \"time-reversal\"")
    _positive(q.bands_factor, "[qe] bands_factor")
    if q.bands_factor < 1.0:
        raise InputError("[qe] bands_factor must be >= 1 (the occupied bands at least)")
    _positive(l.delta_e_ev, "[ldos] delta_e_ev")
    _positive(l.degauss_ldos_ev, "[ldos] degauss_ldos_ev")
    if not math.isfinite(l.emin_ev) or isinstance(l.count, bool) or not isinstance(l.count, int) or l.count < 2:
        raise InputError("[ldos] needs a finite emin_ev and an integer count >= 2")
    if isinstance(r.ranks, bool) or not isinstance(r.ranks, int) or r.ranks < 1 or r.pools < 0:
        raise InputError("[run] ranks must be a positive integer and pools >= 0")
    if r.ranks > 1 and "{ranks}" not in r.mpi:
        raise InputError("[run] mpi must contain {ranks} when ranks > 1, e.g. \"mpirun -np {ranks}\"")


def parse_settings(raw, base_dir=".", source=None):
    """DftSettings from a parsed TOML dict. Local. InputError on unknown keys or bad values."""
    unknown = sorted(set(raw) - {"qe", "ldos", "run"})
    if unknown:
        raise InputError(f"unknown section(s) in the DFT settings: {', '.join(unknown)} (known: ldos, qe, run)")
    for name in ("qe", "ldos"):
        if name not in raw:
            raise InputError(f"the DFT settings need a [{name}] section")
    qe = dict(raw["qe"])
    if "pseudo_dir" not in qe:
        raise InputError("[qe] pseudo_dir is required (folder of the UPF files)")
    qe["pseudo_dir"] = os.path.abspath(os.path.join(base_dir, os.path.expanduser(str(qe["pseudo_dir"]))))
    if "kpoints" in qe and isinstance(qe["kpoints"], list):
        qe["kpoints"] = tuple(qe["kpoints"])
    s = DftSettings(qe=table_to_dataclass(QeSection, qe, "qe"),
                    ldos=table_to_dataclass(LdosSection, raw["ldos"], "ldos"),
                    run=table_to_dataclass(RunSection, raw.get("run", {}), "run"), source=source)
    _check(s)
    return s


def load_settings(path):
    """Read and check a DFT settings TOML file. Local."""
    import tomllib
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except OSError as exc:
        raise InputError(f"cannot read DFT settings {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    return parse_settings(raw, os.path.dirname(os.path.abspath(path)), os.path.abspath(path))
