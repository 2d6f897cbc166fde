"""Read what the energy stage needs from a UPF v2 pseudopotential. Stage: energy.

Only three things are used: the valence charge (Ewald), the XC functional, and the nonlinear core charge
``PP_NLCC`` on the radial mesh (``PP_R``, ``PP_RAB``; bohr, electrons/bohr³). No pseudopotential term is
evaluated on the grid: E_band already contains them (see ../shared/reference/total-energy.md §6).
"""
from dataclasses import dataclass
import os
import re

import numpy as np

from ..errors import InputError

__all__ = ["Pseudopotential", "read_upf", "find_pseudopotentials"]


@dataclass(frozen=True)
class Pseudopotential:
    """r, rab : (mesh,) bohr; core_charge : (mesh,) electrons/bohr³ (None without NLCC)."""
    path: str
    element: str
    z_valence: float
    functional: str
    r: np.ndarray
    rab: np.ndarray
    core_charge: np.ndarray = None


def _numbers(text, tag, path):
    m = re.search(rf"<{tag}(\s[^>]*)?>(.*?)</{tag}>", text, re.S)
    if m is None:
        return None
    try:
        return np.array(m.group(2).split(), dtype=float)
    except ValueError:
        raise InputError(f"{path}: <{tag}> holds something other than numbers") from None


def read_upf(path):
    """Parse a UPF v2 file. Local. Raises InputError for unreadable files or missing data."""
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError as exc:
        raise InputError(f"cannot read pseudopotential {path}: {exc.strerror}") from None
    header = re.search(r"<PP_HEADER\s(.*?)/?>", text, re.S)
    if header is None:
        if "<PP_HEADER>" in text:
            raise InputError(f"{path}: UPF version 1 is not supported; convert it with QE's upfconv.x -u")
        raise InputError(f"{path}: not a UPF file (no <PP_HEADER>)")
    attrs = dict(re.findall(r'(\w+)\s*=\s*"([^"]*)"', header.group(1)))
    try:
        z_valence = float(attrs["z_valence"])
        functional = attrs["functional"].strip()
        element = attrs["element"].strip()
    except (KeyError, ValueError):
        raise InputError(f"{path}: PP_HEADER lacks element, z_valence or functional") from None
    r, rab = _numbers(text, "PP_R", path), _numbers(text, "PP_RAB", path)
    core = None
    if attrs.get("core_correction", "false").strip().lower() in ("true", "t", ".true."):
        core = _numbers(text, "PP_NLCC", path)
        if core is None:
            raise InputError(f"{path}: core_correction is true but there is no <PP_NLCC>")
    if core is not None and (r is None or rab is None or not (len(r) == len(rab) == len(core))):
        raise InputError(f"{path}: PP_R, PP_RAB and PP_NLCC are missing or of different lengths")
    return Pseudopotential(path=path, element=element, z_valence=z_valence, functional=functional,
                           r=r, rab=rab, core_charge=core)


def find_pseudopotentials(pseudo_dir, files_by_species):
    """{species: Pseudopotential} from ``pseudo_dir``; ``files_by_species`` maps species -> file name. Local."""
    out = {}
    for species, name in files_by_species.items():
        if not name:
            raise InputError(f"no pseudopotential file is named for {species}")
        path = name if os.path.isabs(name) else os.path.join(pseudo_dir, name)
        if not os.path.isfile(path):
            raise InputError(f"pseudopotential for {species} not found: {path} (set --pseudo-dir)")
        pp = read_upf(path)
        if pp.element.lower() != species.lower():
            raise InputError(f"{path} is for element {pp.element}, not {species}")
        out[species] = pp
    return out
