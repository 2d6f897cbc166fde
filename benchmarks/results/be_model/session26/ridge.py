# Experiment of session 26. refit_last_layer had a `base` argument then ("least-squares" or "trained"); "trained" is
# now its only behaviour, so drop the argument to rerun this.
import sys; sys.path.insert(0, "/work/main")
import numpy as np
from mpi4py import MPI
from mlsurrogate.training.config import load_config
from mlsurrogate.cli.train import load_snapshots
from mlsurrogate.training.loop import split_points
from mlsurrogate.training.energy_refit import refit_last_layer
from mlsurrogate.model.load import read_model_file
from mlsurrogate.model.native_format import write_model
cfg = load_config("/work/main/models/be_train.toml")
tr = load_snapshots(MPI.COMM_SELF, cfg.train, cfg.energy_grid, cfg.model.valence_electrons, cfg.descriptors)
masks = split_points(tr, 0.1, 0)
m = read_model_file("/work/run26/R6_orig.mlsm")
for r in map(float, sys.argv[1:]):
    new, rep = refit_last_layer(m, tr, masks, cfg.energy_grid, cfg.model.temperature_K, ridge=r, base="trained")
    print(r, f"MSE {rep.train_mse_before:.4e} -> {rep.train_mse_after:.4e}", "max |Omega err| after", np.abs(rep.omega_error_after_ev).max(),
          "weight change", float(np.linalg.norm(new.weights[-1] - m.weights[-1]) / np.linalg.norm(m.weights[-1])), flush=True)
    write_model(new, f"/work/run26/R6_tr{r:g}.mlsm", overwrite=True)
