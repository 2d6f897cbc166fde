"""Compute bispectrum descriptors on the real-space grid (training data for models).

Example: mpirun -n 4 mlsurrogate descriptors --structure POSCAR --grid 36 36 54 --out desc1
Writes DIR/descriptors.npy, shape (nx, ny, nz, K), C order, dimensionless, no coordinate columns;
point (i, j, k) sits at fractional position (i/nx, j/ny, k/nz) of the cell. Lengths in Å.
Defaults are the Be2 settings: twojmax 10, rcutfac 4.67637, rfac0 0.99363, switchflag 1, bzeroflag 0,
radius 0.5 and weight 1.0 for every species. DIR/results.json holds settings and timings_s.
"""
import logging
import os
import time

import numpy as np

from .energy_options import parse_assignments

__all__ = ["add_arguments", "run"]

log = logging.getLogger("mlsurrogate")


def add_arguments(p):
    p.add_argument("--structure", required=True, help="structure file, any format ASE reads")
    p.add_argument("--format", default=None, help="ASE format name if the extension is ambiguous")
    p.add_argument("--grid", type=int, nargs=3, required=True, metavar=("NX", "NY", "NZ"),
                   help="real-space grid points along the three lattice vectors")
    p.add_argument("--twojmax", type=int, default=10, help="2 x the maximum angular momentum (default 10)")
    p.add_argument("--rcutfac", type=float, default=4.67637,
                   help="cutoff scale: point-atom cutoff = 2 * rcutfac * radius (default 4.67637)")
    p.add_argument("--rfac0", type=float, default=0.99363, help="angle mapping factor (default 0.99363)")
    p.add_argument("--rmin0", type=float, default=0.0, help="inner radius, Å (default 0)")
    p.add_argument("--switchflag", type=int, choices=[0, 1], default=1, help="smooth cutoff (default 1)")
    p.add_argument("--bzeroflag", type=int, choices=[0, 1], default=0,
                   help="subtract B of an isolated point (default 0)")
    p.add_argument("--radius", action="append", default=[], metavar="SYMBOL=R",
                   help="radius of a species, Å (repeatable; default 0.5)")
    p.add_argument("--weight", action="append", default=[], metavar="SYMBOL=W",
                   help="neighbour weight of a species (repeatable; default 1.0)")
    p.add_argument("--descriptors", choices=["native", "native-exclude-coincident", "lammps"], default="native",
                   help="backend: our compiled kernel (default; continuous for atoms on grid points), the same "
                        "with LAMMPS' exclusion of atoms within 1e-10 Å of a grid point (parity tests), or LAMMPS "
                        "compute sna/grid (reference; drops such atoms)")
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                   help="dtype of descriptors.npy; float32 with the native backend also computes in float32 "
                        "(1.6x faster, ~2e-6 relative to each component's scale); LAMMPS always float64")
    p.add_argument("--max-points-per-pass", type=int, default=65536,
                   help="grid points per rank computed at once (bounds memory)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--overwrite", action="store_true", help="replace results already in DIR")


def _species_values(option, items, species):
    """{symbol: float} from SYMBOL=VALUE strings; InputError for malformed or unknown entries. Local."""
    from ..errors import InputError
    values = parse_assignments(items, f"--{option}", float, "NUMBER, e.g. Be=0.5")
    for symbol, value in values.items():
        if not np.isfinite(value):
            raise InputError(f"--{option} {symbol}={value}: expected a finite number, e.g. Be=0.5")
        if symbol not in species:
            raise InputError(f"--{option} {symbol}={value}: species {symbol} is not in the structure "
                             f"({', '.join(species)})")
        if option == "radius" and value <= 0:
            raise InputError(f"--radius {symbol}={value}: the radius must be positive")
    return values


def _params(args, species):
    from ..descriptors.bispectrum import BispectrumParams
    from ..errors import InputError
    if not 0 <= args.twojmax <= 24:
        raise InputError(f"--twojmax must be between 0 and 24, got {args.twojmax}")
    if not (np.isfinite(args.rcutfac) and args.rcutfac > 0 and 0 < args.rfac0 <= 1 and np.isfinite(args.rmin0)
            and args.rmin0 >= 0):
        raise InputError("need a finite --rcutfac > 0, 0 < --rfac0 <= 1 and a finite --rmin0 >= 0")
    return BispectrumParams(twojmax=args.twojmax, rcutfac=args.rcutfac, rfac0=args.rfac0, rmin0=args.rmin0,
                            switchflag=args.switchflag, bzeroflag=args.bzeroflag,
                            radii=_species_values("radius", args.radius, species),
                            weights=_species_values("weight", args.weight, species))


