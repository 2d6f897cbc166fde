"""Accuracy cost of each `predict --precision` against float64, in one job.

Real models (models/be2.mlsm, MALA's Be_model.zip) on the reference snapshots (pw.x outputs
Be_snapshot{0,1}.out, grid 18x18x27, Be.pbe-n-rrkjus_psl.1.0.0.UPF): change of the Fermi level,
band energy and total energy (meV, per atom for the energies). Production-shaped random model
([91,800,800,800,250,250], 250 energies) on snapshot 1 repeated --prod-repeat^3 times: relative LDOS
error ||LDOS - LDOS_64|| / ||LDOS_64|| over all points and energies, band-energy change per atom.

Run: [mpirun -n P] .venv/bin/python benchmarks/precision.py [--prod-repeat 2]
"""
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BE2 = ROOT.parent / "shared" / "testdata" / "Be2"
UPF = "Be.pbe-n-rrkjus_psl.1.0.0.UPF"
sys.path.insert(0, str(ROOT / "benchmarks"))


def run_precision(comm, atoms, model, precision, energy=True, grid=None):
    """(Prediction, energy dict or {}) for one precision. Collective."""
    from mlsurrogate.energy.stage import EnergySettings
    from mlsurrogate.pipeline import PredictOptions, default_grid, predict
    grid = grid or default_grid(atoms.cell.array, model.grid_spacing_A)
    settings = EnergySettings(pseudo_dir=str(BE2), pseudo_files={"Be": UPF}) if energy else None
    pred = predict(comm, atoms, model, PredictOptions(grid=grid, dtype=precision, energy=settings))
    return pred, pred.energy


def changes(comm, atoms, model, precisions, grid=None):
    """{precision: (dE_F meV, dE_band meV/atom, dE_total meV/atom)} against float64. Collective."""
    ref, ref_e = run_precision(comm, atoms, model, "float64", grid=grid)
    out = {}
    for p in precisions:
        pred, e = run_precision(comm, atoms, model, p, grid=grid)
        out[p] = (1e3 * (pred.fermi_energy_ev - ref.fermi_energy_ev),
                  1e3 * (pred.band_energy_ev - ref.band_energy_ev) / len(atoms),
                  1e3 * (e["total_energy_eV"] - ref_e["total_energy_eV"]) / len(atoms))
    return out


def ldos_error(comm, atoms, model, precision):
    """Relative LDOS error over the whole grid, as predict computes it. Collective.

    Returns (||LDOS_p - LDOS_64|| / ||LDOS_64||, the same for the grid-mean LDOS: the systematic part).
    """
    from mpi4py import MPI
    from mlsurrogate.decomposition.grid import GridDecomposition
    from mlsurrogate.decomposition.passes import plan_passes
    from mlsurrogate.descriptors.field import open_descriptors
    from mlsurrogate.model.inference import LdosNetwork, descriptor_precision
    from mlsurrogate.pipeline import default_grid
    grid = default_grid(atoms.cell.array, model.grid_spacing_A)
    decomp = GridDecomposition.create(comm, grid, atoms.cell.array, model.descriptors.max_cutoff(model.species))
    plan = plan_passes(decomp, 65536)
    sums, mean_diff, mean_ref = np.zeros(2), 0.0, 0.0
    from mlsurrogate.model.calibration import calibration_descriptors
    nets = {p: LdosNetwork(model, p) for p in ("float64", precision)}
    if nets[precision].needs_calibration:
        nets[precision].calibrate(comm, calibration_descriptors(comm, atoms, model, decomp))
    descs = {}
    for p in nets:
        with open_descriptors(comm, "native", atoms, model.species, model.descriptors, decomp,
                              precision=descriptor_precision(p)) as calc:
            descs[p] = [calc.compute_pass(plan, o)[1] for o in plan.offsets]
    for d64, dp in zip(descs["float64"], descs[precision]):
        ref, y = nets["float64"](d64), nets[precision](dp)
        sums += [np.sum((y - ref) ** 2), np.sum(ref ** 2)]
        mean_diff, mean_ref = mean_diff + (y - ref).sum(axis=0), mean_ref + ref.sum(axis=0)
    sums = comm.allreduce(sums, op=MPI.SUM)
    mean_diff, mean_ref = comm.allreduce(mean_diff, op=MPI.SUM), comm.allreduce(mean_ref, op=MPI.SUM)
    return float(np.sqrt(sums[0] / sums[1])), float(np.linalg.norm(mean_diff) / np.linalg.norm(mean_ref))


def main():
    from mpi4py import MPI
    import ase.io
    import torch
    from mlsurrogate.model.load import load_model
    from mlsurrogate.model.inference import PRECISIONS
    from mlsurrogate.parallel import torch_threads_per_rank
    from random_model import write_random_model
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prod-repeat", type=int, default=2, help="snapshot 1 repeated n^3 for the production model")
    args = ap.parse_args()
    comm = MPI.COMM_WORLD
    torch.set_num_threads(torch_threads_per_rank(comm))
    others = [p for p in PRECISIONS if p != "float64"]
    say = print if comm.rank == 0 else (lambda *a, **k: None)
    say("command:", f"mpirun -n {comm.size}" if comm.size > 1 else "", " ".join([Path(sys.executable).name, *sys.argv]))
    say(f"{comm.size} rank(s); changes against float64 in the same job")
    say(f"{'model':14} {'snapshot':>8} {'precision':>9} | {'dE_F meV':>9} {'dE_band meV/at':>14} {'dE_tot meV/at':>13}")
    for name, path in [("be2.mlsm", ROOT / "models" / "be2.mlsm"), ("Be_model.zip", BE2 / "Be_model.zip")]:
        model = load_model(comm, str(path))
        for snap in (0, 1):
            atoms = ase.io.read(BE2 / f"Be_snapshot{snap}.out")
            for p, (df, db, dt) in changes(comm, atoms, model, others, grid=(18, 18, 27)).items():
                say(f"{name:14} {snap:8d} {p:>9} | {df:9.4f} {db:14.4f} {dt:13.4f}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="mls-prec-")) if comm.rank == 0 else None
    tmp = comm.bcast(tmp, root=0)
    if comm.rank == 0:
        write_random_model(tmp / "prod.zip", [91, 800, 800, 800, 250, 250])
    comm.Barrier()
    model = load_model(comm, str(tmp / "prod.zip"))
    n = args.prod_repeat
    atoms = ase.io.read(BE2 / "Be_snapshot1.out").repeat((n, n, n))
    say(f"\nproduction-shaped random model, {len(atoms)} atoms (snapshot 1 x {n}^3), model grid")
    say(f"{'precision':>9} | {'rel LDOS err':>12} {'of mean LDOS':>12} {'dE_F meV':>9} {'dE_band meV/at':>14} "
        f"{'dE_tot meV/at':>13}")
    for p, (df, db, dt) in changes(comm, atoms, model, others).items():
        err, err_mean = ldos_error(comm, atoms, model, p)
        say(f"{p:>9} | {err:12.2e} {err_mean:12.2e} {df:9.4f} {db:14.4f} {dt:13.4f}", flush=True)


if __name__ == "__main__":
    main()
