"""Generate the built-in demo structure: hcp Be, 5x5x4 primitive cells (200 atoms), thermally rattled.

Lattice as in the MALA Be2 reference data (a = 2.25982586776780 Å, c = 3.56987856087494 Å);
atoms displaced by a Gaussian of 0.05 Å (seed 0), roughly a room-temperature snapshot.
Run: python examples/make_be_hcp.py examples/be_hcp_200.extxyz
"""
import sys

from ase.build import bulk

atoms = bulk("Be", "hcp", a=2.25982586776780, c=3.56987856087494).repeat((5, 5, 4))
atoms.rattle(stdev=0.05, seed=0)
atoms.write(sys.argv[1] if len(sys.argv) > 1 else "be_hcp_200.extxyz")
