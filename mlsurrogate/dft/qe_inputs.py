"""pw.x and pp.x input files for one structure. Stage: training data (DFT).

pw.x: an scf run (ibrav 0, Å), Gamma-centred Monkhorst-Pack k-points, smearing width k_B T in Ry.
pp.x: ``plot_num = 3`` writes the LDOS at E_i = emin + i delta_e (eV, QE's absolute eigenvalue scale),
Gaussian-broadened by degauss_ldos, one cube file per energy (1/(Ry bohr^3)); ``plot_num = 0`` the valence
density with augmentation charges (1/bohr^3). Both on pw.x's dense FFT grid, iflag 3, output_format 6.
"""
import math

import numpy as np

from ..units import RYDBERG_EV, kelvin_to_ev

__all__ = ["kpoint_mesh", "n_bands", "pw_input", "pp_ldos_input", "pp_density_input", "PREFIX", "LDOS_CUBE",
           "DENSITY_CUBE"]

PREFIX = "snapshot"
LDOS_CUBE = "ldos.cube"          # pp.x writes tmp.ppNNNldos.cube, NNN = 1..count
DENSITY_CUBE = "density.cube"


def kpoint_mesh(cell_A, qe):
    """(n1, n2, n3): qe.kpoints, or ceil(|b_i| / spacing) with b the reciprocal vectors (2π/Å)."""
    if qe.kpoints is not None:
        return tuple(int(k) for k in qe.kpoints)
    b = 2.0 * np.pi * np.linalg.inv(np.asarray(cell_A, dtype=float)).T
    return tuple(max(1, math.ceil(np.linalg.norm(v) / qe.kpoint_spacing_inv_A - 1e-9)) for v in b)


def n_bands(atoms, valences, factor):
    """Bands for pw.x: ``factor`` x half the valence electrons, rounded up (room above E_F for the LDOS)."""
    electrons = sum(valences[s] for s in atoms.get_chemical_symbols())
    return int(math.ceil(factor * electrons / 2.0))


def pw_input(atoms, settings, valences, outdir="tmp"):
    """Text of a pw.x scf input for ``atoms`` (ase.Atoms, Å)."""
    from ase.data import atomic_masses, atomic_numbers
    q = settings.qe
    species = sorted(set(atoms.get_chemical_symbols()))
    k = kpoint_mesh(atoms.cell.array, q)
    degauss = kelvin_to_ev(q.temperature_K) / RYDBERG_EV
    cell = "\n".join(" ".join(f"{v:.12f}" for v in row) for row in atoms.cell.array)
    pos = "\n".join(f"{s} {x:.12f} {y:.12f} {z:.12f}" for s, (x, y, z) in
                    zip(atoms.get_chemical_symbols(), atoms.positions))
    spec = "\n".join(f"{s} {q.masses.get(s, atomic_masses[atomic_numbers[s]]):.7f} {q.pseudopotentials[s]}"
                     for s in species)
    sym = {True: "", False: "   nosym = .true.\n   noinv = .true.\n",
           "time-reversal": "   nosym = .true.\n"}[q.symmetry]
    return f"""&CONTROL
   calculation = 'scf'
   outdir = '{outdir}'
   prefix = '{PREFIX}'
   pseudo_dir = '{q.pseudo_dir}'
   tprnfor = .true.
   tstress = .true.
/
&SYSTEM
   ibrav = 0
   nat = {len(atoms)}
   ntyp = {len(species)}
   nbnd = {n_bands(atoms, valences, q.bands_factor)}
   ecutwfc = {q.ecutwfc_ry!r}
   ecutrho = {q.ecutrho_ry!r}
   occupations = 'smearing'
   smearing = '{q.smearing}'
   degauss = {degauss:.10f}
{sym}/
&ELECTRONS
   conv_thr = {q.conv_thr_ry_per_atom * len(atoms):.3e}
   mixing_mode = '{q.mixing_mode}'
   mixing_beta = {q.mixing_beta!r}
   mixing_ndim = 12
   electron_maxstep = 200
/
ATOMIC_SPECIES
{spec}
K_POINTS automatic
{k[0]} {k[1]} {k[2]} 0 0 0
CELL_PARAMETERS angstrom
{cell}
ATOMIC_POSITIONS angstrom
{pos}
"""


def pp_ldos_input(settings, outdir="tmp"):
    """Text of a pp.x input writing the LDOS cubes. emax is set half a step above the last energy, so
    pp.x's floor((emax - emin)/delta_e) + 1 is exactly ``count`` without rounding trouble."""
    l = settings.ldos
    emax = l.emin_ev + (l.count - 0.5) * l.delta_e_ev
    return f"""&inputpp
   outdir = '{outdir}'
   prefix = '{PREFIX}'
   plot_num = 3
   emin = {l.emin_ev!r}
   emax = {emax!r}
   delta_e = {l.delta_e_ev!r}
   degauss_ldos = {l.degauss_ldos_ev!r}
/
&plot
   iflag = 3
   output_format = 6
   fileout = '{LDOS_CUBE}'
/
"""


def pp_density_input(outdir="tmp"):
    """Text of a pp.x input writing the valence density (with augmentation) as one cube."""
    return f"""&inputpp
   outdir = '{outdir}'
   prefix = '{PREFIX}'
   plot_num = 0
/
&plot
   iflag = 3
   output_format = 6
   fileout = '{DENSITY_CUBE}'
/
"""
