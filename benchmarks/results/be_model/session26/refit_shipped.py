"""models/be.mlsm of session 26: session 24's network (run R6, `models/be_train.toml` before `energy_refit` was
added) with the energy refit that `train` now runs after the epochs (the same function,
mlsurrogate.training.energy_refit.refit_last_layer, the same masks: seed 0, validation_fraction 0.1).
Run from the repository root: .venv/bin/python benchmarks/results/be_model/session26/refit_shipped.py R6.mlsm OUT"""
import sys
import time

sys.path.insert(0, ".")
from mpi4py import MPI

from mlsurrogate.cli.train import load_snapshots
from mlsurrogate.model.load import read_model_file
from mlsurrogate.model.native_format import write_model
from mlsurrogate.training.config import load_config
from mlsurrogate.training.energy_refit import refit_last_layer
from mlsurrogate.training.loop import split_points

source, out = sys.argv[1], sys.argv[2]
cfg = load_config("models/be_train.toml")
model = read_model_file(source)
assert model.metadata["training"]["seed"] == cfg.training.seed == 0
train = load_snapshots(MPI.COMM_SELF, cfg.train, cfg.energy_grid, cfg.model.valence_electrons, cfg.descriptors)
masks = split_points(train, cfg.validation_fraction, cfg.training.seed)
t0 = time.perf_counter()
refit, report = refit_last_layer(model, train, masks, cfg.energy_grid, cfg.model.temperature_K,
                                 tolerance_ev_per_atom=cfg.training.energy_refit_tolerance_ev_per_atom)
refit.metadata["training"]["energy_refit"] = {
    **report.as_dict(), "seconds": time.perf_counter() - t0,
    "note": "applied in session 26 to the session 24 network (run R6) by "
            "benchmarks/results/be_model/session26/refit_shipped.py; `train` with energy_refit = true does the same"}
write_model(refit, out, overwrite=True)
print(f"training-point MSE {report.train_mse_before:.4e} -> {report.train_mse_after:.4e}")
for n, a, b in zip(report.names, report.omega_error_before_ev, report.omega_error_after_ev):
    print(f"{n:28s} band free energy error {a:+.5f} -> {b:+.2e} eV")
