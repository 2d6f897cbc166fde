"""Command-line options shared by the commands that compute the total energy (predict, evaluate)."""
from ..errors import InputError

__all__ = ["add_energy_arguments", "parse_assignments", "energy_summary_lines"]


def add_energy_arguments(p, pseudo_dir_default):
    p.add_argument("--pseudo-dir", metavar="DIR",
                   help=f"directory of the UPF pseudopotentials (default: {pseudo_dir_default})")
    p.add_argument("--pseudo", action="append", default=[], metavar="SYMBOL=FILE",
                   help="pseudopotential file for one species (repeatable; relative to --pseudo-dir)")
    p.add_argument("--ecutrho", type=float, metavar="RY",
                   help="density cutoff in Ry (QE's ecutrho): the G-sphere |G|^2 <= ecutrho of the FFT terms")


def parse_assignments(items, option, convert=str, expected="VALUE"):
    """{'Be': value} from ['Be=2', ...]; InputError names the bad item and says ``SYMBOL={expected}``."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            if not sep or not key.strip():
                raise ValueError
            out[key.strip()] = convert(value.strip())
        except ValueError:
            raise InputError(f"{option} {item!r}: expected SYMBOL={expected}") from None
    return out


def energy_summary_lines(res):
    """Lines for the terminal summary (eV) of whichever energy terms ``res`` holds."""
    names = [("hartree_energy_eV", "Hartree"), ("xc_energy_eV", "exchange-corr."), ("ewald_energy_eV", "Ewald"),
             ("e_rho_times_v_hxc_eV", "-int n v_Hxc"), ("broadening_correction_eV", "broadening corr."),
             ("total_energy_eV", "total (F)")]
    lines = [f"{label:<17}{res[key]:.8f} eV" for key, label in names
             if key in res and (res[key] or key != "broadening_correction_eV")]
    if "total_energy_per_atom_eV" in res:
        lines.append(f"{'total per atom':<17}{res['total_energy_per_atom_eV']:.8f} eV")
    return lines
