"""Training: determinism, data from cubes and from structures (LAMMPS), bad input, and the shipped model."""
import io
import subprocess
import zipfile

import numpy as np
import pytest

from conftest import BE2, BIN, MODEL, ROOT, T_MALA
from mlsurrogate.electronic.dos import EnergyGrid
from mlsurrogate.errors import InputError
from mlsurrogate.model.load import read_model_file
from mlsurrogate.training.config import load_config, load_test_set
from mlsurrogate.training.data import load_snapshot, read_ldos_cubes
from mlsurrogate.training.metrics import ldos_metrics, predict_snapshot

SHIPPED = ROOT / "models" / "be2.mlsm"
GRID = EnergyGrid(-5.0, 2.5, 11)


def snapshot(i, descriptors=True, **over):
    entry = {"structure": f"qe_inputs/Be_snapshot{i}.pw.scf.in", "ldos": f"Be_snapshot{i}.out.npy"}
    if descriptors:
        entry["descriptors"] = f"Be_snapshot{i}.in.npy"
    entry.update(over)
    return entry


def write_config(path, train=(snapshot(0),), validation=(snapshot(1),), fraction=0.0, grid_count=11,
                 epochs=2, seed=3, extra=""):
    """A tiny training config (16 hidden units, a few epochs) with absolute data paths."""
    def table(name, entries):
        return "".join(f"\n[[{name}]]\n" + "".join(f'{k} = "{v}"\n' for k, v in e.items()) for e in entries)
    path.write_text(f"""
[data]
root = "{BE2}"
validation_fraction = {fraction}
[model]
valence_electrons = {{ Be = 2 }}
temperature_K = {T_MALA!r}
pseudopotentials = {{ Be = "Be.pbe-n-rrkjus_psl.1.0.0.UPF" }}
xc_functional = "PBE"
[energy_grid]
offset_ev = -5.0
spacing_ev = 2.5
count = {grid_count}
[network]
hidden_layers = [16]
activation = "Tanh"
[training]
max_epochs = {epochs}
batch_size = 512
seed = {seed}
{extra}
{table("train", train)}{table("validation", validation)}""")
    return path


