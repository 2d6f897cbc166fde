"""Train a model from DFT snapshots (LDOS + descriptors or structures) and write it in our format.

Example: mlsurrogate train --config models/be2_train.toml --out be2.mlsm
Runs as one process (no mpirun). Prints epoch, losses (MSE of the scaled LDOS) and time, then the
validation metrics against the DFT LDOS: LDOS RMSE in 1/(eV Å^3), band energy and Fermi level errors in eV.
"""
import logging
import os
import platform

import numpy as np

__all__ = ["add_arguments", "run", "load_snapshots", "metrics_table"]

log = logging.getLogger("mlsurrogate")


def add_arguments(p):
    p.add_argument("--config", required=True, help="training configuration (TOML; see README 'Train')")
    p.add_argument("--out", required=True, help="model file to write (convention: .mlsm)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--refit", metavar="MODEL",
                   help="no training epochs: take MODEL (trained on this config's data with its seed) and only refit "
                        "its last layer ([training] energy_refit must be true)")


def load_snapshots(comm, specs, energy_grid, valence_electrons, params):
    """Snapshots of ``specs`` (logged as they load). Collective over ``comm`` (one rank)."""
    from ..training.data import load_snapshot
    out = []
    for spec in specs:
        snap = load_snapshot(comm, spec, energy_grid, valence_electrons, params)
        source = "file" if spec.descriptors else "LAMMPS"
        log.info("snapshot %s: grid %s, %g electrons, descriptors from %s", snap.name,
                 "x".join(map(str, snap.grid)), snap.n_electrons, source)
        out.append(snap)
    return out


def metrics_table(rows):
    """Text table of (label, LdosMetrics, note) rows."""
    lines = [f"{'snapshot':28s} {'LDOS RMSE 1/(eV A^3)':>21s} {'band energy err eV':>19s} "
             f"{'Fermi err eV':>13s}  note"]
    for label, m, note in rows:
        lines.append(f"{label:28s} {m.ldos_rmse:21.4e} {m.band_energy_error_ev:+19.5f} "
                     f"{m.fermi_level_error_ev:+13.5f}  {note}")
    return "\n".join(lines)


def _data(train, val, masks):
    from ..training.loop import TrainingData
    x_val = [s.descriptors[m] for s, m in zip(train, masks)] + [s.descriptors for s in val]
    y_val = [s.ldos[m] for s, m in zip(train, masks)] + [s.ldos for s in val]
    return TrainingData(x_train=np.concatenate([s.descriptors[~m] for s, m in zip(train, masks)]),
                        y_train=np.concatenate([s.ldos[~m] for s, m in zip(train, masks)]),
                        x_val=np.concatenate(x_val), y_val=np.concatenate(y_val))


def _evaluate(model, cfg, train, val, masks):
    from ..training.metrics import ldos_metrics, ldos_rmse, predict_snapshot
    rows = []
    for s in val:
        rows.append((s.name, ldos_metrics(predict_snapshot(model, s), s, cfg.energy_grid, cfg.model.temperature_K),
                     "validation snapshot"))
    for s, m in zip(train, masks):
        if m.any():
            pred = predict_snapshot(model, s)
            full = ldos_metrics(pred, s, cfg.energy_grid, cfg.model.temperature_K)
            held = full.__class__(**{**full.as_dict(), "ldos_rmse": ldos_rmse(pred[m], s.ldos[m])})
            rows.append((s.name, held, f"RMSE on the {int(m.sum())} held-out points; energies: whole "
                                        "snapshot (partly trained on)"))
    return rows


