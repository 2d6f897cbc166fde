"""Build structures: hcp supercells, perfect or with a basal stacking fault, optionally rattled.

Example: mlsurrogate build hcp --symbol Be --a 2.2598 --c 3.5699 --repeat 3 3 6 --fault I2 --out sf.extxyz
Lengths in Å. The file format follows the extension (any format ASE writes; .extxyz keeps the fault
bookkeeping in its info line). Geometry: see ``mlsurrogate/structure/hcp.py`` and the README.
"""
import logging
import os

__all__ = ["add_arguments", "run"]

log = logging.getLogger("mlsurrogate")


def add_arguments(p):
    sub = p.add_subparsers(dest="lattice", required=True)
    h = sub.add_parser("hcp", help="hcp supercell (primitive hexagonal in-plane cell, c along z)")
    h.add_argument("--symbol", required=True, help="chemical symbol, e.g. Be")
    h.add_argument("--a", type=float, required=True, help="lattice constant a, Å")
    h.add_argument("--c", type=float, required=True, help="lattice constant c, Å")
    h.add_argument("--repeat", type=int, nargs=3, required=True, metavar=("NX", "NY", "NZ"),
                   help="hcp unit cells along a1, a2 and c (2 NX NY NZ atoms, 2 NZ layers)")
    h.add_argument("--fault", choices=["I2"], help="one basal intrinsic stacking fault I2 per periodic cell "
                   "(layers from 2 ceil(NZ/2) on shifted by a/sqrt(3) <1-100>/3; the third cell vector tilted)")
    h.add_argument("--orthogonal", action="store_true", help="with --fault: the same crystal in an orthogonal cell "
                   "of three periods (6 NZ layers, three faults NZ c apart, third vector along z): its grid is not "
                   "sheared, so perfect and faulted layers sit on the grid alike (no egg-box drift with size)")
    h.add_argument("--rattle", type=float, default=0.0, metavar="STD",
                   help="random Cartesian displacement, std per component in Å (same draw for perfect and faulted)")
    h.add_argument("--seed", type=int, default=0, help="random seed of --rattle")
    h.add_argument("--out", required=True, help="output structure file")
    h.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")


def write_cell(path, built, overwrite=False):
    """Write ``built`` (structure.hcp.HcpCell) to ``path`` with its bookkeeping in atoms.info. Local."""
    import ase.io
    from ..errors import OutputError
    if os.path.exists(path) and not overwrite:
        raise OutputError(f"{path} exists; use --overwrite to replace it")
    atoms = built.atoms.copy()
    atoms.info.update({"n_faults": built.n_faults, "basal_area_A2": built.area_A2, "layers": built.layers})
    if built.fault_z_A is not None:
        atoms.info["fault_z_A"] = built.fault_z_A
    try:
        ase.io.write(path, atoms, parallel=False)  # called on one rank only
    except Exception as exc:
        raise OutputError(f"cannot write {path}: {type(exc).__name__}: {exc}") from None


def run(args, comm):
    from ..parallel import on_root
    from ..structure.hcp import build_hcp

    def build():
        built = build_hcp(args.symbol, args.a, args.c, args.repeat, args.fault, args.rattle, args.seed,
                          orthogonal=args.orthogonal)
        write_cell(args.out, built, args.overwrite)
        return built
    built = on_root(comm, build)
    if comm.rank == 0:
        where = (f", fault plane at z = {built.fault_z_A:.4f} Å" if built.n_faults else "")
        print(f"wrote {args.out}: {len(built.atoms)} atoms, {built.layers} layers, {built.n_faults} fault(s) per "
              f"cell, basal area {built.area_A2:.4f} Å^2{where}", flush=True)
    return 0
