"""Atomic forces F_I = -dF/dR_I of the surrogate's free energy, differentiated exactly through every stage.

descriptor adjoint (native kernel) <- network backward <- LDOS gradient (electronic.py) <- potentials of the
density-dependent terms (potentials.py); the core charge and Ewald depend on the positions directly
(gaussian_forces.py, ewald_forces.py). The sweep that puts them together is sweep.py.
"""
