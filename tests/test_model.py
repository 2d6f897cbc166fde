"""Model loading (no code execution), scaler folding and inference against the reference numbers."""
import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from conftest import BE2_CELL, MODEL, T_MALA
from helpers_models import write_mala_zip
from mlsurrogate.electronic.dos import dos_observables
from mlsurrogate.errors import ModelError
from mlsurrogate.model.inference import LdosNetwork
from mlsurrogate.model.mala_zip import load_mala_zip
from mlsurrogate.model.safe_unpickle import load_legacy_torch, load_pickled_record


def test_mala_zip_contents(be2):
    m = load_mala_zip(MODEL)
    assert m.layer_sizes == [91, 100, 11]
    assert m.activations == ["ReLU", None]
    assert m.species == ("Be",)
    assert m.electrons_per_atom == {"Be": 2.0}
    assert m.temperature_k == pytest.approx(T_MALA)
    assert m.descriptors.twojmax == 10 and m.descriptors.rcutfac == 4.67637 and m.descriptors.switchflag == 1
    assert (m.energy_grid.offset_ev, m.energy_grid.spacing_ev, m.energy_grid.count) == (-5.0, 2.5, 11)
    assert m.output_shift[0] == pytest.approx(0.004865298978984356)
    assert m.output_scale[0] == pytest.approx(0.03334563970565796 - 0.004865298978984356)


def test_state_dict_equals_torch_reader(be2):
    """Our restricted reader returns exactly what torch's own (weights-only) reader returns."""
    import torch
    raw = zipfile.ZipFile(MODEL).read("Be_model.network.pth")
    ours = load_legacy_torch(raw)
    theirs = torch.load(io.BytesIO(raw), weights_only=True)
    assert set(ours) == set(theirs)
    for k in ours:
        assert np.array_equal(ours[k], theirs[k].numpy())


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/mlsurrogate_pwned",))


def test_refuses_code_in_pickles(tmp_path):
    blob = pickle.dumps(_Evil())
    with pytest.raises(ModelError, match="refusing"):
        load_pickled_record(blob)
    assert not os.path.exists("/tmp/mlsurrogate_pwned")


def test_refuses_code_in_model_zip(tmp_path, be2):
    bad = write_mala_zip(tmp_path / "evil.zip", MODEL, replace={".iscaler.pkl": pickle.dumps(_Evil())})
    with pytest.raises(ModelError, match="refusing"):
        load_mala_zip(bad)


def test_garbled_and_incomplete_models(tmp_path, be2):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(ModelError, match="not a readable zip"):
        load_mala_zip(junk)
    with pytest.raises(ModelError, match="info.json"):
        load_mala_zip(write_mala_zip(tmp_path / "noinfo.zip", MODEL, drop=(".info.json",)))
    with pytest.raises(ModelError, match="garbled|truncated"):
        load_mala_zip(write_mala_zip(tmp_path / "cut.zip", MODEL,
                                     replace={".network.pth": zipfile.ZipFile(MODEL).read("Be_model.network.pth")[:5000]}))
    with pytest.raises(ModelError, match="does not exist"):
        load_mala_zip(tmp_path / "missing.zip")


def test_inference_reproduces_reference(be2):
    """Reference descriptors -> LDOS: RMSE 2.636e-4, E_F 10.24522 eV, band energy 12.45397 eV (README)."""
    m = load_mala_zip(MODEL)
    x = np.load(be2 / "Be_snapshot0.in.npy")[..., 3:].reshape(-1, 91).astype(np.float64)
    dft = np.load(be2 / "Be_snapshot0.out.npy").reshape(-1, 11)
    ldos = LdosNetwork(m, batch_size=1000)(x)
    assert np.sqrt(np.mean((ldos - dft) ** 2)) == pytest.approx(2.636e-4, abs=5e-8)
    dos = ldos.sum(axis=0) * abs(np.linalg.det(BE2_CELL)) / 8748
    obs = dos_observables(m.energy_grid.energies, dos, 4.0, T_MALA)
    assert obs.fermi_energy_ev == pytest.approx(10.24522, abs=1e-4)
    assert obs.band_energy_ev == pytest.approx(12.45397, abs=1e-4)


def test_folded_scalers_equal_explicit_scaling(be2):
    """Folding the scalers into the linear layers changes nothing beyond rounding."""
    m = load_mala_zip(MODEL)
    rng = np.random.default_rng(0)
    x = np.load(be2 / "Be_snapshot1.in.npy")[..., 3:].reshape(-1, 91)[rng.choice(8748, 500)].astype(np.float64)
    xs = (x - m.input_shift) * m.input_scale
    h = np.maximum(xs @ m.weights[0].T.astype(np.float64) + m.biases[0], 0)
    y = h @ m.weights[1].T.astype(np.float64) + m.biases[1]
    explicit = np.maximum(y * m.output_scale + m.output_shift, 0)
    assert np.allclose(LdosNetwork(m)(x), explicit, rtol=1e-12, atol=1e-15)


def test_batching_does_not_change_float64_results(be2):
    m = load_mala_zip(MODEL)
    x = np.load(be2 / "Be_snapshot2.in.npy")[..., 3:].reshape(-1, 91).astype(np.float64)
    a = LdosNetwork(m, batch_size=8748)(x)
    b = LdosNetwork(m, batch_size=97)(x)
    assert np.max(np.abs(a - b)) <= 1e-15 * np.max(np.abs(a))
