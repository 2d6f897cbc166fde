"""Run a stacking-fault study: all pairs in one MPI job (model loaded once), or SLURM jobs + ``--collect``.

Layout of the study directory DIR (paths in study.json are relative to it):
  DIR/K{size}/perfect.extxyz, faulted.extxyz        the cells
  DIR/K{size}/{perfect,faulted}/results.json        predict's results of each cell
  DIR/K{max}/{perfect,faulted}/density.h5           densities of the largest size
  DIR/density_difference.h5                         faulted - perfect of the largest size (+ plane average)
  DIR/study.json, DIR/stacking_fault.png
  DIR/study_manifest.json, DIR/jobs/                with --slurm
"""
from dataclasses import asdict, replace
import logging
import os
from pathlib import Path
import shlex
import sys
import time

import numpy as np

from ..errors import InputError, OutputError
from ..parallel import on_root
from .stacking_fault import (CellPair, assemble, cell_record, plan_cells, plot_study, read_json, study_grid,
                             write_cells, write_study_json)

__all__ = ["run_here", "write_slurm", "collect", "STUDY_FILES"]

log = logging.getLogger("mlsurrogate")

STUDY_FILES = ("study.json", "stacking_fault.png", "density_difference.h5", "rdf.png")


def _z_planes(pair, nz):
    return np.arange(nz) * pair.length_A / nz


def _difference_extra(out, pair, z, avg_p, avg_f):
    """study.json's description of the largest size's density difference."""
    line = (avg_f - avg_p) * pair.fault_area_A2
    return {"density_difference": {
        "file": "density_difference.h5", "size": pair.size, "fault_z_A": pair.fault_z_A,
        "z_A": z.tolist(), "plane_average_difference_per_A3": (avg_f - avg_p).tolist(),
        "line_density_difference_e_per_A": line.tolist(),
        "note": "plane average over the basal plane of the cell at height z (grid planes are at the same heights "
                "in both cells); the 3-D field in the HDF5 file is on the perfect cell's grid points"}}


def _write_profile_h5(comm, path, z, avg_p, avg_f, area):
    """Add the plane averages to the difference file (rank 0)."""
    def add():
        import h5py
        with h5py.File(path, "r+") as f:
            for name, data in (("z_A", z), ("plane_average_perfect", avg_p), ("plane_average_faulted", avg_f),
                               ("plane_average_difference", avg_f - avg_p),
                               ("line_density_difference", (avg_f - avg_p) * area)):
                f[name] = data
            f["line_density_difference"].attrs["units"] = "e/Angstrom (plane average times basal area)"
            f["plane_average_difference"].attrs["units"] = "1/Angstrom^3"
        return True
    on_root(comm, add)


def _relax_cell(comm, model, options, atoms, relax, folder):
    """(relaxed copy of ``atoms``, summary without forces): BFGS along z, float64, written to
    folder/relaxed.extxyz. Collective over ``comm``."""
    from ..forces.relax import relax_atoms
    from ..output.outdir import commit_file
    fmax, steps = relax
    atoms = atoms.copy()
    summary = relax_atoms(comm, atoms, model, replace(options, dtype="float64"), fmax, steps, axis="z", log=False)
    summary.pop("forces")
    atoms.calc = None

    def write():
        import ase.io
        ase.io.write(os.path.join(folder, ".relaxed.extxyz.tmp"), atoms, format="extxyz", parallel=False)
    on_root(comm, write)
    commit_file(comm, os.path.join(folder, ".relaxed.extxyz.tmp"), os.path.join(folder, "relaxed.extxyz"))
    if comm.rank == 0:
        log.info("relaxed along z: %d steps, max force %.4f eV/Å, max displacement %.4f Å, converged %s",
                 summary["steps"], summary["max_force_eV_per_A"], summary["max_displacement_A"], summary["converged"])
    return atoms, summary