def train(tmp_path, config, name="m.mlsm", check=True, extra_args=()):
    """Run ``mlsurrogate train`` as users do (one process, no mpirun)."""
    out = tmp_path / name
    proc = subprocess.run([str(BIN / "mlsurrogate"), "train", "--config", str(config), "--out", str(out),
                           *extra_args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(proc.stdout + proc.stderr)
    return proc, out


def weights(path):
    with zipfile.ZipFile(path) as zf, np.load(io.BytesIO(zf.read("weights.npz"))) as npz:
        return {k: npz[k] for k in npz.files}


def test_training_is_deterministic(tmp_path, be2):
    cfg = write_config(tmp_path / "t.toml", train=(snapshot(0), snapshot(1)), validation=(), fraction=0.25)
    runs = [train(tmp_path, cfg, f"m{i}.mlsm") for i in range(2)]
    proc, _ = runs[0]
    assert "epoch     1" in proc.stdout and "validation loss" in proc.stdout
    assert "LDOS RMSE" in proc.stdout and "band energy err" in proc.stdout and "Fermi err" in proc.stdout
    a, b = (weights(out) for _, out in runs)
    assert set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)
    other = write_config(tmp_path / "s.toml", train=(snapshot(0), snapshot(1)), validation=(), fraction=0.25, seed=4)
    c = weights(train(tmp_path, other, "m2.mlsm")[1])
    assert not np.array_equal(a["layers.0.weight"], c["layers.0.weight"])  # the seed matters
    model = read_model_file(runs[0][1])
    assert model.layer_sizes == [91, 16, 11] and model.xc_functional == "PBE"
    assert model.metadata["training"]["seed"] == 3 and model.metadata["training"]["n_validation_points"] == 4374


def test_cosine_schedule_ends_at_final_rate(tmp_path, be2):
    """lr_cosine_final: the rate falls along a cosine, per minibatch, to exactly the final rate at max_epochs."""
    cfg = write_config(tmp_path / "c.toml", epochs=3, extra="learning_rate = 2e-3\nlr_cosine_final = 1e-5")
    _, out = train(tmp_path, cfg)
    history = read_model_file(out).metadata["training"]
    assert history["epochs_run"] == 3 and history["final_learning_rate"] == pytest.approx(1e-5, rel=1e-9)
    _, plain = train(tmp_path, write_config(tmp_path / "p.toml", epochs=3, extra="learning_rate = 2e-3"), "p.mlsm")
    assert read_model_file(plain).metadata["training"]["final_learning_rate"] == pytest.approx(2e-3)


def test_energy_refit_makes_snapshot_energies_exact(tmp_path, be2, comm):
    """energy_refit: after the refit, each training snapshot's band energy and Fermi level from the model's LDOS
    (the engine's own integration, E_F solved) equal the DFT LDOS's; the same run without it misses them."""
    kwargs = dict(train=(snapshot(0), snapshot(1)), validation=(), fraction=0.25, epochs=2)
    _, plain = train(tmp_path, write_config(tmp_path / "p.toml", **kwargs), "p.mlsm")
    proc, out = train(tmp_path, write_config(tmp_path / "r.toml", **kwargs, extra="energy_refit = true"), "r.mlsm")
    assert "energy refit of the last layer" in proc.stdout
    config = load_config(tmp_path / "r.toml")
    refit, before = read_model_file(out), read_model_file(plain)
    for w in ("weights", "biases"):   # only the last layer changes
        assert all(np.array_equal(a, b) for a, b in zip(getattr(refit, w)[:-1], getattr(before, w)[:-1]))
    report = refit.metadata["training"]["energy_refit"]
    assert report["train_mse_after"] < 1.01 * report["train_mse_before"]   # a small correction of the trained layer
    for spec in config.train:
        snap = load_snapshot(comm, spec, config.energy_grid, {"Be": 2.0}, config.descriptors)
        n_atoms = snap.n_atoms
        m_before, m_after = (ldos_metrics(predict_snapshot(m, snap), snap, config.energy_grid, T_MALA)
                             for m in (before, refit))
        # tolerance 5e-5 eV/atom (the default) plus float32 weights; the unrefit 2-epoch model is far off
        assert abs(m_after.band_energy_error_ev) < 1e-4 * n_atoms, (snap.name, m_after)
        assert abs(m_before.band_energy_error_ev) > 100 * abs(m_after.band_energy_error_ev), (snap.name, m_before)
        assert abs(m_after.fermi_level_error_ev) < 1e-3
    # --refit: the same refit applied to the already trained network, without epochs
    proc, again = train(tmp_path, tmp_path / "r.toml", "again.mlsm", extra_args=("--refit", str(plain)))
    assert "epoch" not in proc.stdout and "energy refit of the last layer" in proc.stdout
    assert all(np.array_equal(a, b) for a, b in zip(read_model_file(again).weights, refit.weights))
    proc, _ = train(tmp_path, tmp_path / "p.toml", "bad.mlsm", check=False, extra_args=("--refit", str(plain)))
    assert proc.returncode == 2 and "energy_refit = true" in proc.stderr


def test_energy_refit_aims_at_dft_free_energy(tmp_path, be2, comm):
    """[[train]] free_energy: the refit aims each snapshot's energy at DFT's free energy instead of its LDOS
    target's, so the model's band energy differs from the target LDOS's by F_DFT - F_LDOS (made-up offsets
    here, of either sign), and E_F stays the target's."""
    offsets = (0.4, -0.25)
    for i, o in enumerate(offsets):
        (tmp_path / f"f{i}.json").write_text(f'{{"free_energy_dft_eV": {-100.0 + o!r}, "free_energy_ldos_eV": -100.0}}')
    train_ = tuple(snapshot(i, free_energy=str(tmp_path / f"f{i}.json")) for i in range(2))
    cfg = write_config(tmp_path / "f.toml", train=train_, validation=(), fraction=0.25, extra="energy_refit = true")
    proc, out = train(tmp_path, cfg, "f.mlsm")
    assert "F_DFT - F_LDOS" in proc.stdout
    model, config = read_model_file(out), load_config(cfg)
    report = model.metadata["training"]["energy_refit"]
    assert report["aims_at"] == "dft_free_energy"
    for spec, o in zip(config.train, offsets):
        snap = load_snapshot(comm, spec, config.energy_grid, {"Be": 2.0}, config.descriptors)
        assert snap.free_energy_offset_ev == pytest.approx(o, abs=1e-12)
        m = ldos_metrics(predict_snapshot(model, snap), snap, config.energy_grid, T_MALA)
        # the offset goes into band energy - TS at fixed N; TS moves by < 1e-3 of it here
        assert abs(m.band_energy_error_ev - o) < 1e-4 * snap.n_atoms + 1e-3 * abs(o), (snap.name, m, o)
        assert abs(m.fermi_level_error_ev) < 1e-3
    # refused: free_energy without the refit, for only some snapshots, or a file without the two numbers
    (tmp_path / "bad.json").write_text('{"free_energy_dft_eV": 1.0}')
    for name, kwargs, message in [
            ("norefit", dict(train=train_), "free_energy is used only by the energy refit"),
            ("some", dict(train=(train_[0], snapshot(1)), extra="energy_refit = true"), "for every training snapshot"),
            ("file", dict(train=(snapshot(0, free_energy=str(tmp_path / "bad.json")),), extra="energy_refit = true"),
             "not a free-energy file")]:
        proc, bad = train(tmp_path, write_config(tmp_path / f"{name}.toml", **kwargs), f"{name}.mlsm", check=False)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert not bad.exists()


def test_cube_ldos_matches_npy(be2):
    """pp.x cubes of snapshot 0 (1/(Ry bohr^3), 5 significant digits) = Be_snapshot0.out.npy in 1/(eV Å^3)."""
    cubes = read_ldos_cubes(str(BE2 / "cubes" / "tmp.pp*Be_ldos.cube"), GRID)
    ref = np.load(BE2 / "Be_snapshot0.out.npy").astype(np.float64)
    assert cubes.shape == ref.shape
    assert np.max(np.abs(cubes - ref) / np.abs(ref)) < 1e-4
    with pytest.raises(InputError, match="12 points"):
        read_ldos_cubes(str(BE2 / "cubes" / "tmp.pp*Be_ldos.cube"), EnergyGrid(-5.0, 2.5, 12))
    with pytest.raises(InputError, match="expects -4.0 eV"):
        read_ldos_cubes(str(BE2 / "cubes" / "tmp.pp*Be_ldos.cube"), EnergyGrid(-4.0, 2.5, 11))


def test_train_from_structure_and_cubes(tmp_path, be2, comm):
    """Descriptors computed by LAMMPS from the structure equal the stored ones; training runs on them."""
    cfg = write_config(tmp_path / "c.toml", epochs=1,
                       train=({"structure": "Be_snapshot0.out", "ldos_cubes": "cubes/tmp.pp*Be_ldos.cube"},))
    config = load_config(cfg)
    snap = load_snapshot(comm, config.train[0], config.energy_grid, {"Be": 2.0}, config.descriptors)
    ref = np.load(BE2 / "Be_snapshot0.in.npy")[..., 3:].reshape(-1, 91).astype(np.float64)
    assert np.max(np.abs(snap.descriptors - ref) / np.abs(ref).max(axis=0)) < 1e-6  # as test_descriptors
    proc, out = train(tmp_path, cfg)
    assert "descriptors from LAMMPS" in proc.stderr and out.exists()


@pytest.mark.parametrize("case, message", [
    ("shape", "does not fit the LDOS grid"),
    ("energy_grid", "the energy grid has 12 points"),
    ("nan", "contains NaN"),
    ("empty_validation", "the validation set is empty"),
    ("unknown_key", "unknown key(s) in [training]: epochs"),
    ("cosine_and_plateau", "not both"),
    ("cosine_above_rate", "lr_cosine_final must be below learning_rate"),
    ("refit_tolerance", "energy_refit_tolerance_ev_per_atom 0: a positive number"),
    ("descriptor_settings", "computed with other descriptor settings than the model's or config's: rcutfac 9.0"),
])
def test_bad_input_stops_before_training(tmp_path, be2, case, message):
    kwargs = {}
    if case == "shape":
        np.save(tmp_path / "d.npy", np.load(BE2 / "Be_snapshot1.in.npy")[:, :, :26])
        kwargs["validation"] = ({**snapshot(1), "descriptors": str(tmp_path / "d.npy")},)
    elif case == "energy_grid":
        kwargs["grid_count"] = 12
    elif case == "descriptor_settings":     # same feature count, another cutoff (mlsurrogate descriptors' record)
        (tmp_path / "d").mkdir()
        np.save(tmp_path / "d" / "descriptors.npy", np.load(BE2 / "Be_snapshot1.in.npy"))
        (tmp_path / "d" / "results.json").write_text('{"settings": {"twojmax": 10, "rcutfac": 9.0, "rfac0": 0.99363, '
                                                     '"rmin0": 0.0, "switchflag": 1, "radii": {}, "weights": {}}}')
        kwargs["validation"] = ({**snapshot(1), "descriptors": str(tmp_path / "d" / "descriptors.npy")},)
    elif case == "nan":
        ldos = np.load(BE2 / "Be_snapshot0.out.npy")
        ldos[3, 4, 5, 6] = np.nan
        np.save(tmp_path / "l.npy", ldos)
        kwargs["train"] = (snapshot(0, ldos=str(tmp_path / "l.npy")),)
    elif case == "empty_validation":
        kwargs["validation"] = ()
    elif case == "cosine_and_plateau":
        kwargs["extra"] = "lr_cosine_final = 1e-5\nlr_plateau_patience = 2"
    elif case == "refit_tolerance":
        kwargs["extra"] = "energy_refit = true\nenergy_refit_tolerance_ev_per_atom = 0"
    elif case == "cosine_above_rate":
        kwargs["extra"] = "learning_rate = 1e-3\nlr_cosine_final = 1e-2"
    else:
        kwargs["extra"] = "epochs = 3"
    proc, out = train(tmp_path, write_config(tmp_path / "bad.toml", **kwargs), check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and proc.stderr.count("Error: ") == 1 and "Traceback" not in proc.stderr
    assert "epoch" not in proc.stdout and not out.exists()


def test_shipped_model_beats_mala(be2, comm):
    """On the test snapshots 2 and 3 (stored descriptors), models/be2.mlsm has a lower LDOS RMSE and a
    smaller |band energy error| than MALA's Be_model.zip, both computed by the engine vs the DFT LDOS."""
    ours, mala = read_model_file(SHIPPED), read_model_file(MODEL)
    assert SHIPPED.stat().st_size < 1_000_000
    prov = ours.metadata["training"]
    assert [p.rsplit("/", 1)[-1] for p in prov["train_snapshots"]] == ["Be_snapshot0.out.npy", "Be_snapshot1.out.npy"]
    assert prov["validation_snapshots"] == []
    for spec in load_test_set(ROOT / "models" / "be2_test.toml"):
        snap = load_snapshot(comm, spec, ours.energy_grid, ours.electrons_per_atom, ours.descriptors)
        m_ours, m_mala = (ldos_metrics(predict_snapshot(m, snap), snap, m.energy_grid, m.temperature_k)
                          for m in (ours, mala))
        assert m_ours.ldos_rmse <= m_mala.ldos_rmse, (snap.name, m_ours, m_mala)
        assert abs(m_ours.band_energy_error_ev) <= abs(m_mala.band_energy_error_ev), (snap.name, m_ours, m_mala)
