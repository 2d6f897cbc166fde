"""Zero-broadening correction s² D(E_F)/2 for an LDOS Gaussian-broadened by s (electronic.dos.broadening_correction):
the physics on a model spectrum, the model file field, and evaluate --ldos-broadening."""
import dataclasses
import json
import zipfile

import numpy as np
import pytest

from conftest import BE2, MODEL, SNAP0, read_results, run_cli
from mlsurrogate.electronic.dos import broadening_correction, dos_observables
from mlsurrogate.errors import ModelError
from mlsurrogate.model.mala_zip import load_mala_zip
from mlsurrogate.model.native_format import read_native_model, write_model


def _spectrum_energies(s):
    """Levels e_i = 0.05 i^(2/3) eV (a free-electron-like D ∝ √E, 0.003 eV apart near E_F << s); the T -> 0
    band energy of the lowest N; and their DOS broadened by a Gaussian of std s on a 0.01 eV grid."""
    levels = 0.05 * np.arange(1, 6001) ** (2.0 / 3.0)
    grid = np.arange(-3.0, 20.0, 0.01)
    dos = np.zeros_like(grid)
    for chunk in np.array_split(levels, 20):
        dos += np.exp(-0.5 * ((grid[:, None] - chunk[None, :]) / s) ** 2).sum(axis=1) / (s * np.sqrt(2 * np.pi))
    return levels, grid, dos


@pytest.mark.parametrize("s", [0.2, 0.5])
def test_correction_recovers_the_unbroadened_band_energy(s):
    """Band energy (+ -TS, at 10 K) of the broadened DOS is the Gaussian-smearing free energy, s² D/2 below the
    sum of the lowest N levels; adding the correction leaves an O(s⁴) remainder, < 2 % of the offset here."""
    levels, grid, dos = _spectrum_energies(s)
    n = 3000
    obs = dos_observables(grid, dos, float(n) + 0.5, 10.0, s)   # E_F half way between levels n and n + 1
    exact = levels[:n].sum() + 0.5 * levels[n]   # T -> 0: N levels filled, half an electron in level N + 1
    broadened = obs.band_energy_ev + obs.entropy_contribution_ev
    offset = broadened - exact
    d_at_ef = np.interp(obs.fermi_energy_ev, grid, dos)
    assert offset == pytest.approx(-0.5 * s ** 2 * d_at_ef, rel=0.05)        # the leading term, measured
    assert obs.broadening_correction_ev == pytest.approx(0.5 * s ** 2 * d_at_ef, rel=1e-12)
    assert abs(broadened + obs.broadening_correction_ev - exact) < 0.02 * abs(offset)


def test_no_broadening_no_correction():
    grid = np.linspace(-5, 5, 101)
    assert broadening_correction(grid, np.ones(101), 0.3, 0.0) == 0.0
    assert dos_observables(grid, np.ones(101), 5.0, 300.0).broadening_correction_ev == 0.0


def test_model_file_keeps_the_broadening(tmp_path, be2):
    """Written and read back; files without the key (older ones, MALA's) mean 0; negative is refused."""
    mala = load_mala_zip(MODEL)
    assert mala.ldos_broadening_std_ev == 0.0
    path = tmp_path / "b.mlsm"
    write_model(dataclasses.replace(mala, ldos_broadening_std_ev=0.495), path)
    assert read_native_model(path).ldos_broadening_std_ev == 0.495
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("model.json"))
        weights = zf.read("weights.npz")
    assert meta["ldos_broadening_std_eV"] == 0.495
    del meta["ldos_broadening_std_eV"]
    old = tmp_path / "old.mlsm"
    with zipfile.ZipFile(old, "w") as zf:
        zf.writestr("model.json", json.dumps(meta))
        zf.writestr("weights.npz", weights)
    assert read_native_model(old).ldos_broadening_std_ev == 0.0
    with pytest.raises(ModelError, match="broadening"):
        dataclasses.replace(mala, ldos_broadening_std_ev=-0.1).validate()


def test_evaluate_ldos_broadening_adds_the_correction(tmp_path, be2):
    """evaluate --ldos-broadening S: the total grows by exactly S² D(E_F)/2 of the reported DOS; nothing else moves."""
    args = ["evaluate", "--structure", SNAP0, "--ldos", BE2 / "Be_snapshot0.out.npy", "--energy-grid", -5, 2.5, 11,
            "--temperature", 298.0, "--pseudo-dir", BE2]
    run_cli(args + ["--out", tmp_path / "a"], nprocs=2)
    run_cli(args + ["--ldos-broadening", 0.5, "--out", tmp_path / "b"], nprocs=2)
    a, b = read_results(tmp_path / "a"), read_results(tmp_path / "b")
    d = np.interp(b["fermi_energy_eV"], b["dos_energies_eV"], b["dos_per_eV"])
    assert a["broadening_correction_eV"] == 0.0 and b["broadening_correction_eV"] == pytest.approx(0.125 * d, rel=1e-12)
    assert b["total_energy_eV"] - a["total_energy_eV"] == pytest.approx(0.125 * d, rel=1e-9)
    for key in ("band_energy_eV", "hartree_energy_eV", "xc_energy_eV", "fermi_energy_eV"):
        assert a[key] == b[key]
    proc = run_cli(["evaluate", "--structure", SNAP0, "--density", BE2 / "Be_snapshot0.out.npy", "--ldos-broadening",
                    "0.5", "--pseudo-dir", BE2, "--out", tmp_path / "c"], nprocs=1, check=False)
    assert proc.returncode == 2 and "--ldos-broadening needs --ldos" in proc.stderr