def run_here(comm, model, model_path, out, sizes, symbol, a, c, options, rattle=0.0, seed=0, overwrite=False,
             save_all_densities=False, points_per_cell=None, relax=None, orthogonal=False):
    """The whole study inside this MPI job. Collective over ``comm``. Returns the study dict (every rank).

    relax : None, or (fmax eV/Å, steps): relax every cell along z (the stacking axis) on its study grid
    before its energy (forces/relax.py); results.json gets a ``relax`` entry, the cell ``relaxed.extxyz``.
    """
    from ..output.outdir import commit_file, prepare_output_dir
    from ..output.results import write_density_h5, write_json_atomic
    from ..parallel import max_over_ranks, peak_rss_bytes
    from ..pipeline import predict
    from .fault_density import plane_average_block, write_difference_h5
    t_start = time.perf_counter()
    cells = plan_cells(sizes, symbol, a, c, rattle, seed, orthogonal)
    prepare_output_dir(comm, out, overwrite, STUDY_FILES)
    for pair, _, _ in cells:
        for kind in ("perfect", "faulted"):
            prepare_output_dir(comm, os.path.join(out, pair.run_dir(kind)), overwrite,
                               ["results.json", "relaxed.extxyz"])
    on_root(comm, write_cells, out, cells, overwrite)
    records, extra, profile_plot = [], {}, None
    for n, (pair, perfect, faulted) in enumerate(cells):
        largest = n == len(cells) - 1
        grid = study_grid(model, pair, perfect, faulted, points_per_cell)
        results, averages = {}, {}
        for kind, built in (("perfect", perfect), ("faulted", faulted)):
            t0 = time.perf_counter()
            if comm.rank == 0:
                log.info("size %d %s: %d atoms, grid %s", pair.size, kind, pair.natoms, "x".join(map(str, grid)))
            atoms, relaxed = built.atoms, None
            if relax is not None:
                atoms, relaxed = _relax_cell(comm, model, replace(options, grid=grid), atoms, relax,
                                             os.path.join(out, pair.run_dir(kind)))
            pred = predict(comm, atoms, model, replace(options, grid=grid, keep_density=True))
            averages[kind] = plane_average_block(comm, pred.density, pred.decomposition)
            folder = os.path.join(out, pair.run_dir(kind))
            if largest or save_all_densities:
                tmp = os.path.join(folder, ".density.h5.tmp")
                write_density_h5(comm, tmp, pred.density, pred.decomposition, atoms.cell.array)
                commit_file(comm, tmp, os.path.join(folder, "density.h5"))
            pred.timings_s["command"] = time.perf_counter() - t0
            pred.peak_rss_bytes_max_rank = max_over_ranks(comm, peak_rss_bytes())
            pred.structure = os.path.abspath(os.path.join(out, getattr(pair, f"structure_{kind}")))
            res = pred.to_dict()
            if relaxed is not None:
                res["relax"] = relaxed
            on_root(comm, write_json_atomic, os.path.join(folder, "results.json"), res)
            results[kind] = res
            del pred
        z = _z_planes(pair, grid[2])
        records.append(cell_record(pair, results["perfect"], results["faulted"], (z, averages["perfect"],
                                                                                   averages["faulted"])))
        if comm.rank == 0:
            r = records[-1]
            log.info("size %d: %d atoms, delta_F %.6f eV, gamma %.2f mJ/m^2, Hartree part of delta_F %.6f eV, "
                     "excess charge per fault %.4f e", pair.size, pair.natoms, r["delta_F_eV"], r["gamma_mJ_per_m2"],
                     r["delta_F_hartree_eV"], r["excess_charge_per_fault_e"])
        if largest:
            diff = os.path.join(out, "density_difference.h5")
            write_difference_h5(comm, diff, os.path.join(out, pair.run_dir("perfect"), "density.h5"),
                                os.path.join(out, pair.run_dir("faulted"), "density.h5"), pair.tilt_fractions,
                                {"size": pair.size, "fault_z_A": pair.fault_z_A})
            _write_profile_h5(comm, diff, z, averages["perfect"], averages["faulted"], pair.fault_area_A2)
            extra.update(_difference_extra(out, pair, z, averages["perfect"], averages["faulted"]))
            profile_plot = (z, (averages["faulted"] - averages["perfect"]) * pair.fault_area_A2, pair.fault_z_A)
            extra["rdf"] = _study_rdfs(comm, out, model, perfect.atoms, faulted.atoms)
    extra.update({"ranks": comm.size, "wall_s_total": time.perf_counter() - t_start,
                  "descriptors": options.descriptors, "relaxed_along_z": relax is not None,
                  "points_per_cell": list(points_per_cell) if points_per_cell else "the model's grid spacing"})
    study = assemble(model_path, a, c, symbol, records, rattle, seed, extra)
    on_root(comm, _finish, out, study, profile_plot)
    return study