def run(args, comm):
    from ..descriptors.bispectrum import check_workload
    from ..descriptors.field import compute_descriptor_field
    from ..output.outdir import OutputDir, check_free_space, reserve_space
    from ..output.results import write_json_atomic
    from ..parallel import max_over_ranks, on_root, peak_rss_bytes
    from ..structure.read import check_structure, read_structure, species_of
    from .checks import positive_grid, positive_int

    t0 = time.perf_counter()
    positive_grid(args.grid)
    positive_int(args.max_points_per_pass, "--max-points-per-pass")
    with OutputDir(comm, args.out, args.overwrite, ["descriptors.npy", "results.json"]) as out:
        atoms = read_structure(comm, args.structure, args.format)
        species = species_of(atoms)
        check_structure(comm, atoms, species)
        params = _params(args, species)
        check_workload(params, atoms, "--rcutfac/--radius")
        grid = tuple(int(n) for n in args.grid)
        shape = grid + (params.n_features,)
        nbytes = int(np.prod(shape, dtype=object)) * np.dtype(args.dtype).itemsize
        on_root(comm, check_free_space, args.out, nbytes, "descriptors.npy")
        tmp = out.temp("descriptors.npy")
        held = {}

        def open_file():  # rank 0 assembles the file; memory stays one pass of every rank
            held["out"] = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.dtype(args.dtype), shape=shape)
            reserve_space(tmp, held["out"].offset + nbytes)
            return True
        on_root(comm, open_file)

        def sink(idx, desc):
            held["out"][idx[:, 0], idx[:, 1], idx[:, 2]] = desc

        comm.Barrier()  # ranks arrive skewed (eager broadcasts); time the descriptor stage alone
        t_desc = time.perf_counter()
        try:
            decomp, plan, calc = compute_descriptor_field(comm, atoms, params, grid, args.descriptors,
                                                          args.max_points_per_pass, sink, args.dtype)
        finally:
            if "out" in held:  # flush and unmap before the file is committed or removed
                held.pop("out").flush()
        t_write = time.perf_counter()
        timings = {"descriptors": t_write - t_desc}
        out.commit("descriptors.npy")
        timings["write"] = time.perf_counter() - t_write
        timings["total"] = time.perf_counter() - t0
        kernel = comm.gather(calc.kernel_stats() if hasattr(calc, "kernel_stats") else None, root=0)
        kernel = _merge_stats(kernel) if comm.rank == 0 and kernel[0] else None
        peak = max_over_ranks(comm, peak_rss_bytes())
        npoints = int(np.prod(grid))
        res = {
            "natoms": len(atoms), "grid": list(grid), "ranks": comm.size, "proc_grid": list(decomp.proc_grid),
            "descriptor_passes": plan.n_passes, "backend": args.descriptors, "dtype": args.dtype,
            "arithmetic": args.dtype if args.descriptors.startswith("native") else "float64",
            "n_features": params.n_features, "shape": list(shape),
            "settings": params.to_dict(), "species": species, "structure": os.path.abspath(args.structure),
            "cell_A": atoms.cell.array.tolist(), "timings_s": timings,
            "points_per_second": npoints / max(timings["descriptors"], 1e-300),
            "peak_rss_bytes_max_rank": int(peak),
            "units": {"length": "Angstrom", "descriptors": "dimensionless"},
        }
        if kernel is not None:
            res["native_kernel"] = kernel
        on_root(comm, write_json_atomic, out.file("results.json"), res)
    if comm.rank == 0:
        print(f"descriptors {grid[0]} x {grid[1]} x {grid[2]} x {params.n_features} ({args.dtype}, "
              f"{args.descriptors}) in {timings['descriptors']:.2f} s on {comm.size} rank(s): "
              f"{os.path.join(args.out, 'descriptors.npy')}", flush=True)
    return 0


def _merge_stats(stats):
    """Sum the native kernel's per-rank statistics; flop rate per core over all ranks' busy time."""
    seconds = {k: sum(s["thread_seconds"][k] for s in stats) for k in stats[0]["thread_seconds"]}
    points = sum(s["points"] for s in stats)
    neighbours = sum(s["neighbours"] for s in stats)
    flops = sum(s["flops_per_point"] * s["points"] for s in stats)
    lammps_flops = sum(s["lammps_flops_per_point"] * s["points"] for s in stats)
    return {"thread_seconds": seconds, "points": points, "neighbours_per_point": neighbours / max(points, 1),
            "flops_per_point": flops / max(points, 1), "lammps_flops_per_point": lammps_flops / max(points, 1),
            "gflops_per_core": flops / max(sum(seconds.values()), 1e-300) / 1e9}
