"""Convert a model (e.g. a MALA .zip) into mlsurrogate's own format (model.json + weights.npz in one zip).

Example: mlsurrogate convert-model Be_model.zip be_model.mlsm --xc PBE
The converted model predicts the identical LDOS; reading it never unpickles anything.
"""
import logging

__all__ = ["add_arguments", "run"]

log = logging.getLogger("mlsurrogate")


def add_arguments(p):
    p.add_argument("source", help="model to convert (MALA .zip or an mlsurrogate model)")
    p.add_argument("out", help="output file (convention: .mlsm)")
    p.add_argument("--xc", metavar="NAME", help="exchange-correlation functional of the training DFT data "
                   "(e.g. PBE); MALA zips do not store it. The energy stage refuses pseudopotentials of another functional")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")


def run(args, comm):
    from ..model.load import read_model_file
    from ..model.native_format import write_model
    from ..output.outdir import check_output_file
    from ..parallel import on_root

    def convert():
        check_output_file(args.out, args.overwrite)
        model = read_model_file(args.source)
        if args.xc:
            model.xc_functional = args.xc
        model.metadata.setdefault("converted_from", model.source)
        model.metadata.setdefault("source_format", model.source_format)
        write_model(model, args.out, overwrite=args.overwrite)
        return model.layer_sizes
    sizes = on_root(comm, convert)
    if comm.rank == 0:
        print(f"wrote {args.out} (layers {sizes})", flush=True)
    return 0
