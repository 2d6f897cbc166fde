"""make-data: QE inputs from settings, SLURM array, bad settings; with pw.x present, a real Be2 run whose
LDOS reproduces QE's density and total energy through `evaluate --ldos`."""
import json
import shutil
import subprocess

import numpy as np
import pytest

from conftest import BE2, BE2_CELL, BIN, ROOT, read_results, run_cli
from mlsurrogate.dft.qe_inputs import kpoint_mesh
from mlsurrogate.dft.settings import load_settings
from mlsurrogate.electronic.fermi_dirac import occupation_weights
from mlsurrogate.errors import InputError
from mlsurrogate.units import RYDBERG_EV, kelvin_to_ev

HAVE_QE = shutil.which("pw.x") is not None and shutil.which("pp.x") is not None
MPI = "mpirun.openmpi --allow-run-as-root --oversubscribe -np {ranks}" if shutil.which("mpirun.openmpi") else \
    "mpirun -np {ranks}"


def write_settings(path, kpoints="[4, 4, 3]", ldos="emin_ev = -5.0\ndelta_e_ev = 0.1\ncount = 161\n"
                   "degauss_ldos_ev = 0.1", extra="", ranks=2):
    path.write_text(f"""
[qe]
pseudo_dir = "{BE2}"
pseudopotentials = {{ Be = "Be.pbe-n-rrkjus_psl.1.0.0.UPF" }}
ecutwfc_ry = 40.0
ecutrho_ry = 160.0
temperature_K = 298.0
kpoints = {kpoints}
bands_factor = 3.0
{extra}
[ldos]
{ldos}
[run]
mpi = "{MPI}"
ranks = {ranks}
""")
    return path


def be2_structure(tmp_path):
    import ase
    import ase.io
    atoms = ase.Atoms("Be2", cell=BE2_CELL, pbc=True, scaled_positions=[[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]])
    atoms.positions[0] += [0.05, -0.03, 0.02]      # a rattled cell: no symmetry shortcut
    path = tmp_path / "be2.extxyz"
    ase.io.write(path, atoms)
    return path


def make_data(*args, check=True):
    cmd = [str(BIN / "mlsurrogate"), "make-data", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_kpoint_spacing_gives_the_mesh(tmp_path):
    s = load_settings(write_settings(tmp_path / "s.toml", kpoints="[1, 1, 1]"))
    s = s.__class__(qe=s.qe.__class__(**{**s.qe.__dict__, "kpoints": None, "kpoint_spacing_inv_A": 0.185}),
                    ldos=s.ldos, run=s.run)
    # |b1| = 4π/(√3 a) = 3.2105 1/Å -> 18; |b3| = 2π/c -> ceil(1.7601/0.185) = 10; 4 c -> 3
    assert kpoint_mesh(BE2_CELL, s.qe) == (18, 18, 10)
    assert kpoint_mesh(BE2_CELL * [[1], [1], [4]], s.qe) == (18, 18, 3)


def test_write_only_and_slurm(tmp_path):
    settings = write_settings(tmp_path / "s.toml", kpoints="[5, 5, 3]")
    out = tmp_path / "data"
    make_data("--settings", settings, "--structures", be2_structure(tmp_path), "--out", out, "--write-only")
    pw = (out / "be2" / "pw.in").read_text()
    degauss = kelvin_to_ev(298.0) / RYDBERG_EV
    assert "5 5 3 0 0 0" in pw and f"degauss = {degauss:.10f}" in pw and "nbnd = 6" in pw   # 3 x 4/2
    pp = (out / "be2" / "pp_ldos.in").read_text()
    assert "plot_num = 3" in pp and "emax = 11.05" in pp and "degauss_ldos = 0.1" in pp
    make_data("--settings", settings, "--structures", be2_structure(tmp_path), "--out", out, "--slurm",
              "--time", "01:00:00")
    job = (out / "jobs" / "make_data.slurm").read_text()
    assert "#SBATCH --array=0-0" in job and "#SBATCH --ntasks=2" in job and '--task "$SLURM_ARRAY_TASK_ID"' in job


def test_symmetry_modes_in_pw_input(tmp_path):
    """symmetry: true (pw.x's own reduction), false (nosym + noinv: the whole mesh), "time-reversal" (nosym:
    the mesh with k = -k; for a tilted faulted Be cell with no symmetry, 488 k-points of 18 x 18 x 3 instead of
    the 1232 pw.x samples by itself: benchmarks/results/be_model/session25)."""
    for value, nosym, noinv in (("true", False, False), ("false", True, True), ('"time-reversal"', True, False)):
        settings = write_settings(tmp_path / f"s{nosym}{noinv}.toml", kpoints="[5, 5, 3]", extra=f"symmetry = {value}")
        out = tmp_path / f"d{nosym}{noinv}"
        make_data("--settings", settings, "--structures", be2_structure(tmp_path), "--out", out, "--write-only")
        pw = (out / "be2" / "pw.in").read_text()
        assert ("nosym = .true." in pw, "noinv = .true." in pw) == (nosym, noinv), value


@pytest.mark.parametrize("extra, ldos, message", [
    ("bogus = 1", None, "unknown key(s) in [qe]: bogus"),
    ('symmetry = "none"', None, "symmetry = 'none'"),
    ("", "emin_ev = -5.0\ndelta_e_ev = -0.1\ncount = 5\ndegauss_ldos_ev = 0.1", "delta_e_ev"),
    ("", "emin_ev = -5.0\ndelta_e_ev = 0.1\ncount = 1\ndegauss_ldos_ev = 0.1", "count >= 2"),
])
def test_bad_settings(tmp_path, extra, ldos, message):
    kwargs = {"extra": extra} | ({"ldos": ldos} if ldos else {})
    settings = write_settings(tmp_path / "s.toml", **kwargs)
    proc = make_data("--settings", settings, "--structures", be2_structure(tmp_path), "--out", tmp_path / "d",
                     check=False)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "d").exists()