def run(args, comm):
    import torch
    from ..errors import InputError
    from ..model.native_format import write_model
    from ..output.outdir import check_output_file
    from ..parallel import agree
    from ..training.config import load_config
    from ..training.loop import split_points, train_model

    agree(comm, comm.size == 1, InputError, "train runs as one process; start it without mpirun")
    check_output_file(args.out, args.overwrite, "--out")
    cfg = load_config(args.config)
    refit_from = _refit_source(args.refit, cfg) if args.refit else None
    species = tuple(sorted(cfg.model.valence_electrons))
    load = lambda specs: load_snapshots(comm, specs, cfg.energy_grid, cfg.model.valence_electrons, cfg.descriptors)
    train, val = load(cfg.train), load(cfg.validation)
    masks = split_points(train, cfg.validation_fraction, cfg.training.seed)
    data = _data(train, val, masks)
    if data.x_val.shape[0] == 0:
        raise InputError("the validation set is empty (validation_fraction too small for the data?)")
    if data.x_train.shape[0] == 0:
        raise InputError("no training points left after holding out the validation fraction")
    grid_spacing = np.linalg.norm(train[0].cell, axis=1) / np.array(train[0].grid)
    log.info("training on %d points, validating on %d; layers %s, %s", data.x_train.shape[0],
             data.x_val.shape[0], [data.x_train.shape[1], *cfg.network.hidden_layers, data.y_train.shape[1]],
             cfg.network.activation)
    every = max(1, cfg.training.max_epochs // 40)

    def progress(epoch, train_loss, val_loss, seconds, improved):
        if epoch % every == 0 or epoch == 1:
            print(f"epoch {epoch:5d}  train loss {train_loss:.4e}  validation loss {val_loss:.4e}  "
                  f"{seconds:7.1f} s{'  *' if improved else ''}", flush=True)

    rel = lambda specs: [os.path.relpath(s.ldos or s.ldos_cubes, os.path.dirname(cfg.source)) for s in specs]
    provenance = {"config": os.path.basename(cfg.source), "seed": cfg.training.seed, "settings": _settings(cfg),
                  "train_snapshots": rel(cfg.train), "validation_snapshots": rel(cfg.validation),
                  "validation_fraction": cfg.validation_fraction,
                  "n_train_points": int(data.x_train.shape[0]), "n_validation_points": int(data.x_val.shape[0]),
                  "torch": torch.__version__, "python": platform.python_version()}
    if refit_from is not None:
        model = refit_from
        if model.layer_sizes != [data.x_train.shape[1], *cfg.network.hidden_layers, data.y_train.shape[1]]:
            raise InputError(f"--refit {args.refit}: layers {model.layer_sizes} do not fit this config's network and "
                             "data")
        model.metadata["training"]["refit_from"] = os.path.basename(args.refit)
    else:
        model, hist = train_model(data, cfg, grid_spacing_A=grid_spacing, provenance=provenance, progress=progress)
        print(f"stopped after {hist['epochs_run']} epochs ({hist['seconds']:.1f} s on {hist['device']}); best "
              f"validation loss {hist['best_val_loss']:.4e} at epoch {hist['best_epoch']}", flush=True)
    if cfg.training.energy_refit:
        model = _energy_refit(model, cfg, train, masks)
    rows = _evaluate(model, cfg, train, val, masks)
    model.metadata["training"]["validation_metrics"] = {label: {**m.as_dict(), "note": note}
                                                        for label, m, note in rows}
    from ..structure.rdf import training_rdf_record
    from ..structure.read import read_structure
    structures = [read_structure(comm, s.structure, s.structure_format) for s in cfg.train]
    model.metadata["training_rdf"] = training_rdf_record(comm, structures, cfg.descriptors.max_cutoff(species))
    write_model(model, args.out, overwrite=args.overwrite)
    print("validation metrics against the DFT LDOS (errors: prediction - DFT):")
    print(metrics_table(rows))
    print(f"wrote {args.out} ({', '.join(species)}; layers {model.layer_sizes})", flush=True)
    return 0


def _refit_source(path, cfg):
    """The model to refit (--refit): checked against the config before any data are read."""
    from ..errors import InputError
    from ..model.load import read_model_file
    if not cfg.training.energy_refit:
        raise InputError("--refit needs [training] energy_refit = true in the config")
    model = read_model_file(path)
    seed = model.metadata.get("training", {}).get("seed")
    if seed != cfg.training.seed:
        raise InputError(f"--refit {path}: trained with seed {seed}, the config has {cfg.training.seed} (the seed "
                         "chooses the points that were not fitted)")
    return model


def _energy_refit(model, cfg, train, masks):
    """The model with its last layer refit to the training snapshots' energies (training/energy_refit.py)."""
    import time
    from ..training.energy_refit import refit_last_layer
    t0 = time.perf_counter()
    refit, report = refit_last_layer(model, train, masks, cfg.energy_grid, cfg.model.temperature_K,
                                     tolerance_ev_per_atom=cfg.training.energy_refit_tolerance_ev_per_atom)
    seconds = time.perf_counter() - t0
    to_dft = any(spec.free_energy for spec in cfg.train)
    aim = "DFT LDOS + (F_DFT - F_LDOS), [[train]] free_energy" if to_dft else "DFT LDOS"
    print(f"energy refit of the last layer ({seconds:.1f} s): training-point MSE {report.train_mse_before:.4e} -> "
          f"{report.train_mse_after:.4e}; per snapshot, at the DFT Fermi level (model - aim; aim: {aim}):")
    print(f"{'snapshot':28s} {'band free energy err eV':>24s} {'electron count err':>19s}"
          + (f" {'F_DFT - F_LDOS eV':>18s}" if to_dft else ""))
    for name, a, b, c, d, o in zip(report.names, report.omega_error_before_ev, report.omega_error_after_ev,
                                   report.count_error_before, report.count_error_after, report.free_energy_offsets_ev):
        print(f"{name:28s} {a:+11.5f} -> {b:+10.2e} {c:+8.5f} -> {d:+9.2e}" + (f" {o:+18.5f}" if to_dft else ""))
    refit.metadata["training"]["energy_refit"] = {**report.as_dict(), "seconds": seconds,
                                                  "aims_at": "dft_free_energy" if to_dft else "target_ldos"}
    return refit


def _settings(cfg):
    """The training settings as plain JSON values."""
    from dataclasses import asdict
    return {"energy_grid": asdict(cfg.energy_grid), "descriptors": cfg.descriptors.to_dict(),
            "network": asdict(cfg.network), "training": asdict(cfg.training), "model": asdict(cfg.model)}
