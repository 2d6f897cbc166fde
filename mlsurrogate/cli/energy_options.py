"""Command-line options shared by the commands that compute the total energy (predict, evaluate)."""
from ..errors import InputError

__all__ = ["add_energy_arguments", "add_screening_arguments", "screening_cutoff", "parse_assignments",
           "energy_summary_lines"]


def add_energy_arguments(p, pseudo_dir_default):
    p.add_argument("--pseudo-dir", metavar="DIR",
                   help=f"directory of the UPF pseudopotentials (default: {pseudo_dir_default})")
    p.add_argument("--pseudo", action="append", default=[], metavar="SYMBOL=FILE",
                   help="pseudopotential file for one species (repeatable; relative to --pseudo-dir)")
    p.add_argument("--ecutrho", type=float, metavar="RY",
                   help="density cutoff in Ry (QE's ecutrho): the G-sphere |G|^2 <= ecutrho of the FFT terms")


def add_screening_arguments(p):
    from ..energy.screening import DEFAULT_CUTOFF_INV_A
    p.add_argument("--screening", action="store_true",
                   help="screen the predicted density at long wavelengths before the energy (Thomas-Fermi linear "
                        "response of the LDOS to the Hartree potential of its macroscopic charge, |G| below "
                        "--screening-cutoff): what a self-consistent run would do to a charge a defect keeps in a "
                        "cell larger than the training cells. Use it for energy differences between cells of "
                        "different size (stacking faults); results.json 'screening'")
    p.add_argument("--screening-cutoff", type=float, default=DEFAULT_CUTOFF_INV_A, metavar="INV_A",
                   help=f"with --screening: largest |G| screened, 1/Å (default {DEFAULT_CUTOFF_INV_A}: wavelengths "
                        "above 4.2 Å; keep it below the crystal's smallest reciprocal lattice vector)")


def screening_cutoff(args):
    """G_c in 1/Å with --screening, else None; InputError for a non-positive cutoff. Local."""
    if not getattr(args, "screening", False):
        return None
    from .checks import positive
    positive(args.screening_cutoff, "--screening-cutoff", "1/Å")
    return float(args.screening_cutoff)


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
             ("screening_correction_eV", "screening corr."), ("total_energy_eV", "total (F)")]
    lines = [f"{label:<17}{res[key]:.8f} eV" for key, label in names
             if key in res and (res[key] or key != "broadening_correction_eV")]
    if "total_energy_per_atom_eV" in res:
        lines.append(f"{'total per atom':<17}{res['total_energy_per_atom_eV']:.8f} eV")
    return lines
