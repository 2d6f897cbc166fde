"""mlsurrogate: MPI-parallel machine-learned surrogate for DFT electronic structure at any length scale.

Pipeline: structure -> decomposition -> descriptors -> model -> electronic -> (energy) -> output.

Python API (README, "Python API")::

    from mpi4py import MPI
    import mlsurrogate
    model = mlsurrogate.load_model(MPI.COMM_WORLD, "models/be2.mlsm")
    pipeline = mlsurrogate.Pipeline(MPI.COMM_WORLD, model, mlsurrogate.PredictOptions(
        energy=mlsurrogate.EnergySettings(pseudo_dir="../shared/testdata/Be2")))
    result = pipeline.predict(atoms)          # ase.Atoms in, Prediction out (result.to_dict(): results.json)

The names below are imported on first use, so ``import mlsurrogate`` stays light (no MPI, torch or LAMMPS).
"""
__version__ = "0.1.0"

__all__ = ["Pipeline", "PredictOptions", "Prediction", "predict", "EnergySettings", "load_model",
           "MLSurrogateCalculator", "write_density", "MLSurrogateError"]

_WHERE = {"Pipeline": "pipeline", "PredictOptions": "pipeline", "Prediction": "pipeline", "predict": "pipeline",
          "EnergySettings": "energy.stage", "load_model": "model.load", "MLSurrogateCalculator": "ase",
          "write_density": "output.results", "MLSurrogateError": "errors"}


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module 'mlsurrogate' has no attribute {name!r}")
    import importlib
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
