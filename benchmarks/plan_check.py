"""How well ``mlsurrogate plan`` predicted finished runs: peak memory per rank and core-seconds per stage.

    .venv/bin/python benchmarks/plan_check.py RUN_DIR [RUN_DIR ...] [--model models/be2.mlsm]

For every run directory (a ``predict`` output with results.json, its structure still at the path the
results name) the cost model is evaluated again for the same atoms, grid, ranks and options, and set
against the measurement: peak memory of the largest rank, and per stage the measured wall seconds x ranks
(core-seconds if the ranks had their cores to themselves; on a shared machine this is an upper bound).
"""
import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    import ase.io
    from mlsurrogate.cost import estimate
    from mlsurrogate.energy.stage import EnergySettings
    from mlsurrogate.model.load import load_model
    from mlsurrogate.pipeline import PredictOptions
    from mpi4py import MPI
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--model", default=str(ROOT / "models" / "be2.mlsm"))
    args = p.parse_args()
    model = load_model(MPI.COMM_SELF, args.model)
    print(f"{'run':>40} {'atoms':>8} {'P':>3} | {'MiB/rank meas':>13} {'pred':>6} {'ratio':>5} | "
          "core-s per stage, measured (wall x P) / predicted")
    for run in args.runs:
        res = json.loads((Path(run) / "results.json").read_text())
        atoms = ase.io.read(res["structure"])
        energy = EnergySettings() if "total_energy_eV" in res else None
        options = PredictOptions(grid=tuple(res["grid"]), energy=energy, dtype=res.get("precision", "float64"))
        plan = estimate(len(atoms), atoms.cell.array, tuple(res["grid"]), model, res["ranks"], options)
        meas = res["peak_rss_bytes_max_rank"] / 2**20
        pred = plan.peak_bytes_per_rank / 2**20
        stages = []
        for stage, core in plan.core_seconds.items():
            wall = res["timings_s"].get(stage)
            if wall is not None:
                stages.append(f"{stage} {wall * res['ranks']:.3g}/{core:.3g}")
        print(f"{Path(run).name[-40:]:>40} {res['natoms']:>8} {res['ranks']:>3} | {meas:13.0f} {pred:6.0f} "
              f"{pred / meas:5.2f} | " + ", ".join(stages))


if __name__ == "__main__":
    main()
