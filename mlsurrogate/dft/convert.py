"""pp.x cube files -> the arrays ``train`` and ``evaluate`` read. Stage: training data (DFT).

LDOS: cube files tmp.ppNNNldos.cube (NNN = 1..count, one energy each, 1/(Ry bohr^3)) -> ldos.npy
(nx, ny, nz, count) float32 in 1/(eV Å^3). Density: density.cube (1/bohr^3) -> density.npy (nx, ny, nz)
float64 in 1/Å^3. Element [i,j,k] at r = i/nx a + j/ny b + k/nz c (pp.x's cube order, z fastest).
"""
import glob
import os
import re

import numpy as np

from ..errors import InputError
from ..training.data import read_cube
from ..units import ANGSTROM3_PER_BOHR3, RYDBERG_EV

__all__ = ["ldos_cube_files", "convert_ldos", "convert_density", "highest_band_minimum_ev"]


def ldos_cube_files(folder, name, count):
    """The ``count`` pp.x LDOS cube files in ``folder``, ordered by pp.x's energy index (not by name)."""
    found = {}
    for path in glob.glob(os.path.join(folder, f"tmp.pp*{name}")):
        m = re.match(r"tmp\.pp(\d+)" + re.escape(name) + "$", os.path.basename(path))
        if m:
            found[int(m.group(1))] = path
    if sorted(found) != list(range(1, count + 1)):
        raise InputError(f"{folder}: expected pp.x LDOS cubes 1..{count}, found {len(found)} "
                         f"({min(found, default=None)}..{max(found, default=None)})")
    return [found[i] for i in range(1, count + 1)]


def convert_ldos(files, energies_ev, out_path):
    """Stack the cubes into ``out_path`` (.npy, float32, 1/(eV Å^3)); checks each cube's stated energy
    against ``energies_ev`` (1e-3 eV). Returns the grid shape (nx, ny, nz)."""
    first = None
    out = None
    for i, (path, e) in enumerate(zip(files, energies_ev)):
        comment, data = read_cube(path)
        m = re.search(r"Energy\s*=\s*([-+0-9.eE]+)\s*eV", comment)
        if m is None or abs(float(m.group(1)) - e) > 1e-3:
            raise InputError(f"{path}: states {comment.strip()!r}, but energy {i} of the grid is {e:.4f} eV")
        if first is None:
            first = data.shape
            out = np.lib.format.open_memmap(out_path + ".part", mode="w+", dtype=np.float32,
                                            shape=first + (len(files),))
        elif data.shape != first:
            raise InputError(f"{path}: grid {data.shape} differs from {first}")
        out[..., i] = data / (RYDBERG_EV * ANGSTROM3_PER_BOHR3)
    out.flush()
    del out
    os.replace(out_path + ".part", out_path)
    return first


def convert_density(path, out_path):
    """density.cube (1/bohr^3) -> ``out_path`` (.npy float64 (nx, ny, nz), 1/Å^3). Returns the array."""
    _, data = read_cube(path)
    density = data / ANGSTROM3_PER_BOHR3
    np.save(out_path + ".part.npy", density)
    os.replace(out_path + ".part.npy", out_path)
    return density


def highest_band_minimum_ev(save_dir):
    """Lowest energy (eV) of the highest computed band over all k-points, from pw.x's
    data-file-schema.xml in ``save_dir``; None if the file is missing. The LDOS is complete only below it."""
    import xml.etree.ElementTree as ET
    path = os.path.join(save_dir, "data-file-schema.xml")
    if not os.path.isfile(path):
        return None
    root = ET.parse(path).getroot()
    tops = [float(e.text.split()[-1]) for e in root.iter("eigenvalues")]   # Hartree
    return min(tops) * 2.0 * RYDBERG_EV if tops else None
