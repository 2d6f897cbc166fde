"""Training data: one DFT snapshot -> (descriptors, LDOS) per grid point, checked before training. Stage: training.

In: a structure file (Å), the LDOS as .npy (nx, ny, nz, n_energies) in 1/(eV Å^3) or as pp.x cube files
(one per energy, 1/(Ry bohr^3)), and descriptors as .npy (nx, ny, nz, [3 +] K) or computed here with
LAMMPS. Out: :class:`Snapshot` with flattened float64 arrays (C order, z fastest).
"""
from dataclasses import dataclass
import glob
import os
import re

import numpy as np

from ..errors import InputError
from ..units import ANGSTROM3_PER_BOHR3, RYDBERG_EV

__all__ = ["Snapshot", "load_snapshot", "read_cube", "read_ldos_cubes", "grid_descriptors"]

#: 1/(Ry bohr^3) -> 1/(eV Å^3)
_CUBE_LDOS_TO_EV_A3 = 1.0 / (RYDBERG_EV * ANGSTROM3_PER_BOHR3)


@dataclass
class Snapshot:
    """One snapshot. descriptors (n, K) float64 (dimensionless); ldos (n, n_energies) float64 in
    1/(eV Å^3); n = nx*ny*nz; volume Å^3; n_electrons from the valence of its atoms (n_atoms of them);
    free_energy_offset_ev: DFT's free energy minus its LDOS target's, eV (from [[train]] free_energy; 0 without)."""
    name: str
    descriptors: np.ndarray
    ldos: np.ndarray
    grid: tuple
    cell: np.ndarray
    n_electrons: float
    n_atoms: int
    free_energy_offset_ev: float = 0.0

    @property
    def volume(self):
        return float(abs(np.linalg.det(self.cell)))

    @property
    def voxel_volume(self):
        """Volume per grid point, Å^3."""
        return self.volume / self.ldos.shape[0]


def read_cube(path):
    """A Gaussian cube file: (comment line 2, data (n1, n2, n3) float64 in file units). Local."""
    try:
        with open(path) as f:
            lines = f.readlines()
        natoms = int(lines[2].split()[0])
        shape = tuple(int(lines[3 + a].split()[0]) for a in range(3))
        if natoms < 0 or min(shape) < 1:
            raise ValueError("orbital cube files and Å-unit headers are not supported")
        values = np.array(" ".join(lines[6 + natoms:]).split(), dtype=np.float64)
    except (OSError, IndexError, ValueError) as exc:
        raise InputError(f"cannot read cube file {path}: {exc}") from None
    if values.size != np.prod(shape):
        raise InputError(f"cube file {path}: {values.size} values for a {shape} grid")
    return lines[1], values.reshape(shape)


def read_ldos_cubes(pattern, energy_grid):
    """LDOS (nx, ny, nz, n_energies) in 1/(eV Å^3) from pp.x cube files matching ``pattern``. Local.

    Files are taken in sorted name order, one per energy node; where the comment states
    ``Energy = X eV`` it must match the grid to 1e-3 eV.
    """
    files = sorted(glob.glob(pattern))
    if len(files) != energy_grid.count:
        raise InputError(f"{pattern}: {len(files)} cube files, but the energy grid has {energy_grid.count} "
                         "points (one file per energy)")
    slices = []
    for path, e in zip(files, energy_grid.energies):
        comment, data = read_cube(path)
        m = re.search(r"Energy\s*=\s*([-+0-9.eE]+)\s*eV", comment)
        if m and abs(float(m.group(1)) - e) > 1e-3:
            raise InputError(f"{path} is at {float(m.group(1))} eV, but the energy grid expects {e} eV there")
        if slices and data.shape != slices[0].shape:
            raise InputError(f"{path}: grid {data.shape} differs from {slices[0].shape} of the other cubes")
        slices.append(data)
    return np.stack(slices, axis=-1) * _CUBE_LDOS_TO_EV_A3


def grid_descriptors(comm, atoms, species, params, grid):
    """Bispectrum descriptors (nx, ny, nz, K) float64 of ``atoms`` on ``grid`` with LAMMPS (the reference).
    Collective over ``comm``, which must have one rank (training runs as one process)."""
    from ..descriptors.field import compute_descriptor_field
    out = np.full(tuple(grid) + (params.n_features,), np.nan)

    def sink(idx, desc):
        out[idx[:, 0], idx[:, 1], idx[:, 2]] = desc
    compute_descriptor_field(comm, atoms, params, tuple(grid), "lammps", 1 << 22, sink, species=list(species))
    return out


