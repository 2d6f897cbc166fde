"""Relax atoms with the surrogate's forces: ASE BFGS through the calculator. Stage: forces.

Collective over ``comm``: every rank runs the same optimizer on the same atoms (the forces are identical on
every rank after their Allreduce, so the steps are too). Used by ``mlsurrogate relax`` and
``study stacking-fault --relax``. Units: eV, Å, eV/Å.
"""
from dataclasses import replace

import numpy as np

__all__ = ["relax_atoms"]


def relax_atoms(comm, atoms, model, options, fmax=0.01, steps=200, axis=None, on_step=None, log=True):
    """Relax ``atoms`` (ase.Atoms, changed in place) until every force is below ``fmax`` eV/Å or ``steps``.

    options : PredictOptions of each step (forces are added; float64 keeps them the exact derivative of F).
    axis : None, or "x"/"y"/"z": atoms move only along that Cartesian axis (FixedLine; a stacking-fault
    relaxation along the stacking axis). on_step : optional callable(atoms) after every step (trajectory).
    Returns {"converged", "steps", "forces" ((n, 3) eV/Å as the optimizer saw them: along ``axis`` only if
    given), "max_force_eV_per_A", "max_displacement_A", "free_energy_eV", "fmax_eV_per_A", "axis"}.
    """
    from ase.constraints import FixedLine
    from ase.optimize import BFGS
    from ..ase import MLSurrogateCalculator
    start = atoms.get_positions()
    constraints = atoms.constraints
    if axis is not None:
        direction = np.eye(3)["xyz".index(axis)]
        atoms.set_constraint([FixedLine(i, direction) for i in range(len(atoms))])
    calc = MLSurrogateCalculator(model, comm, **vars(replace(options, forces=True)))
    atoms.calc = calc
    try:
        opt = BFGS(atoms, logfile="-" if (log and comm.rank == 0) else None)
        if on_step is not None:
            opt.attach(lambda: on_step(atoms))
        converged = bool(opt.run(fmax=fmax, steps=steps))
        forces = atoms.get_forces()
        energy = atoms.get_potential_energy(force_consistent=True)
    finally:
        atoms.set_constraint(constraints)
    return {"converged": converged, "steps": int(opt.get_number_of_steps()), "forces": forces,
            "max_force_eV_per_A": float(np.linalg.norm(forces, axis=1).max()),
            "max_displacement_A": float(np.linalg.norm(atoms.get_positions() - start, axis=1).max()),
            "free_energy_eV": float(energy), "fmax_eV_per_A": float(fmax), "axis": axis}
