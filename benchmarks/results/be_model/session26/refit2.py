# Experiment of session 26 (paths in /work/run26). Its NEUTRAL branch fed a `neutral` argument of
# refit_last_layer that was removed (rejected, README); it ran with the least-squares version of the refit.
"""Energy refit of an existing model with extra constraint-only snapshots (not point-fitted). Experiment driver.
usage: refit2.py MODEL OUT SEED CELL [CELL...]"""
import os, sys
import numpy as np
sys.path.insert(0, "/work/main")
from mpi4py import MPI
from mlsurrogate.training.config import load_config, SnapshotSpec
from mlsurrogate.cli.train import load_snapshots
from mlsurrogate.training.loop import split_points
from mlsurrogate.training.energy_refit import refit_last_layer
from mlsurrogate.model.load import read_model_file
from mlsurrogate.model.native_format import write_model
D = os.path.expanduser("~/.cache/mlsurrogate/be")
model_path, out, seed, extra = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
cfg = load_config("/work/main/models/be_train.toml")
comm = MPI.COMM_SELF
load = lambda specs: load_snapshots(comm, specs, cfg.energy_grid, cfg.model.valence_electrons, cfg.descriptors)
train = load(cfg.train)
masks = split_points(train, cfg.validation_fraction, seed)
ex = load([SnapshotSpec(structure=f"{D}/{c}/structure.extxyz", ldos=f"{D}/{c}/ldos_s5.npy",
                        descriptors=f"{D}/{c}/bispectrum_rc9/descriptors.npy") for c in extra])
m = read_model_file(model_path)
neutral = []
if os.environ.get("NEUTRAL"):
    from mlsurrogate.electronic.dos import fermi_level
    p8 = train[0]; assert p8.name.startswith("perfect_8/")
    mu = fermi_level(cfg.energy_grid.energies, p8.ldos.sum(axis=0) * p8.voxel_volume, p8.n_electrons, cfg.model.temperature_K)
    import ase.io
    for name in os.environ["NEUTRAL"].split(","):
        a = ase.io.read(f"/work/run26/big/{name}.extxyz"); x = np.load(f"/work/run26/big/{name}.npy")
        neutral.append((name, x, a.get_volume() / x.shape[0], 2.0 * len(a), len(a), mu))
    print("neutral cells", [n[0] for n in neutral], "at mu_bulk", mu)
new, rep = refit_last_layer(m, train + ex, masks + [np.ones(s.ldos.shape[0], bool) for s in ex],
                            cfg.energy_grid, cfg.model.temperature_K)
print(f"train MSE {rep.train_mse_before:.4e} -> {rep.train_mse_after:.4e}")
for n, a, b, c, d in zip(rep.names, rep.omega_error_before_ev, rep.omega_error_after_ev, rep.count_error_before, rep.count_error_after):
    print(f"{n:32s} Omega err {a:+.5f} -> {b:+.2e} eV   N err {c:+.5f} -> {d:+.2e}")
write_model(new, out, overwrite=True)