def _study_rdfs(comm, out, model, perfect, faulted):
    """RDFs of the largest perfect and faulted cells vs the model's training RDF: study.json keys + rdf.png."""
    from ..cli.rdf import plot_rdfs
    from ..structure.rdf import RDF_DISTANCE_THRESHOLD, model_training_rdf, rdf, rdf_distance
    r_max = model.descriptors.max_cutoff(model.species)
    train = model_training_rdf(model)
    curves, rec = [], {"r_max_A": r_max, "threshold": RDF_DISTANCE_THRESHOLD, "plot": "rdf.png"}
    for kind, atoms in (("perfect", perfect), ("faulted", faulted)):
        r, g = rdf(comm, atoms, r_max)
        curves.append((kind, r, g))
        rec[f"distance_{kind}_to_training"] = rdf_distance(r, g, *train) if train is not None else None
    if train is not None:
        curves.append(("training structures", *train))
    else:
        rec["note"] = "the model records no training RDF (converted MALA models have none)"
    on_root(comm, plot_rdfs, os.path.join(out, "rdf.png"), curves, r_max, "RDF of the largest cells")
    return rec


def _finish(out, study, profile_plot):
    plot_study(os.path.join(out, "stacking_fault.png"), study, profile_plot)
    write_study_json(os.path.join(out, "study.json"), study)
    return True


# --------------------------------------------------------------------------------------------- cluster

SLURM_ARRAY = """#!/bin/bash
# Stacking-fault study, size {size} ({natoms} atoms): task 0 = perfect, task 1 = faulted.
# Written by `mlsurrogate study stacking-fault --slurm`; sized by the cost model ({plan}).
#SBATCH --job-name=sf-{name}
#SBATCH --array=0-1
#SBATCH --nodes={nodes}
#SBATCH --ntasks={ranks}
#SBATCH --cpus-per-task={threads}
#SBATCH --time={time}
#SBATCH --output={out}/{name}/slurm-%A_%a.out
#SBATCH --signal=B:TERM@120
set -euo pipefail
export OMP_NUM_THREADS={threads}
KINDS=(perfect faulted)
KIND=${{KINDS[$SLURM_ARRAY_TASK_ID]}}
{launcher} {exe} predict --model {model} --structure {out}/{name}/$KIND.extxyz --out {out}/{name}/$KIND \\
    --grid {grid} --save density --no-plot --overwrite {predict_args}
"""


