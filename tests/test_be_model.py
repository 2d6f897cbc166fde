"""The shipped models/be.mlsm (trained on our own QE data, make-data): its total energy on the 8-layer perfect
1 x 1 cell and its I2 stacking-fault energy on the 8-layer cells against the committed DFT values
(benchmarks/results/stacking_fault_dft/summary.json, pw.x, 18 x 18 x 2 k-points), and its recorded training data."""
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


def _dft_run_8_layers():
    return next(r for r in json.loads((ROOT / "benchmarks" / "results" / "stacking_fault_dft" / "summary.json")
                                      .read_text())["runs"] if r["layers"] == 8 and r["kpoints"] == [18, 18, 2])


@pytest.fixture(scope="module")
def f_8_layers(tmp_path_factory):
    """F (eV) of the perfect and the I2-faulted 8-layer 1 x 1 cells from the shipped model, predicted once."""
    tmp, energies = tmp_path_factory.mktemp("be8"), {}
    for fault in (None, "I2"):
        cell = tmp / f"cell_{fault}.extxyz"
        run_cli(["build", "hcp", "--symbol", "Be", "--a", A, "--c", C, "--repeat", 1, 1, 4, "--out", cell]
                + (["--fault", fault] if fault else []), nprocs=1)
        run_cli(["predict", "--model", MODEL, "--structure", cell, "--pseudo-dir", PSEUDO, "--precision",
                 "float32", "--no-plot", "--out", tmp / f"p_{fault}"], nprocs=2)
        energies[fault] = read_results(tmp / f"p_{fault}")["total_energy_eV"]
    return energies


def test_stacking_fault_energy_8_layers(f_8_layers):
    """γ_I2 = (F_I2 − F_perfect)/area on the 8-layer 1 x 1 cells within 10 % of pw.x's 518.2 mJ/m² (issue 16,
    criterion 4; the model gives 484, −6.7 %). Its 16-layer γ is 16 % low (models/README.md): not tested."""
    from mlsurrogate.studies.stacking_fault import EV_PER_A2_TO_MJ_PER_M2
    dft = _dft_run_8_layers()["gamma_mJ_per_m2"]
    gamma = (f_8_layers["I2"] - f_8_layers[None]) / (A * A * math.sqrt(3) / 2) * EV_PER_A2_TO_MJ_PER_M2
    assert abs(gamma - dft) / dft < 0.10, (gamma, dft)


def test_total_energy_perfect_8_layers(f_8_layers):
    """F per atom of the perfect 8-layer 1 x 1 cell (a training cell: this checks the shipped file end to end)
    within 5 meV/atom of pw.x's (benchmarks/results/stacking_fault_dft/summary.json, the same cell, PBE,
    18 x 18 x 2 k-points). The LDOS route itself is 1.6 meV/atom off QE on this cell (README); the
    fault energy is tested above."""
    f = f_8_layers[None]
    assert abs(f - _dft_run_8_layers()["perfect"]["F_Ry"] * RYDBERG_EV) / 8 < 5e-3
