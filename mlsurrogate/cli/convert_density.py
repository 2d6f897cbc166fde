"""Convert a density.h5 written by ``predict --save density`` into a Gaussian cube file (VESTA, OVITO).

Example: mpirun -n 4 mlsurrogate convert-density run1/density.h5 run1/density.cube --structure POSCAR
The cube holds electrons/bohr^3 with atoms and axes in bohr (cube conventions); each rank reads and
writes only its own x slab of the grid.
"""
import os

__all__ = ["add_arguments", "run"]


def add_arguments(p):
    p.add_argument("density", help="density.h5 of `mlsurrogate predict --save density`")
    p.add_argument("out", help="cube file to write (convention: .cube)")
    p.add_argument("--structure", metavar="FILE", help="structure to put in the file (any format ASE reads; its "
                   "cell must be the density's); default: no atoms, only the cell")
    p.add_argument("--format", default=None, help="ASE format name of --structure if the extension is ambiguous")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")


def run(args, comm):
    from ..output.cube import convert_h5_to_cube
    from ..output.outdir import check_output_file, commit_file
    from ..parallel import on_root
    from ..structure.read import read_structure
    on_root(comm, check_output_file, args.out, args.overwrite)
    atoms = read_structure(comm, args.structure, args.format) if args.structure else None
    tmp = os.path.join(os.path.dirname(os.path.abspath(args.out)), "." + os.path.basename(args.out) + ".tmp")
    try:
        convert_h5_to_cube(comm, args.density, tmp, atoms)
    except BaseException:
        if comm.rank == 0 and os.path.exists(tmp):
            os.remove(tmp)
        raise
    commit_file(comm, tmp, args.out)
    if comm.rank == 0:
        print(f"wrote {args.out} (electrons/bohr^3, lengths in bohr)", flush=True)
    return 0