def write_slurm(comm, model, model_path, out, sizes, symbol, a, c, options, predict_args, cores_per_node=48,
                threads=1, time_limit="02:00:00", mem_per_rank_gib=2.0, rattle=0.0, seed=0, overwrite=False,
                launcher="srun --cpu-bind=cores", points_per_cell=None, orthogonal=False):
    """Write the cells, one 2-task SLURM array per size, jobs/submit_all.sh and study_manifest.json.

    Ranks per size: the fewest whole nodes whose predicted peak memory per rank (cost model) is below
    ``mem_per_rank_gib`` and predicted wall time below 70 % of ``time_limit``. Local work on rank 0.
    """
    cells = plan_cells(sizes, symbol, a, c, rattle, seed, orthogonal)
    h, m, s = (int(v) for v in time_limit.split(":"))
    limit_s = 3600 * h + 60 * m + s

    def write():
        os.makedirs(out, exist_ok=True)
        if os.path.exists(os.path.join(out, "study_manifest.json")) and not overwrite:
            raise OutputError(f"{out} already holds study_manifest.json; choose another --out or pass --overwrite")
        write_cells(out, cells, overwrite)
        jobs = Path(out) / "jobs"
        jobs.mkdir(exist_ok=True)
        exe = str(Path(sys.executable).with_name("mlsurrogate"))
        manifest, scripts = [], []
        for pair, perfect, faulted in cells:
            grid = study_grid(model, pair, perfect, faulted, points_per_cell)
            from ..cost import estimate
            per_node = max(1, cores_per_node // threads)
            nodes = 1
            while True:
                plan = estimate(pair.natoms, perfect.atoms.cell.array, grid, model, nodes * per_node, options,
                                threads)
                if (plan.peak_bytes_per_rank <= mem_per_rank_gib * (1 << 30)
                        and plan.wall_seconds <= 0.7 * limit_s) or nodes >= 4096:
                    break
                nodes *= 2
            script = jobs / f"{pair.name}.slurm"
            script.write_text(SLURM_ARRAY.format(
                size=pair.size, natoms=pair.natoms, name=pair.name, nodes=nodes, ranks=nodes * per_node,
                threads=threads, time=time_limit, out=os.path.abspath(out), launcher=launcher, exe=exe,
                model=shlex.quote(os.path.abspath(model_path)), grid=" ".join(map(str, grid)),
                predict_args=shlex.join(predict_args),
                plan=f"{plan.peak_bytes_per_rank / (1 << 30):.2f} GiB/rank, {plan.wall_seconds:.0f} s wall, "
                     f"{plan.core_hours:.2f} core-h per cell"))
            scripts.append(script)
            manifest.append({**asdict(pair), "grid": list(grid), "ranks": nodes * per_node, "nodes": nodes,
                             "predicted_wall_s": plan.wall_seconds, "predicted_core_hours": plan.core_hours})
        submit = jobs / "submit_all.sh"
        submit.write_text("#!/bin/bash\nset -e\ncd \"$(dirname \"$0\")\"\n" +
                          "".join(f"sbatch {p.name}\n" for p in scripts))
        submit.chmod(0o755)
        from ..output.results import write_json_atomic
        write_json_atomic(os.path.join(out, "study_manifest.json"), {
            "model": os.path.abspath(model_path), "symbol": symbol, "a_A": a, "c_A": c, "rattle_A": rattle,
            "seed": seed, "cells": manifest})
        return [str(p) for p in scripts], manifest
    return on_root(comm, write)


def collect(comm, out, overwrite=False):
    """study.json and the plot from finished ``--slurm`` runs in ``out``. Collective (density reads are
    split over the ranks; one process is fine)."""
    from .fault_density import plane_average_h5, write_difference_h5

    def read():
        path = os.path.join(out, "study_manifest.json")
        if not os.path.isfile(path):
            raise InputError(f"{path} not found: --collect needs a directory written by --slurm")
        manifest = read_json(path)
        results = []
        for cell in manifest["cells"]:
            pair = CellPair(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in cell.items()
                               if k in CellPair.__dataclass_fields__})
            res = {}
            for kind in ("perfect", "faulted"):
                rpath = os.path.join(out, pair.run_dir(kind), "results.json")
                if not os.path.isfile(rpath):
                    raise InputError(f"{rpath} missing: the {kind} run of size {pair.size} has not finished "
                                     "(see its slurm-*.out)")
                res[kind] = read_json(rpath)
                if "total_energy_eV" not in res[kind]:
                    raise InputError(f"{rpath} has no total_energy_eV (run without --no-energy)")
            results.append((pair, res, cell["grid"]))
        if os.path.exists(os.path.join(out, "study.json")) and not overwrite:
            raise OutputError(f"{out} already holds study.json; pass --overwrite to rebuild it")
        return manifest, results
    manifest, results = on_root(comm, read)
    records, extra, profile_plot = [], {}, None
    for n, (pair, res, grid) in enumerate(results):
        dens = [os.path.join(out, pair.run_dir(kind), "density.h5") for kind in ("perfect", "faulted")]
        have = on_root(comm, lambda: all(os.path.isfile(p) for p in dens))
        profile = None
        if have:
            avg_p, avg_f = plane_average_h5(comm, dens[0]), plane_average_h5(comm, dens[1])
            z = _z_planes(pair, grid[2])
            profile = (z, avg_p, avg_f)
            if n == len(results) - 1:
                diff = os.path.join(out, "density_difference.h5")
                write_difference_h5(comm, diff, dens[0], dens[1], pair.tilt_fractions,
                                    {"size": pair.size, "fault_z_A": pair.fault_z_A})
                _write_profile_h5(comm, diff, z, avg_p, avg_f, pair.fault_area_A2)
                extra.update(_difference_extra(out, pair, z, avg_p, avg_f))
                profile_plot = (z, (avg_f - avg_p) * pair.fault_area_A2, pair.fault_z_A)
        records.append(cell_record(pair, res["perfect"], res["faulted"], profile))
    extra["collected_from"] = "SLURM runs (--collect)"
    study = assemble(manifest["model"], manifest["a_A"], manifest["c_A"], manifest["symbol"], records,
                     manifest["rattle_A"], manifest["seed"], extra)
    on_root(comm, _finish, out, study, profile_plot)
    return study
