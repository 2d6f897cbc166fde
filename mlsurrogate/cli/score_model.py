"""Compare models against DFT snapshots: LDOS RMSE, band energy and Fermi level errors.

Example: mlsurrogate score-model --data models/be2_test.toml --model models/be2.mlsm --model Be_model.zip
The test set is a TOML file with [[test]] entries (keys as [[train]] of the training config). Each
model predicts the LDOS from the snapshot's descriptors; band energy and Fermi level come from the
DOS = sum of LDOS * dV (errors: prediction - DFT; eV). Runs as one process.
"""

__all__ = ["add_arguments", "run"]


def add_arguments(p):
    p.add_argument("--data", required=True, help="TOML file with [[test]] snapshots")
    p.add_argument("--model", required=True, action="append", help="model file (repeat to compare several)")
    p.add_argument("--json", metavar="FILE", help="also write the metrics to FILE (JSON)")


def run(args, comm):
    from ..errors import InputError
    from ..model.load import load_model
    from ..parallel import agree
    from ..training.config import load_test_set
    from ..training.metrics import ldos_metrics, predict_snapshot
    from .train import load_snapshots, metrics_table

    agree(comm, comm.size == 1, InputError, "score-model runs as one process; start it without mpirun")
    if args.json:
        from ..output.outdir import check_output_file
        check_output_file(args.json, overwrite=True, flag="--json")
    specs = load_test_set(args.data)
    report = {}
    for path in args.model:
        model = load_model(comm, path)
        snaps = load_snapshots(comm, specs, model.energy_grid, model.electrons_per_atom, model.descriptors)
        rows = [(s.name, ldos_metrics(predict_snapshot(model, s), s, model.energy_grid, model.temperature_k), "")
                for s in snaps]
        print(f"model {path}:")
        print(metrics_table(rows), flush=True)
        report[path] = {label: m.as_dict() for label, m, _ in rows}
    if args.json:
        from ..output.results import write_json_atomic
        write_json_atomic(args.json, report)
    return 0