def _load_npy(path, what):
    from ..npyfile import open_npy
    if os.path.isdir(path):
        raise InputError(f"{what} file {path} is a directory, not a .npy file")
    if not os.path.isfile(path):
        raise InputError(f"{what} file {path} does not exist")
    try:
        return open_npy(path, mmap=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {what} {path}: {exc}") from None


def _finite(array, path, what):
    if not np.all(np.isfinite(array)):
        bad = np.argwhere(~np.isfinite(array))[0]
        raise InputError(f"{path}: {what} contains NaN or inf (first at index {tuple(int(i) for i in bad)})")


def load_snapshot(comm, spec, energy_grid, valence_electrons, params):
    """Read, compute and check one snapshot. Collective over ``comm`` (one rank). InputError on bad data.

    energy_grid : EnergyGrid of the LDOS; valence_electrons : {species: electrons per atom};
    params : BispectrumParams (feature count; settings if descriptors are computed).
    """
    from ..structure.read import check_structure, read_structure
    species = tuple(sorted(valence_electrons))
    atoms = read_structure(comm, spec.structure, spec.structure_format)
    check_structure(comm, atoms, species)
    n_e = energy_grid.count
    if spec.ldos is not None:
        ldos, where = _load_npy(spec.ldos, "LDOS"), spec.ldos
        if ldos.ndim != 4 or ldos.shape[-1] != n_e:
            raise InputError(f"{where}: LDOS shape {ldos.shape}, expected (nx, ny, nz, {n_e}): the energy "
                             f"grid has {n_e} points ({energy_grid.offset_ev} eV + i * "
                             f"{energy_grid.spacing_ev} eV)")
    else:
        ldos, where = read_ldos_cubes(spec.ldos_cubes, energy_grid), spec.ldos_cubes
    _finite(ldos, where, "the LDOS")
    grid = ldos.shape[:3]
    k = params.n_features
    if spec.descriptors is not None:
        check_descriptor_settings(spec.descriptors, params, species)
        desc = _load_npy(spec.descriptors, "descriptor")
        if desc.ndim != 4 or desc.shape[:3] != grid or desc.shape[-1] not in (k, k + 3):
            raise InputError(f"{spec.descriptors}: descriptor shape {desc.shape} does not fit the LDOS grid "
                             f"{grid} with {k} features (or 3 + {k} with xyz first, twojmax "
                             f"{params.twojmax})")
        desc = desc[..., desc.shape[-1] - k:]
        _finite(desc, spec.descriptors, "the descriptors")
    else:
        desc = grid_descriptors(comm, atoms, species, params, grid)
    n_electrons = float(sum(valence_electrons[s] for s in atoms.get_chemical_symbols()))
    path = spec.ldos or spec.ldos_cubes
    name = os.path.basename(path)
    if name.startswith("ldos") and name.endswith(".npy"):   # make-data's layout DIR/<snapshot>/ldos[_s5].npy:
                                                           # the folder names the snapshot
        name = os.path.join(os.path.basename(os.path.dirname(path)), name)
    return Snapshot(name=name, grid=tuple(grid),
                    descriptors=np.asarray(desc, dtype=np.float64).reshape(-1, k),
                    ldos=np.asarray(ldos, dtype=np.float64).reshape(-1, n_e),
                    cell=np.array(atoms.cell.array), n_electrons=n_electrons, n_atoms=len(atoms),
                    free_energy_offset_ev=free_energy_offset(spec.free_energy) if spec.free_energy else 0.0)


_SETTING_KEYS = ("twojmax", "rcutfac", "rfac0", "rmin0", "switchflag", "bzeroflag", "quadraticflag")


def _effective_settings(params, species):
    """What changes the numbers: the BispectrumParams fields and each species' radius and weight (a default of
    0.5 / 1.0 equals an explicit one)."""
    out = {k: getattr(params, k) for k in _SETTING_KEYS}
    out.update({f"radius {s}": params.radius(s) for s in species})
    out.update({f"weight {s}": params.weight(s) for s in species})
    return out


def check_descriptor_settings(path, params, species):
    """InputError if the descriptor file ``path`` was computed with other settings than ``params`` (the model's or
    the config's BispectrumParams), as recorded by ``mlsurrogate descriptors`` in results.json next to it: the
    same feature count hides a different cutoff. Without that record nothing can be checked. Local."""
    import json
    from ..descriptors.bispectrum import BispectrumParams
    record = os.path.join(os.path.dirname(os.path.abspath(path)), "results.json")
    try:
        with open(record) as f:
            made = BispectrumParams(**json.load(f)["settings"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    have, wanted = _effective_settings(made, species), _effective_settings(params, species)
    differ = [f"{k} {have[k]} (wanted {v})" for k, v in wanted.items()
              if not np.isclose(have[k], v, rtol=1e-12, atol=0)]
    if differ:
        raise InputError(f"{path}: computed with other descriptor settings than the model's or config's: "
                         f"{', '.join(differ)} ({record}); recompute them (mlsurrogate descriptors) or point "
                         "to the right folder")


def free_energy_offset(path):
    """DFT's free energy minus the LDOS target's (eV) from a [[train]] free_energy JSON file with the keys
    free_energy_dft_eV and free_energy_ldos_eV. InputError if unreadable or not two finite numbers."""
    import json
    try:
        with open(path) as f:
            data = json.load(f)
        dft, ldos = data["free_energy_dft_eV"], data["free_energy_ldos_eV"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"{path}: not a free-energy file with free_energy_dft_eV and free_energy_ldos_eV "
                         f"({type(e).__name__}: {e})") from None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in (dft, ldos)):
        raise InputError(f"{path}: free_energy_dft_eV and free_energy_ldos_eV must be finite numbers (eV)")
    return float(dft) - float(ldos)
