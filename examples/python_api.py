"""The README's Python API example."""
# examples/python_api.py:  mpirun -n 2 .venv/bin/python examples/python_api.py  (or without mpirun)
import ase.io
from mpi4py import MPI
from mlsurrogate import EnergySettings, Pipeline, PredictOptions, load_model

comm = MPI.COMM_WORLD
model = load_model(comm, "models/be2.mlsm")                     # read once on rank 0, broadcast
options = PredictOptions(dtype="float64", energy=EnergySettings(pseudo_dir="../shared/testdata/Be2"))
pipeline = Pipeline(comm, model, options)
atoms = ase.io.read("../shared/testdata/Be2/Be_snapshot0.out")
for repeat in (1, 2):
    result = pipeline.predict(atoms.repeat((repeat, 1, 1)))    # ase.Atoms in, Prediction out
    if comm.rank == 0:
        print(f"{result.natoms} atoms: E_F {result.fermi_energy_ev:.6f} eV, "
              f"F {result.free_energy_ev / result.natoms:.8f} eV/atom")
# result.to_dict() is exactly results.json; result.density is this rank's block (1/Å³) of
# result.decomposition (global_shape, local_start, local_shape), never gathered on one rank
