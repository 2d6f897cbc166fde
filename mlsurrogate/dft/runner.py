"""One DFT snapshot from a structure: pw.x scf, pp.x density and LDOS, conversion. Stage: training data (DFT).

Folder of a snapshot (all written by :func:`make_snapshot`; ``snapshot.json`` last, as the commit marker):
  pw.in, pw.out, pp_density.in, pp_ldos.in, pp_*.out      QE inputs and outputs
  structure.extxyz                                         the structure (Å)
  ldos.npy        (nx, ny, nz, count) float32, 1/(eV Å^3), E_i = emin + i delta_e (eV, QE's scale)
  density.npy     (nx, ny, nz) float64, 1/Å^3, valence density with augmentation (pp.x plot_num 0)
  snapshot.json   QE's energies (Ry and eV), Fermi level, k-points, grid, energy grid, temperature, bands,
                  settings, wall times per step
A folder with a snapshot.json whose settings and structure match is complete and is not redone.
"""
import json
import logging
import os
import shutil
import subprocess
import time

import numpy as np

from ..errors import InputError, MLSurrogateError
from . import qe_inputs
from .convert import convert_density, convert_ldos, highest_band_minimum_ev, ldos_cube_files
from .qe_output import parse_pw_output

__all__ = ["make_snapshot", "snapshot_valences", "SNAPSHOT_JSON", "RunError"]

log = logging.getLogger("mlsurrogate")
SNAPSHOT_JSON = "snapshot.json"
TMP = "tmp"


class RunError(MLSurrogateError):
    """pw.x or pp.x failed (missing executable, non-zero exit)."""


def snapshot_valences(settings):
    """{symbol: z_valence} from the UPF files of the settings."""
    from ..energy.upf import read_upf
    return {s: read_upf(os.path.join(settings.qe.pseudo_dir, f)).z_valence
            for s, f in settings.qe.pseudopotentials.items()}


def _which(exe):
    path = shutil.which(exe)
    if path is None:
        raise RunError(f"{exe} not found (not on PATH and not a file): install Quantum ESPRESSO or set "
                       "[run] pw_x / pp_x")
    return path


def _run(cmd, folder, stdin_name, stdout_name):
    """Run ``cmd`` in ``folder`` with input file and output file; seconds. RunError on failure."""
    t0 = time.perf_counter()
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    with open(os.path.join(folder, stdout_name), "w") as out:
        proc = subprocess.run(cmd + ["-in", stdin_name], cwd=folder, stdout=out, stderr=subprocess.STDOUT,
                              env=env, check=False)
    if proc.returncode != 0:
        tail = "\n".join(open(os.path.join(folder, stdout_name)).read().strip().splitlines()[-6:])
        raise RunError(f"{' '.join(cmd)} failed with exit code {proc.returncode} in {folder}; last lines of "
                       f"{stdout_name}:\n{tail}")
    return time.perf_counter() - t0


def _done(folder, record):
    path = os.path.join(folder, SNAPSHOT_JSON)
    if not os.path.isfile(path):
        return False
    try:
        old = json.load(open(path))
    except (OSError, ValueError):
        return False
    return old.get("pw_input") == record["pw_input"] and old.get("pp_ldos_input") == record["pp_ldos_input"]