def test_missing_pseudopotential(tmp_path):
    settings = write_settings(tmp_path / "s.toml")
    settings.write_text(settings.read_text().replace("Be.pbe-n-rrkjus_psl.1.0.0.UPF", "Nope.UPF"))
    with pytest.raises(InputError, match="Nope.UPF"):
        load_settings(settings)


@pytest.mark.skipif(not HAVE_QE, reason="Quantum ESPRESSO (pw.x, pp.x) not installed")
def test_be2_snapshot_reproduces_qe(tmp_path):
    """A rattled Be2 cell, 4x4x3 k-points, LDOS on 0.1 eV with 0.1 eV broadening. The LDOS (1/(eV Å^3))
    summed with the Fermi weights gives QE's density, and evaluate --ldos QE's total energy: the LDOS
    route differs from QE's eigenvalue sum only by the Gaussian broadening (0.1 eV: ~1 meV/atom measured
    on 8-atom cells, O(σ²)), so 5 meV/atom is the bound; the density terms agree to 1e-3 relative."""
    settings = write_settings(tmp_path / "s.toml")
    out = tmp_path / "data"
    proc = make_data("--settings", settings, "--structures", be2_structure(tmp_path), "--out", out)
    snap = json.loads((out / "be2" / "snapshot.json").read_text())
    assert snap["ldos_complete"] and snap["natoms"] == 2 and snap["k_points_irreducible"] > 1
    assert abs(snap["electrons_in_density"] - 4.0) < 1e-4
    ldos = np.load(out / "be2" / "ldos.npy")
    assert ldos.shape == tuple(snap["grid"]) + (161,) and ldos.dtype == np.float32
    assert "snapshots.toml" in proc.stdout
    run_cli(["evaluate", "--structure", out / "be2" / "structure.extxyz", "--ldos", out / "be2" / "ldos.npy",
             "--energy-grid", "-5", "0.1", "161", "--temperature", "298", "--pseudo-dir", BE2,
             "--ecutrho", "160", "--out", tmp_path / "ev"])
    res = read_results(tmp_path / "ev")
    qe = snap["energies_eV"]
    assert abs(res["total_energy_eV"] - qe["total_energy"]) / 2 < 5e-3
    assert abs(res["fermi_energy_eV"] - snap["fermi_energy_eV"]) < 0.1
    assert abs(res["ewald_energy_eV"] - qe["ewald"]) < 1e-5
    # the LDOS density (Fermi weights at the LDOS's own E_F) against pp.x's density: the broadening moves
    # about σ·D(E_F) ≈ 0.1 eV x 0.3/eV = 0.03 of the 4 electrons near E_F, so 1 % in L1
    w = occupation_weights(np.arange(161) * 0.1 - 5.0, res["fermi_energy_eV"], kelvin_to_ev(298.0))
    density = np.load(out / "be2" / "density.npy")
    dv = snap["volume_A3"] / density.size
    assert abs((ldos.astype(float) @ w).sum() * dv - 4.0) < 1e-6
    assert np.abs(ldos.astype(float) @ w - density).sum() * dv / 4.0 < 1e-2
