"""The shipped models/be.mlsm (trained on our own QE data, make-data): its I2 stacking-fault energy on the
8-layer perfect 1 x 1 cell against the committed DFT value (benchmarks/results/stacking_fault_dft/summary.json,
pw.x, 18 x 18 x 2 k-points), and its recorded training data."""
import json

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


def test_total_energy_perfect_8_layers(tmp_path):
    """F per atom of the perfect 8-layer 1 x 1 cell (a training cell: this checks the shipped file end to end)
    within 5 meV/atom of pw.x's (benchmarks/results/stacking_fault_dft/summary.json, the same cell, PBE,
    18 x 18 x 2 k-points). The LDOS route itself is 1.6 meV/atom off QE on this cell (README); the
    fault energy is not tested: the model gets it wrong (models/README.md)."""
    run = next(r for r in json.loads((ROOT / "benchmarks" / "results" / "stacking_fault_dft" / "summary.json")
                                     .read_text())["runs"] if r["layers"] == 8 and r["kpoints"] == [18, 18, 2])
    cell = tmp_path / "perfect.extxyz"
    run_cli(["build", "hcp", "--symbol", "Be", "--a", A, "--c", C, "--repeat", 1, 1, 4, "--out", cell], nprocs=1)
    run_cli(["predict", "--model", MODEL, "--structure", cell, "--pseudo-dir", PSEUDO, "--precision", "float32",
             "--no-plot", "--out", tmp_path / "p"], nprocs=2)
    f = read_results(tmp_path / "p")["total_energy_eV"]
    assert abs(f - run["perfect"]["F_Ry"] * RYDBERG_EV) / 8 < 5e-3
