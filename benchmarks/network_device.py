"""Network on a GPU (--device cuda) vs this machine's CPU: points/s and TFLOP/s per precision, same job.

The production-shaped random model ([91,800,800,800,250,250], 3.23 MFLOP/point) through our inference
code (mlsurrogate.model.inference.LdosNetwork, bfloat16 bias-corrected as in `predict`), on synthetic
standardised descriptors (or Be2 snapshot 0's reference descriptors where ../shared/testdata exists).
Per precision and batch size it prints, on the GPU:

* ``network``: the batches on input already on the GPU (what the GPU itself sustains), and
* ``predict``: LdosNetwork on one descriptor pass of host float64 numpy (65,536 points): host-to-device
  copy, network, device-to-host copy of the float64 LDOS -- what `predict --device cuda` gets;

then the CPU (all threads, wall time, and per core) in the same job, the GPU/CPU ratio, and the LDOS
difference of each GPU precision against the CPU float64 network (max |d| / max |LDOS|).

Needs only torch, numpy, mpi4py (no LAMMPS, ASE or native extension, no install). From the repo root:

    PYTHONPATH=. python3 benchmarks/network_device.py --device cuda --out $OUT/network-device.txt

(about 1 minute on an H200 node; add --batch-sizes to change the default 2048 8192 16384 65536)

Check on a CPU-only machine:  PYTHONPATH=. python3 benchmarks/network_device.py --device cpu --quick
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BE2_INPUT = ROOT.parent / "shared" / "testdata" / "Be2" / "Be_snapshot0.in.npy"
LAYERS = [91, 800, 800, 800, 250, 250]
PASS_POINTS = 65536          # predict's default --max-points-per-pass


def _say(lines, text=""):
    print(text, flush=True)
    lines.append(text)


def descriptors(n, seed=0):
    """(n, 91) float64 descriptors: Be2 snapshot 0's (tiled) if present, else N(0, 30^2) like the model's scaler."""
    if BE2_INPUT.is_file():
        x = np.load(BE2_INPUT)[..., 3:].reshape(-1, 91).astype(np.float64)
        return np.ascontiguousarray(np.resize(x, (n, 91)))
    return np.random.default_rng(seed).standard_normal((n, 91)) * 30.0


def production_model():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from random_model import write_random_model
    from mlsurrogate.model.load import read_model_file
    with tempfile.TemporaryDirectory() as tmp:
        return read_model_file(str(write_random_model(Path(tmp) / "prod.zip", LAYERS)))


def network(model, precision, batch, device, calibration_x):
    from mpi4py import MPI
    from mlsurrogate.model.inference import LdosNetwork
    net = LdosNetwork(model, precision, batch, device=device)
    if net.needs_calibration:
        net.calibrate(MPI.COMM_SELF, calibration_x)
    return net


def best_seconds(fn, repeats, sync):
    """Fastest of ``repeats`` wall-clock runs of ``fn`` (after one warm-up), synchronising the device."""
    fn()
    sync()
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def resident_forward(torch, net, x_dev, batch):
    """Network only, input already standardised on the device: the batches, outputs kept there."""
    def run():
        with torch.inference_mode():
            for start in range(0, len(x_dev), batch):
                net._forward(x_dev[start:start + batch])
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="torch device for the 'GPU' rows (cuda, cuda:1, or cpu to "
                    "check the script)")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[2048, 8192, 16384, 65536])
    ap.add_argument("--cpu-threads", type=int, default=None, help="default: all cores torch sees")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="small sizes (a check that the script runs)")
    ap.add_argument("--out", help="also write the table to this file")
    args = ap.parse_args()
    import torch
    from mlsurrogate.model.inference import PRECISIONS, network_flops_per_point
    pass_points = 4096 if args.quick else PASS_POINTS
    batches = [b for b in ([512, 2048] if args.quick else args.batch_sizes) if b <= pass_points]
    cpu_points = 2048 if args.quick else 16384
    if args.cpu_threads:
        torch.set_num_threads(args.cpu_threads)
    threads = torch.get_num_threads()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit(f"torch {torch.__version__} finds no CUDA device; run with --device cpu to check the script")
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    lines = []
    _say(lines, "command: PYTHONPATH=. python3 " + " ".join(sys.argv))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    _say(lines, f"torch {torch.__version__}, device {device} ({name}), CPU: {threads} torch threads of "
         f"{os.cpu_count()} cores; model {LAYERS}")
    model = production_model()
    flops = network_flops_per_point(model)
    _say(lines, f"network {flops / 1e6:.2f} MFLOP/point; descriptors: "
         f"{'Be2 snapshot 0' if BE2_INPUT.is_file() else 'synthetic N(0, 30^2)'}; pass {pass_points} points")
    x = descriptors(pass_points)
    calib = x[:: max(1, pass_points // 4096)][:4096]
    ref = network(model, "float64", 2048, torch.device("cpu"), calib)(x[:cpu_points])  # CPU float64 reference
    scale = np.abs(ref).max()
    cpu_rate = {}
    _say(lines, f"\nCPU, {threads} threads, {cpu_points} points, batch 2048 (wall time)")
    _say(lines, f"{'precision':9s} {'points/s':>11s} {'core-us/pt':>10s} {'GFLOP/s':>8s}")
    for p in PRECISIONS:
        net = network(model, p, 2048, torch.device("cpu"), calib)
        t = best_seconds(lambda: net(x[:cpu_points]), max(1, args.repeats // 2), lambda: None)
        cpu_rate[p] = cpu_points / t
        _say(lines, f"{p:9s} {cpu_rate[p]:11.4g} {t / cpu_points * 1e6 * threads:10.2f} "
             f"{flops * cpu_rate[p] / 1e9:8.1f}")
    _say(lines, f"\nGPU {device}: 'network' = batches on resident input; 'predict' = LdosNetwork on a host pass of "
         f"{pass_points} points (copies in and out included); ratio = predict points/s / CPU points/s")
    _say(lines, f"{'precision':9s} {'batch':>6s} {'network pt/s':>12s} {'TFLOP/s':>8s} {'predict pt/s':>12s} "
         f"{'TFLOP/s':>8s} {'xCPU':>6s} {'LDOS err':>9s}")
    for p in PRECISIONS:
        for bs in batches:
            net = network(model, p, bs, device, calib)
            x_dev = ((torch.from_numpy(x).to(device) - net._shift) * net._scale).contiguous()
            t_net = best_seconds(resident_forward(torch, net, x_dev, bs), args.repeats, sync)
            t_all = best_seconds(lambda: net(x), args.repeats, sync)
            err = np.abs(net(x[:cpu_points]) - ref).max() / scale
            r_net, r_all = pass_points / t_net, pass_points / t_all
            _say(lines, f"{p:9s} {bs:6d} {r_net:12.4g} {flops * r_net / 1e12:8.2f} {r_all:12.4g} "
                 f"{flops * r_all / 1e12:8.2f} {r_all / cpu_rate[p]:6.1f} {err:9.2e}")
            del net, x_dev
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
