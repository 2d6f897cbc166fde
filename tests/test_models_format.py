"""Our model format: round trip, MALA conversion (identical LDOS), predict with it, refusal of unsafe files."""
import io
import json
import os
import zipfile

import numpy as np
import pytest

from conftest import BE2, MODEL, SNAP0, read_results, run_cli
from mlsurrogate.errors import ModelError
from mlsurrogate.model.inference import LdosNetwork
from mlsurrogate.model.load import read_model_file
from mlsurrogate.model.mala_zip import load_mala_zip
from mlsurrogate.model.native_format import read_native_model, write_model

ARRAYS = ("input_shift", "input_scale", "output_scale", "output_shift")


def _descriptors(snap):
    return np.load(BE2 / f"Be_snapshot{snap}.in.npy")[..., 3:].reshape(-1, 91).astype(np.float64)


def _assert_same_model(a, b):
    assert a.layer_sizes == b.layer_sizes and a.activations == b.activations
    for wa, wb in zip(a.weights + a.biases, b.weights + b.biases):
        assert wa.dtype == wb.dtype and np.array_equal(wa, wb)
    for name in ARRAYS:
        assert np.array_equal(np.broadcast_to(getattr(a, name), getattr(b, name).shape), getattr(b, name))
    assert (a.species, a.descriptors, a.energy_grid) == (b.species, b.descriptors, b.energy_grid)
    assert (a.temperature_k, a.grid_spacing_A, a.electrons_per_atom, a.clamp_negative, a.pseudopotentials) == \
           (b.temperature_k, b.grid_spacing_A, b.electrons_per_atom, b.clamp_negative, b.pseudopotentials)


def test_round_trip_identical_ldos(tmp_path, be2):
    """MALA model -> our file -> back: same arrays (dtype too), metadata, and bit-identical LDOS."""
    mala = load_mala_zip(MODEL)
    path = tmp_path / "be.mlsm"
    write_model(mala, path)
    back = read_native_model(path)
    _assert_same_model(mala, back)
    assert back.ecutrho_ry == 160.0
    x = _descriptors(2)
    assert np.array_equal(LdosNetwork(back)(x), LdosNetwork(mala)(x))
    # written again from what was read: the same bytes of metadata and weights
    write_model(back, tmp_path / "again.mlsm")
    with zipfile.ZipFile(path) as z1, zipfile.ZipFile(tmp_path / "again.mlsm") as z2:
        assert z1.read("weights.npz") == z2.read("weights.npz")
        assert json.loads(z1.read("model.json"))["network"] == json.loads(z2.read("model.json"))["network"]


def test_metadata_contents(tmp_path, be2):
    path = tmp_path / "be.mlsm"
    run_cli(["convert-model", MODEL, path, "--xc", "PBE"], nprocs=1)
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("model.json"))
        assert sorted(zf.namelist()) == ["model.json", "weights.npz"]
    assert meta["format"] == "mlsurrogate-model" and meta["format_version"] == 1
    assert meta["species"] == [{"symbol": "Be", "valence_electrons": 2.0,
                                "pseudopotential": "Be.pbe-n-rrkjus_psl.1.0.0.UPF"}]
    assert meta["xc_functional"] == "PBE" and meta["ecutrho_ry"] == 160.0
    assert meta["energy_grid"] == {"offset_ev": -5.0, "spacing_ev": 2.5, "count": 11}
    assert meta["network"]["layer_sizes"] == [91, 100, 11]
    assert meta["descriptors"]["twojmax"] == 10 and meta["descriptors"]["switchflag"] == 1
    assert meta["units"]["ldos"] == "1/(eV*Angstrom^3)"
    assert meta["provenance"]["source_format"] == "mala-zip"


def test_convert_then_predict_identical(tmp_path, be2):
    """convert-model output predicts the identical LDOS in-process, and identical results through predict."""
    conv = tmp_path / "be.mlsm"
    proc = run_cli(["convert-model", MODEL, conv, "--xc", "PBE"], nprocs=1)
    assert "wrote" in proc.stdout
    x = _descriptors(0)
    assert np.array_equal(LdosNetwork(read_model_file(conv))(x), LdosNetwork(read_model_file(MODEL))(x))
    results = {}
    for name, model in (("zip", MODEL), ("ours", conv)):
        run_cli(["predict", "--model", model, "--structure", SNAP0, "--out", tmp_path / name, "--no-plot",
                 "--pseudo-dir", BE2], nprocs=2)
        results[name] = read_results(tmp_path / name)
    for key in ("fermi_energy_eV", "band_energy_eV", "dos_per_eV", "entropy_contribution_eV", "total_energy_eV"):
        assert results["ours"][key] == results["zip"][key], key
    assert results["ours"]["fermi_energy_eV"] == pytest.approx(10.24522, abs=1e-4)  # README reference
    assert results["ours"]["model"]["format"] == "mlsurrogate-model"


def _rewrite(src, dst, member, data):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            zout.writestr(name, data if name == member else zin.read(name))
    return dst


def test_refuses_pickled_arrays(tmp_path, be2):
    """An object array in weights.npz would need unpickling: refused, and nothing is executed."""
    good = tmp_path / "be.mlsm"
    write_model(load_mala_zip(MODEL), good)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    with zipfile.ZipFile(good) as zf, np.load(io.BytesIO(zf.read("weights.npz"))) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["input_shift"] = np.array([Evil()], dtype=object)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    bad = _rewrite(good, tmp_path / "evil.mlsm", "weights.npz", buf.getvalue())
    with pytest.raises(ModelError, match="unreadable model"):
        read_native_model(bad)
    assert not marker.exists()


def test_bad_native_files(tmp_path, be2):
    good = tmp_path / "be.mlsm"
    write_model(load_mala_zip(MODEL), good)
    with zipfile.ZipFile(good) as zf:
        meta = json.loads(zf.read("model.json"))
    newer = _rewrite(good, tmp_path / "v9.mlsm", "model.json", json.dumps({**meta, "format_version": 9}))
    with pytest.raises(ModelError, match="version 9 is not supported"):
        read_model_file(newer)
    wrong = {**meta, "network": {**meta["network"], "layer_sizes": [91, 50, 11]}}
    with pytest.raises(ModelError, match="layer sizes"):
        read_model_file(_rewrite(good, tmp_path / "sizes.mlsm", "model.json", json.dumps(wrong)))
    noweights = tmp_path / "noweights.mlsm"
    with zipfile.ZipFile(noweights, "w") as zf:
        zf.writestr("model.json", json.dumps(meta))
    with pytest.raises(ModelError, match="missing member"):
        read_model_file(noweights)
    with pytest.raises(Exception, match="exists"):
        write_model(load_mala_zip(MODEL), good)
    proc = run_cli(["predict", "--model", newer, "--structure", SNAP0, "--out", tmp_path / "o"], nprocs=2,
                   check=False)
    assert proc.returncode == 2 and proc.stderr.count("ModelError: ") == 1 and "Traceback" not in proc.stderr
