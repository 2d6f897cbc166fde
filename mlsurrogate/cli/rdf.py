"""Radial distribution function of a structure up to the descriptor cutoff, and its distance to a model's training RDF.

Example: mpirun -n 2 mlsurrogate rdf --structure cell.extxyz --model models/be2.mlsm --out rdf-out
Writes DIR/rdf.json (r in Å, g(r) dimensionless, the distance and threshold) and DIR/rdf.png.
"""
import os

__all__ = ["add_arguments", "run"]


def add_arguments(p):
    p.add_argument("--structure", required=True, nargs="+", help="structure file(s), any format ASE reads")
    p.add_argument("--format", default=None, help="ASE format name if the extension is ambiguous")
    p.add_argument("--model", help="model: its descriptor cutoff sets r_max, its training RDF is compared")
    p.add_argument("--r-max", type=float, metavar="A", help="largest distance, Å (default: the model's cutoff)")
    p.add_argument("--record-training", action="store_true",
                   help="store the mean RDF of the structures in --model (our format) as its training RDF, for "
                        "models trained before `train` recorded it; the weights are not touched")
    p.add_argument("--out", help="output directory (rdf.json, rdf.png)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output")


def plot_rdfs(path, curves, r_max, title):
    """curves: [(label, r, g)]. Local."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, r, g in curves:
        ax.plot(r, g, label=label, lw=1.2)
    ax.set_xlim(0, r_max)
    ax.set_xlabel("r (Å)")
    ax.set_ylabel("g(r)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(args, comm):
    from ..errors import InputError
    from ..output.outdir import prepare_output_dir
    from ..output.results import write_json_atomic
    from ..parallel import on_root
    from ..structure.rdf import RDF_DISTANCE_THRESHOLD, model_training_rdf, rdf, rdf_distance, training_rdf_record
    from ..structure.read import read_structure
    model = None
    if args.model:
        from ..model.load import load_model
        model = load_model(comm, args.model)
    r_max = args.r_max or (model.descriptors.max_cutoff(model.species) if model else None)
    if not r_max or r_max <= 0:
        raise InputError("give --model (its descriptor cutoff) or a positive --r-max")
    if args.out:
        prepare_output_dir(comm, args.out, args.overwrite, ["rdf.json", "rdf.png"])
    structures = [read_structure(comm, path, args.format) for path in args.structure]
    if args.record_training:
        if model is None:
            raise InputError("--record-training needs --model")
        from ..model.load import read_model_file
        from ..model.native_format import is_native_model, write_model
        record = training_rdf_record(comm, structures, r_max)

        def store():
            if not is_native_model(args.model):
                raise InputError(f"{args.model} is not in our format; convert it first (convert-model)")
            m = read_model_file(args.model)
            m.metadata["training_rdf"] = {**record, "files": [os.path.basename(p) for p in args.structure]}
            write_model(m, args.model, overwrite=True)
            return True
        on_root(comm, store)
        if comm.rank == 0:
            print(f"recorded the training RDF of {len(structures)} structure(s) in {args.model}", flush=True)
        return 0
    train = model_training_rdf(model) if model else None
    rows, curves = [], []
    for path, atoms in zip(args.structure, structures):
        r, g = rdf(comm, atoms, r_max)
        d = rdf_distance(r, g, *train) if train is not None else None
        rows.append({"structure": os.path.abspath(path), "natoms": len(atoms), "r_A": r.tolist(), "g": g.tolist(),
                     "distance_to_training": d, "outside_training": None if d is None else d > RDF_DISTANCE_THRESHOLD})
        curves.append((f"{os.path.basename(path)} ({len(atoms)} atoms)", r, g))
        if comm.rank == 0:
            where = ("no training RDF in the model" if d is None else
                     f"distance to training {d:.3f} ({'OUTSIDE' if d > RDF_DISTANCE_THRESHOLD else 'within'} the "
                     f"threshold {RDF_DISTANCE_THRESHOLD})")
            print(f"{path}: {len(atoms)} atoms, first peak at {r[g.argmax()]:.3f} Å, {where}", flush=True)
    if train is not None:
        curves.append(("model's training structures", *train))
    if args.out:
        def write():
            write_json_atomic(os.path.join(args.out, "rdf.json"), {
                "r_max_A": r_max, "threshold": RDF_DISTANCE_THRESHOLD, "model": args.model, "structures": rows,
                "training": None if train is None else {"r_A": train[0].tolist(), "g": train[1].tolist()}})
            plot_rdfs(os.path.join(args.out, "rdf.png"), curves, r_max, "radial distribution functions")
            return True
        on_root(comm, write)
    return 0
