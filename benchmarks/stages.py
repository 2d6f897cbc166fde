"""Time each stage of `mlsurrogate predict` (with the total energy) per precision, on Be supercells.

For Be2 snapshot 1 repeated n x n x n (2, 16, 128 atoms by default; add 1024 with --sizes 1 2 4 8),
on 1 and 2 MPI ranks, with the test model (Be_model.zip, [91,100,11]) and a production-shaped random
model ([91,800,800,800,250,250], 250 energies), in each --precision. Prints, per stage, core
microseconds per grid point: the CPU seconds of the ranks' processes (all threads; `timings_s`
KEY_cpu of rank 0 times the rank count), which the other jobs on a shared machine inflate far less
than wall time; "e2e" is their sum (descriptors + bias-correction sample + network + post-processing
+ energy) and "wall" the wall time of the whole command times the cores used. Also the network's
achieved GFLOP/s per core against this job's single-thread torch GEMM peak for its arithmetic, the
e2e ratio float64 / this precision in the same job, and the peak memory per grid point: (peak RSS - peak RSS of
the next smaller cell) / (extra local grid points), i.e. the per-point cost on top of the fixed
overhead (which includes one descriptor pass of --max-points-per-pass points).
Runs are interleaved over --repeat rounds and the fastest (e2e) of each case is kept (noisy machine).

Run: .venv/bin/python benchmarks/stages.py [--sizes 1 2 4] [--ranks 1 2] [--models test prod]
       [--precisions float64 float32 bfloat16] [--threads 1] [--repeat 2] [--extra PREDICT FLAGS...]
On a machine shared with other jobs use --threads 1: idle threads of a multi-threaded rank spin while
waiting for a descheduled sibling, which CPU time counts.
For a clean bytes/point figure, give all sizes the same pass size (the pass buffers are the fixed
overhead): ... --sizes 2 4 --extra --max-points-per-pass 4374
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BE2 = ROOT.parent / "shared" / "testdata" / "Be2"
sys.path.insert(0, str(ROOT / "benchmarks"))
STAGES = ("descriptors", "calibration", "inference", "postprocess", "energy")


def run(model, structure, ranks, precision, out, extra, threads=None, exe=None):
    """results.json of one `mpirun -n ranks mlsurrogate predict` (energy from Be2's UPF)."""
    env = dict(os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {}))
    cmd = [str(BIN / "mpirun"), "-n", str(ranks), str(exe or BIN / "mlsurrogate"), "-q", "predict", "--model", str(model),
           "--structure", str(structure), "--out", str(out), "--overwrite", "--no-plot",
           "--pseudo-dir", str(BE2), "--precision", precision, *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads((out / "results.json").read_text())


def e2e(result):
    """CPU seconds of rank 0 in all stages, descriptors to energy."""
    return sum(result["timings_s"].get(k + "_cpu", 0.0) for k in STAGES)


def gemm_peak_gflops(dtype_name, m=2048, k=800, n=800, repeats=20):
    """Fastest single-thread torch.mm (m, k) x (k, n) in GFLOP/s of CPU time: this job's practical peak."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    dt = getattr(torch, dtype_name)
    a, b = torch.randn(m, k).to(dt), torch.randn(k, n).to(dt)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()  # CPU time: robust to other jobs on the machine
        torch.mm(a, b)
        best = min(best, time.process_time() - t0)
    torch.set_num_threads(threads)
    return 2.0 * m * k * n / best / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4], help="supercell repeats n (n^3 * 2 atoms)")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--models", nargs="+", default=["test", "prod"])
    ap.add_argument("--precisions", nargs="+", default=["float64", "float32", "bfloat16"])
    ap.add_argument("--threads", type=int, help="threads per rank (OMP_NUM_THREADS; default: the rank's cores)")
    ap.add_argument("--repeat", type=int, default=1, help="interleaved rounds; the fastest run of each case is kept")
    ap.add_argument("--exe", help="the mlsurrogate executable to time (default: this venv's; e.g. a wrapper "
                    "running an older checkout, for a before/after comparison)")
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more predict flags")
    args = ap.parse_args()
    import ase.io
    from mpi4py import MPI
    from mlsurrogate.model.inference import network_flops_per_point
    from mlsurrogate.model.load import load_model
    from random_model import write_random_model
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]), flush=True)
    cores = len(os.sched_getaffinity(0))
    tmp = Path(tempfile.mkdtemp(prefix="mls-bench-"))
    models = {"test": BE2 / "Be_model.zip"}
    if "prod" in args.models:
        models["prod"] = write_random_model(tmp / "prod.zip", [91, 800, 800, 800, 250, 250])
    flops = {k: network_flops_per_point(load_model(MPI.COMM_SELF, str(v))) for k, v in models.items()}
    peak = {}
    for _ in range(3):  # interleaved, fastest
        for p in args.precisions:
            peak[p] = max(peak.get(p, 0.0), gemm_peak_gflops(p))
    print("torch GEMM peak, 1 thread, 2048x800x800 (GFLOP/s): "
          + ", ".join(f"{p} {g:.0f}" for p, g in peak.items()))
    prim = ase.io.read(BE2 / "Be_snapshot1.out")
    best = {}
    for _ in range(args.repeat):
        for ranks in args.ranks:
            for n in sorted(args.sizes):
                path = tmp / f"be_{n}.extxyz"
                if not path.exists():
                    ase.io.write(path, prim.repeat((n, n, n)))
                for name in args.models:
                    for p in args.precisions:
                        r = run(models[name], path, ranks, p, tmp / "out", args.extra, args.threads, args.exe)
                        print(f"# ran {name} {r['natoms']} atoms, {ranks} rank(s), {p}: e2e "
                              f"{e2e(r) * ranks / r['grid'][0] / r['grid'][1] / r['grid'][2] * 1e6:.1f} us/pt/core",
                              flush=True)
                        key = (name, ranks, n, p)
                        if key not in best or e2e(r) < e2e(best[key]):
                            best[key] = r
    header = (f"{'model':5} {'atoms':>5} {'ranks':>5} {'points':>8} {'precision':>9} | {'desc':>6} {'calib':>6} "
              f"{'infer':>6} {'post':>5} {'energy':>6} {'e2e':>6} {'wall':>6} us/pt/core | {'GF/s':>5} {'%peak':>5} "
              f"{'f64/p':>6} | {'peakMiB':>7} {'B/point':>7}")
    print(header)
    print("-" * len(header))
    base = {}
    for name in args.models:
        for ranks in args.ranks:
            used = ranks * (args.threads or max(1, cores // ranks))
            for n in sorted(args.sizes):
                for p in args.precisions:
                    r = best[(name, ranks, n, p)]
                    points = r["grid"][0] * r["grid"][1] * r["grid"][2]
                    t = r["timings_s"]
                    per = {k: t.get(k + "_cpu", 0.0) * ranks / points * 1e6 for k in STAGES}
                    per["e2e"], per["wall"] = e2e(r) * ranks / points * 1e6, t["total"] * used / points * 1e6
                    gflops = flops[name] * points / max(t["inference_cpu"] * ranks, 1e-12) / 1e9
                    f64 = best.get((name, ranks, n, "float64"))
                    ratio = f"{e2e(f64) / e2e(r):6.2f}" if f64 else "     -"
                    mem = r["peak_rss_bytes_max_rank"]
                    local, key = points / ranks, (name, ranks, p)
                    bpp = "-" if key not in base else f"{(mem - base[key][0]) / (local - base[key][1]):7.0f}"
                    base[key] = (mem, local)
                    print(f"{name:5} {r['natoms']:5d} {ranks:5d} {points:8d} {p:>9} | "
                          + " ".join(f"{per[k]:{6 if k != 'postprocess' else 5}.1f}" for k in (*STAGES, "e2e", "wall"))
                          + f"            | {gflops:5.0f} {100 * gflops / peak[p]:5.0f} {ratio} | "
                          f"{mem / 2**20:7.0f} {bpp:>7}", flush=True)


if __name__ == "__main__":
    main()