def make_snapshot(atoms, folder, settings, valences):
    """Run QE for ``atoms`` in ``folder`` and convert its output (see the module docstring).
    Returns the snapshot.json dict. Skips the work when the folder already holds the same snapshot."""
    os.makedirs(folder, exist_ok=True)
    pw_text = qe_inputs.pw_input(atoms, settings, valences, TMP)
    pp_ldos = qe_inputs.pp_ldos_input(settings, TMP)
    record = {"pw_input": pw_text, "pp_ldos_input": pp_ldos}
    if _done(folder, record):
        log.info("%s: already done, kept", folder)
        return json.load(open(os.path.join(folder, SNAPSHOT_JSON)))
    stale = os.path.join(folder, SNAPSHOT_JSON)
    if os.path.exists(stale):
        os.remove(stale)        # the folder stops looking complete before anything is replaced
    for name, text in (("pw.in", pw_text), ("pp_ldos.in", pp_ldos),
                       ("pp_density.in", qe_inputs.pp_density_input(TMP))):
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)
    import ase.io
    ase.io.write(os.path.join(folder, "structure.extxyz"), atoms, format="extxyz")
    mpi = settings.mpi_prefix()
    pools = settings.run.pools or settings.run.ranks
    wall = {}
    log.info("%s: pw.x (%d atoms, k-points %s, %d ranks)", folder, len(atoms),
             "x".join(map(str, qe_inputs.kpoint_mesh(atoms.cell.array, settings.qe))), settings.run.ranks)
    wall["pw_x"] = _run(mpi + [_which(settings.run.pw_x), "-nk", str(pools)], folder, "pw.in", "pw.out")
    qe = parse_pw_output(open(os.path.join(folder, "pw.out")).read(), os.path.join(folder, "pw.out"))
    top = highest_band_minimum_ev(os.path.join(folder, TMP, f"{qe_inputs.PREFIX}.save"))
    pp = mpi + [_which(settings.run.pp_x)]
    log.info("%s: pp.x density and LDOS (%d energies)", folder, settings.ldos.count)
    wall["pp_x_density"] = _run(pp, folder, "pp_density.in", "pp_density.out")
    density = convert_density(os.path.join(folder, qe_inputs.DENSITY_CUBE), os.path.join(folder, "density.npy"))
    wall["pp_x_ldos"] = _run(pp, folder, "pp_ldos.in", "pp_ldos.out")
    energies = settings.ldos.emin_ev + settings.ldos.delta_e_ev * np.arange(settings.ldos.count)
    files = ldos_cube_files(folder, qe_inputs.LDOS_CUBE, settings.ldos.count)
    grid = convert_ldos(files, energies, os.path.join(folder, "ldos.npy"))
    if tuple(density.shape) != tuple(grid):
        raise InputError(f"{folder}: density grid {density.shape} differs from the LDOS grid {grid}")
    import glob
    for path in glob.glob(os.path.join(folder, "tmp.pp*")):   # pp.x's intermediate plot data
        if settings.run.keep_cubes and path in files:
            continue
        os.remove(path)
    if not settings.run.keep_cubes:
        os.remove(os.path.join(folder, qe_inputs.DENSITY_CUBE))
    if not settings.run.keep_wavefunctions:
        shutil.rmtree(os.path.join(folder, TMP), ignore_errors=True)
    volume = abs(float(np.linalg.det(atoms.cell.array)))
    last = float(energies[-1]) + 3.0 * settings.ldos.degauss_ldos_ev
    out = {**record, **qe, "natoms": len(atoms), "symbols": sorted(set(atoms.get_chemical_symbols())),
           "valences": valences, "grid": list(grid), "volume_A3": volume,
           "electrons_in_density": float(density.sum() * volume / density.size),
           "temperature_K": settings.qe.temperature_K,
           "energy_grid": {"offset_ev": settings.ldos.emin_ev, "spacing_ev": settings.ldos.delta_e_ev,
                           "count": settings.ldos.count},
           "degauss_ldos_ev": settings.ldos.degauss_ldos_ev,
           "kpoints": list(qe_inputs.kpoint_mesh(atoms.cell.array, settings.qe)),
           "highest_band_minimum_eV": top,
           "ldos_complete": top is None or top >= last,
           "files": {"ldos": "ldos.npy", "density": "density.npy", "structure": "structure.extxyz",
                     "pw_output": "pw.out"},
           "units": {"ldos": "1/(eV A^3)", "density": "1/A^3", "energies_eV": "eV", "energies_Ry": "Ry"},
           "settings": settings.to_dict(), "wall_s": wall}
    if not out["ldos_complete"]:
        log.warning("%s: the highest band reaches down to %.2f eV at some k-point, below the top of the LDOS "
                    "grid + 3 broadenings (%.2f eV): the LDOS there misses states (raise [qe] bands_factor)",
                    folder, top, last)
    tmp = os.path.join(folder, SNAPSHOT_JSON + ".part")
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
    os.replace(tmp, os.path.join(folder, SNAPSHOT_JSON))
    return out
