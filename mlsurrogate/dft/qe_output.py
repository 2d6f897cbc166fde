"""What a pw.x output says: the energies (Ry, converted to eV), Fermi level, k-points, bands, timing.
Stage: training data (DFT)."""
import re

from ..errors import ConvergenceError
from ..units import RYDBERG_EV

__all__ = ["parse_pw_output"]

_ENERGIES = {  # key -> regex on pw.x 6.x output (values in Ry)
    "total_energy": r"^!\s+total energy\s+=\s+(-?\d+\.\d+) Ry",
    "smearing_contribution_minus_TS": r"smearing contrib\. \(-TS\)\s+=\s+(-?\d+\.\d+) Ry",
    "one_electron": r"one-electron contribution\s+=\s+(-?\d+\.\d+) Ry",
    "hartree": r"hartree contribution\s+=\s+(-?\d+\.\d+) Ry",
    "xc": r"xc contribution\s+=\s+(-?\d+\.\d+) Ry",
    "ewald": r"ewald contribution\s+=\s+(-?\d+\.\d+) Ry",
}


def parse_pw_output(text, where="pw.out"):
    """dict with energies_Ry, energies_eV (QE's terms; total = the Mermin free energy F), fermi_energy_eV,
    k_points_irreducible, bands, scf_iterations, wall_s. ConvergenceError when pw.x did not converge."""
    if "convergence has been achieved" not in text or not re.search(_ENERGIES["total_energy"], text, re.M):
        tail = "\n".join(text.strip().splitlines()[-5:])
        raise ConvergenceError(f"pw.x did not reach a converged scf energy (see {where}); its last lines:\n{tail}")
    ry = {}
    for key, pattern in _ENERGIES.items():
        found = re.findall(pattern, text, re.M)
        if found:
            ry[key] = float(found[-1])
    out = {"energies_Ry": ry, "energies_eV": {k: v * RYDBERG_EV for k, v in ry.items()}}
    fermi = re.findall(r"the Fermi energy is\s+(-?\d+\.\d+) ev", text)
    out["fermi_energy_eV"] = float(fermi[-1]) if fermi else None
    k = re.search(r"number of k points=\s+(\d+)", text)
    out["k_points_irreducible"] = int(k.group(1)) if k else None
    b = re.search(r"number of Kohn-Sham states=\s+(\d+)", text)
    out["bands"] = int(b.group(1)) if b else None
    it = re.search(r"convergence has been achieved in\s+(\d+) iterations", text)
    out["scf_iterations"] = int(it.group(1)) if it else None
    w = re.findall(r"PWSCF\s+:.*CPU\s+(?:(\d+)h)?\s*(?:(\d+)m)?\s*([\d.]+)s WALL", text)
    if w:
        h, m, s = w[-1]
        out["wall_s"] = int(h or 0) * 3600 + int(m or 0) * 60 + float(s)
    return out
