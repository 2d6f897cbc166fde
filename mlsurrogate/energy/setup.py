"""Gather what the energy stage needs before the expensive work starts. Stage: energy.

Pseudopotentials are read on rank 0 and broadcast; every check raises the same error on every rank.
"""
import glob
import os
import re

import numpy as np

from ..errors import InputError
from ..parallel import on_root
from ..structure.read import species_of
from .plane_waves import check_grid
from .terms import EnergyInputs
from .upf import find_pseudopotentials
from .xc import functional_name

__all__ = ["discover_pseudopotentials", "load_pseudopotentials", "energy_inputs", "check_grid",
           "ecutrho_from_qe_file"]


def discover_pseudopotentials(pseudo_dir, species):
    """{species: file name} of the one ``<Symbol>[._-]*.upf`` file per species in ``pseudo_dir``. Local."""
    out = {}
    for s in species:
        found = sorted(os.path.basename(p) for p in glob.glob(os.path.join(pseudo_dir, "*"))
                       if re.fullmatch(rf"{re.escape(s)}([._-].*)?\.upf", os.path.basename(p), re.I))
        if not found:
            raise InputError(f"no pseudopotential for {s} in {pseudo_dir} (expected a file like {s}.*.UPF; "
                             "set --pseudo-dir)")
        if len(found) > 1:
            raise InputError(f"several pseudopotentials for {s} in {pseudo_dir}: {', '.join(found)}; "
                             f"name one with --pseudo {s}=FILE")
        out[s] = found[0]
    return out


def load_pseudopotentials(comm, pseudo_dir, files_by_species):
    """{species: Pseudopotential}, read on rank 0. Collective."""
    return on_root(comm, find_pseudopotentials, pseudo_dir, files_by_species)


def energy_inputs(atoms, pseudos=None, valences=None, need_functional=True, need_valences=True):
    """:class:`EnergyInputs` for ``atoms``; valences from ``valences`` ({species: Z}) else the UPFs. Local."""
    species = species_of(atoms)
    pseudos = pseudos or {}
    z = {s: pp.z_valence for s, pp in pseudos.items()}
    z.update(valences or {})
    missing = [s for s in species if s not in z]
    if missing and need_valences:
        raise InputError(f"no valence charge for {', '.join(missing)}: give a pseudopotential or --valence "
                         f"{missing[0]}=Z")
    functional = None
    if need_functional:
        names = {s: functional_name(pseudos[s].functional) for s in species}
        if len(set(names.values())) > 1:
            raise InputError(f"the pseudopotentials use different functionals: {names}")
        functional = names[species[0]]
    from ..descriptors.field import type_ids
    return EnergyInputs(cell_A=atoms.cell.array.copy(), frac=atoms.get_scaled_positions(wrap=True),
                        species=species, types=(type_ids(atoms, species) - 1).astype(np.int16), valences=z,
                        pseudos=pseudos, functional=functional)


def ecutrho_from_qe_file(path):
    """ecutrho (Ry) stated in a pw.x input or output file, else None. Local."""
    try:
        with open(path, errors="replace") as f:
            text = f.read(1 << 20)
    except OSError:
        return None
    m = re.search(r"charge density cutoff\s*=\s*([0-9.eEdD+-]+)\s*Ry", text) or \
        re.search(r"^\s*ecutrho\s*=\s*([0-9.eEdD+-]+)", text, re.M | re.I)
    if m:
        return float(m.group(1).replace("d", "e").replace("D", "e"))
    m = re.search(r"^\s*ecutwfc\s*=\s*([0-9.eEdD+-]+)", text, re.M | re.I)   # QE's default: 4 ecutwfc
    return 4.0 * float(m.group(1).replace("d", "e").replace("D", "e")) if m else None
