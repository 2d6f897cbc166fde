"""Time each stage of `mlsurrogate predict` on Be supercells and measure memory per grid point.

For Be2 snapshot 1 repeated n x n x n (2, 16, 128 atoms by default; add 1024 with --sizes 1 2 4 8),
on 1 and 2 MPI ranks, with the test model (Be_model.zip, [91,100,11]) and a production-shaped random
model ([91,800,800,800,250,250], 250 energies). Prints microseconds per grid point per core for each
stage and the peak memory per grid point: (peak RSS - peak RSS of the next smaller cell) / (extra
local grid points), i.e. the per-point cost on top of the fixed overhead (which includes one descriptor
pass of --max-points-per-pass points), from runs in this same job.

Run: .venv/bin/python benchmarks/stages.py [--sizes 1 2 4] [--ranks 1 2] [--models test prod]
For a clean bytes/point figure, give all sizes the same pass size (the pass buffers are the fixed
overhead): ... --sizes 2 4 --extra --max-points-per-pass 4374
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BE2 = ROOT.parent / "shared" / "testdata" / "Be2"
sys.path.insert(0, str(ROOT / "benchmarks"))


def run(model, structure, ranks, out, extra):
    cmd = [str(BIN / "mpirun"), "-n", str(ranks), str(BIN / "mlsurrogate"), "-q", "predict", "--model", str(model),
           "--structure", str(structure), "--out", str(out), "--overwrite", "--no-plot", *extra]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads((out / "results.json").read_text())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4], help="supercell repeats n (n^3 * 2 atoms)")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--models", nargs="+", default=["test", "prod"])
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more predict flags")
    args = ap.parse_args()
    import ase.io
    from random_model import write_random_model
    tmp = Path(tempfile.mkdtemp(prefix="mls-bench-"))
    models = {"test": BE2 / "Be_model.zip"}
    if "prod" in args.models:
        models["prod"] = write_random_model(tmp / "prod.zip", [91, 800, 800, 800, 250, 250])
    prim = ase.io.read(BE2 / "Be_snapshot1.out")
    header = (f"{'model':5} {'atoms':>6} {'ranks':>5} {'points':>9} {'passes':>6} | {'desc':>8} {'infer':>8} "
              f"{'post':>7} {'total':>8}  us/point/core | {'peakMiB':>8} {'B/point':>8}")
    print(header)
    print("-" * len(header))
    base = {}
    for name in args.models:
        for ranks in args.ranks:
            for n in sorted(args.sizes):
                path = tmp / f"be_{n}.extxyz"
                if not path.exists():
                    ase.io.write(path, prim.repeat((n, n, n)))
                r = run(models[name], path, ranks, tmp / f"out_{name}_{ranks}_{n}", args.extra)
                points = r["grid"][0] * r["grid"][1] * r["grid"][2]
                per = {k: r["timings_s"][k] * ranks / points * 1e6 for k in ("descriptors", "inference", "postprocess", "total")}
                peak = r["peak_rss_bytes_max_rank"]
                key = (name, ranks)
                local = points / ranks
                bpp = "-" if key not in base else f"{(peak - base[key][0]) / (local - base[key][1]):8.0f}"
                base[key] = (peak, local)
                print(f"{name:5} {r['natoms']:6d} {ranks:5d} {points:9d} {r['descriptor_passes']:6d} | "
                      f"{per['descriptors']:8.1f} {per['inference']:8.1f} {per['postprocess']:7.2f} {per['total']:8.1f}"
                      f"                | {peak / 2**20:8.0f} {bpp:>8}", flush=True)


if __name__ == "__main__":
    main()
