"""Network alone: core-µs per grid point and GFLOP/s per precision and batch size, one thread, CPU time.

The production-shaped random model ([91,800,800,800,250,250]) on Be2 snapshot 0's reference descriptors
(8192 points), interleaved over 3 rounds, fastest kept; bfloat16 after its bias correction.
Run: .venv/bin/python benchmarks/network.py [--threads 1]
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BE2 = ROOT.parent / "shared" / "testdata" / "Be2"
sys.path.insert(0, str(ROOT / "benchmarks"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    args = ap.parse_args()
    import torch
    from mpi4py import MPI
    from mlsurrogate.model.inference import PRECISIONS, LdosNetwork
    from mlsurrogate.model.load import load_model
    from random_model import write_random_model
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]), flush=True)
    torch.set_num_threads(args.threads)
    model = load_model(MPI.COMM_SELF, str(write_random_model(Path(tempfile.mkdtemp()) / "prod.zip",
                                                             [91, 800, 800, 800, 250, 250])))
    x = np.load(BE2 / "Be_snapshot0.in.npy")[..., 3:].reshape(-1, 91).astype(np.float64)[:8192]
    best = {}
    for _ in range(3):
        for p in PRECISIONS:
            for bs in args.batch_sizes:
                net = LdosNetwork(model, p, bs)
                if net.needs_calibration:
                    net.calibrate(MPI.COMM_SELF, x[:256])
                net(x[:bs])  # oneDNN primitive creation outside the timing
                t0 = time.process_time()
                net(x)
                best[(p, bs)] = min(best.get((p, bs), np.inf), time.process_time() - t0)
    for (p, bs), t in best.items():
        print(f"{p:9s} batch {bs:5d} {t / len(x) * 1e6 * args.threads:6.1f} core-us/point "
              f"{net.flops_per_point * len(x) / t / 1e9 / args.threads:6.1f} GFLOP/s/core")


if __name__ == "__main__":
    main()
