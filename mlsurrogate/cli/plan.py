"""Predict what a `predict` run will cost before running it: grid, passes, memory per rank, core-hours.

Example: mlsurrogate plan --model models/be2.mlsm --structure big.extxyz --ranks 150 1000
Takes the arguments of `predict` (--out is optional and unused) plus --ranks; runs on one process.
Memory in GiB per rank, cost in core-hours (see the README, "Cost model", for the constants and how
well they predict measured runs).
"""
import json

from . import predict as predict_cli

__all__ = ["add_arguments", "run"]


def add_arguments(p):
    predict_cli.add_arguments(p, out_required=False)
    p.add_argument("--ranks", type=int, nargs="+", required=True, metavar="P", help="MPI ranks to plan for")
    p.add_argument("--threads-per-rank", type=int, default=1, help="cores per rank (torch and kernel threads)")
    p.add_argument("--json", metavar="FILE", help="also write the plans as JSON")


def run(args, comm):
    from ..cost import estimate
    from ..errors import InputError
    from ..model.load import load_model
    from ..pipeline import default_grid
    from ..structure.read import check_cell, read_structure
    if comm.size != 1:
        raise InputError("plan runs on one process: run it without mpirun and give --ranks")
    if min(args.ranks) < 1 or args.threads_per_rank < 1:
        raise InputError("--ranks and --threads-per-rank must be positive")
    predict_cli.check_arguments(args)
    model = load_model(comm, args.model)
    atoms = read_structure(comm, args.structure, args.format)
    check_cell(atoms)
    options = predict_cli.predict_options(args)
    grid = tuple(args.grid) if args.grid else default_grid(atoms.cell.array, model.grid_spacing_A)
    plans = []
    for ranks in args.ranks:
        plan = estimate(len(atoms), atoms.cell.array, grid, model, ranks, options, args.threads_per_rank)
        plan.available_bytes_per_rank = options.memory_per_rank_bytes
        plans.append(plan)
        print(f"--- {ranks} rank(s)")
        print("\n".join(plan.lines()))
        if options.memory_per_rank_bytes and plan.peak_bytes_per_rank > options.memory_per_rank_bytes:
            print("DOES NOT FIT: predict would refuse this run (more ranks, a coarser --grid, or more memory)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([p.to_dict() for p in plans], f, indent=2)
    return 0
