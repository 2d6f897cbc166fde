"""The shipped models/be.mlsm (trained on our own QE data, make-data, LDOS broadened to a Gaussian std of 0.495 eV,
with predict's zero-broadening correction): its I2 stacking-fault energy on the 8- and 16-layer cells against the
committed DFT values (pw.x: benchmarks/results/stacking_fault_dft/summary.json and stacking_fault_dft_bands/), its
convergence with size, its total energy on the perfect 8-layer and the held-out 16-layer cells against pw.x, and
its recorded training data."""
import json
import math

import pytest

from conftest import ROOT, read_results, run_cli
from mlsurrogate.model.load import read_model_file
from mlsurrogate.units import RYDBERG_EV

MODEL = ROOT / "models" / "be.mlsm"
PSEUDO = ROOT.parent / "shared" / "testdata" / "Be2"
A, C = 2.25982586776780, 3.56987856087494


def test_metadata():
    m = read_model_file(MODEL)
    assert MODEL.stat().st_size < 1_000_000
    assert (m.energy_grid.offset_ev, m.energy_grid.spacing_ev, m.energy_grid.count) == (-5.0, 0.1, 161)
    train = m.metadata["training"]["train_snapshots"]
    assert any("i2_8" in p for p in train) and not any("_16" in p or "r5" in p for p in train)
    assert all(p.endswith("ldos_s5.npy") for p in train)      # the 0.5 eV-broadened LDOS
    assert not any("i2_8_r11" in p or "i2_8_r13" in p or "r7" in p or "r9" in p or "r16" in p for p in train)  # held out
    assert sum("_r" in p for p in train) == 13                 # 3D-rattled training cells (27: 6 -> 8; 29: -> 13)
    assert m.ldos_broadening_std_ev == 0.495                   # so predict adds s² D(E_F)/2
    assert not any("i2_12" in p for p in train)                # the held-out faulted 12-layer cell
    refit = m.metadata["training"]["energy_refit"]["snapshots"]   # [training] energy_refit (session 26)
    assert len(refit) == len(train)
    # every training cell's band free energy at the DFT E_F within 0.5 meV per cell of the DFT LDOS's
    # (perfect_8 / perfect_12 share their descriptors but not their targets: -0.26 / +0.39 meV)
    assert all(abs(r["band_free_energy_error_after_eV"]) < 5e-4 for r in refit.values()), refit
    # session 27: the refit aims at QE's free energy of each training cell ([[train]] free_energy), not at the
    # broadened target's (which is 1-2.4 meV/atom off QE on most training cells)
    assert m.metadata["training"]["energy_refit"]["aims_at"] == "dft_free_energy"
    assert sum(abs(r["free_energy_offset_eV"]) > 1e-3 for r in refit.values()) >= len(train) - 1, refit


def _dft_run_8_layers():
    return next(r for r in json.loads((ROOT / "benchmarks" / "results" / "stacking_fault_dft" / "summary.json")
                                      .read_text())["runs"] if r["layers"] == 8 and r["kpoints"] == [18, 18, 2])


def _predict_cells(tmp, layers):
    """results.json of the perfect (key None) and I2-faulted 1 x 1 cells of ``layers`` layers."""
    results = {}
    for fault in (None, "I2"):
        cell = tmp / f"cell_{layers}_{fault}.extxyz"
        run_cli(["build", "hcp", "--symbol", "Be", "--a", A, "--c", C, "--repeat", 1, 1, layers // 2, "--out", cell]
                + (["--fault", fault] if fault else []), nprocs=1)
        run_cli(["predict", "--model", MODEL, "--structure", cell, "--pseudo-dir", PSEUDO, "--precision",
                 "float32", "--no-plot", "--out", tmp / f"p_{layers}_{fault}"], nprocs=2)
        results[fault] = read_results(tmp / f"p_{layers}_{fault}")
    return results


@pytest.fixture(scope="module")
def f_8_layers(tmp_path_factory):
    """results.json of the perfect and the I2-faulted 8-layer 1 x 1 cells from the shipped model, predicted once."""
    return _predict_cells(tmp_path_factory.mktemp("be8"), 8)


def _gamma(res):
    from mlsurrogate.studies.stacking_fault import EV_PER_A2_TO_MJ_PER_M2
    f = {k: r if isinstance(r, float) else r["total_energy_eV"] for k, r in res.items()}
    return (f["I2"] - f[None]) / (A * A * math.sqrt(3) / 2) * EV_PER_A2_TO_MJ_PER_M2


def _pw_energy_ev(name):
    from mlsurrogate.dft.qe_output import parse_pw_output
    path = ROOT / "benchmarks" / "results" / "stacking_fault_dft_bands" / f"{name}_pw.out"
    return parse_pw_output(path.read_text(), str(path))["energies_eV"]["total_energy"]


def test_stacking_fault_energy_8_layers(f_8_layers):
    """γ_I2 = (F_I2 − F_perfect)/area on the 8-layer 1 x 1 cells within 10 % of pw.x's 518.2 mJ/m² (issue 16,
    criterion 4; models/README.md has the model's value)."""
    dft = _dft_run_8_layers()["gamma_mJ_per_m2"]
    gamma = _gamma(f_8_layers)
    assert abs(gamma - dft) / dft < 0.10, (gamma, dft)


def test_16_layers_energy_and_size_convergence(f_8_layers, tmp_path_factory):
    """The 16-layer cells (a size never trained on) against the committed pw.x runs (stacking_fault_dft_bands):
    γ within 10 % of pw.x's 503.5 mJ/m², within 5 % of the model's own 8-layer γ (converged with size), and F per
    atom of both cells within 5 meV/atom of pw.x's (criterion 4)."""
    f16 = _predict_cells(tmp_path_factory.mktemp("be16"), 16)
    dft = {"I2": _pw_energy_ev("i2_16"), None: _pw_energy_ev("perfect_16")}
    g16, g8, gdft = _gamma(f16), _gamma(f_8_layers), _gamma(dft)
    assert abs(g16 - gdft) / gdft < 0.10, (g16, gdft)
    assert abs(g16 - g8) / g8 < 0.05, (g16, g8)
    for fault in (None, "I2"):
        assert abs(f16[fault]["total_energy_eV"] - dft[fault]) / 16 < 5e-3, (fault, f16[fault]["total_energy_eV"])


def test_total_energy_perfect_8_layers(f_8_layers):
    """F per atom of the perfect 8-layer 1 x 1 cell (a training cell: this checks the shipped file end to end)
    within 5 meV/atom of pw.x's, and of F from QE's own LDOS of this cell broadened as the training targets
    (`evaluate --ldos --ldos-broadening 0.495`, recorded in benchmarks/results/be_model/broadening_correction.json).
    The zero-broadening correction is in the total: s² D(E_F)/2 with s = 0.495 eV is 9.8 meV/atom on the DFT LDOS;
    without it F would be 7.5–11 meV/atom low."""
    floor = json.loads((ROOT / "benchmarks" / "results" / "be_model" / "broadening_correction.json")
                       .read_text())["cells"]["perfect_8"]
    res = f_8_layers[None]
    f = res["total_energy_eV"]
    assert abs(f - floor["F_corrected_eV"]) / 8 < 5e-3
    assert abs(f - _dft_run_8_layers()["perfect"]["F_Ry"] * RYDBERG_EV) / 8 < 5e-3
    assert 8e-3 < res["broadening_correction_eV"] / 8 < 12e-3, res["broadening_correction_eV"]
