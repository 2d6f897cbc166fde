"""Energy terms: QE's printed numbers (Be2), known answers of our own making, and the pieces."""
import ase
import ase.io
import numpy as np
import pytest

from conftest import BE2, SNAP0, SNAP1, read_results, run_cli

# QE 6.6 "hartree/xc/ewald contribution" (Ry), ../shared/testdata/README.md
QE = {0: {"hartree": 0.00453875, "xc": -3.29457444, "ewald": -6.13837306},
      1: {"hartree": 0.00588562, "xc": -3.29703500, "ewald": -6.11892275}}
# The contract's tolerances (Ry); QE prints 8 decimals (5e-9).
TOL = {"hartree": 1e-7, "xc": 1e-6, "ewald": 1e-7}
UPF = BE2 / "Be.pbe-n-rrkjus_psl.1.0.0.UPF"
SNAPS = {0: SNAP0, 1: SNAP1}
MADELUNG_NACL = 1.747564594633182


def density_file(snap):
    return BE2 / "densities" / f"Be_snapshot{snap}.dens_bohr3.npy"


def be2_inputs(snap):
    from mlsurrogate.energy.setup import energy_inputs
    from mlsurrogate.energy.upf import read_upf
    return energy_inputs(ase.io.read(SNAPS[snap]), {"Be": read_upf(str(UPF))})


def serial_terms(comm, inputs, density, ecutrho=160.0, terms=("hartree", "xc", "ewald")):
    from mlsurrogate.energy.plane_waves import PlaneWaveGrid
    from mlsurrogate.energy.terms import energy_terms
    pw = PlaneWaveGrid(comm, density.shape, inputs.cell_bohr, ecutrho)
    return energy_terms(pw, inputs, density, terms), pw


@pytest.mark.parametrize("snap", [0, 1])
def test_qe_terms_in_process(comm, be2, snap):
    res, _ = serial_terms(comm, be2_inputs(snap), np.load(density_file(snap))[..., 0])
    for term, ref in QE[snap].items():
        assert abs(res[term] - ref) < TOL[term], (term, res[term], ref)
    assert abs(res["electrons"] - 4.0) < 1e-6


@pytest.fixture(scope="module")
def evaluate_runs(tmp_path_factory, be2):
    base = tmp_path_factory.mktemp("evaluate")
    runs = {}
    for snap, n in [(0, 1), (0, 2), (1, 2)]:
        out = base / f"s{snap}n{n}"
        run_cli(["evaluate", "--structure", SNAPS[snap], "--density", density_file(snap), "--pseudo-dir", BE2,
                 "--out", out], nprocs=n)
        runs[snap, n] = read_results(out)
    return runs


def test_evaluate_cli_matches_qe_on_1_and_2_ranks(evaluate_runs):
    from mlsurrogate.units import RYDBERG_EV
    for (snap, n), res in evaluate_runs.items():
        assert res["ecutrho_Ry"] == 160.0 and res["functional"] == "PBE"     # read from the pw.x output
        for term, ref in QE[snap].items():
            assert abs(res["energies_Ry"][term] - ref) < TOL[term], (snap, n, term)
            assert res[f"{term}_energy_eV"] == pytest.approx(res["energies_Ry"][term] * RYDBERG_EV, rel=1e-15)
        assert abs(res["number_of_electrons"] - 4.0) < 1e-6
        # deband = -2 E_H - int v_xc n (QE's "one-electron" bookkeeping)
        e = res["energies_Ry"]
        assert res["e_rho_times_v_hxc_eV"] == pytest.approx((-2 * e["hartree"] - e["vtxc"]) * RYDBERG_EV, rel=1e-14)
    one, two = evaluate_runs[0, 1], evaluate_runs[0, 2]
    for key in ("hartree_energy_eV", "xc_energy_eV", "ewald_energy_eV", "e_rho_times_v_hxc_eV"):
        assert two[key] == pytest.approx(one[key], rel=1e-12), key


def test_evaluate_ldos_gives_total_energy(tmp_path, be2):
    """DFT LDOS -> README's E_F, band energy, -TS; density terms close to those of the DFT density."""
    out = tmp_path / "l"
    run_cli(["evaluate", "--structure", SNAP0, "--ldos", BE2 / "Be_snapshot0.out.npy", "--energy-grid", -5, 2.5, 11,
             "--temperature", 299.98637294316444, "--pseudo-dir", BE2, "--out", out], nprocs=2)
    res = read_results(out)
    assert res["fermi_energy_eV"] == pytest.approx(10.240735, abs=2e-6)
    assert res["band_energy_eV"] == pytest.approx(12.447077, abs=2e-6)
    assert res["entropy_contribution_eV"] == pytest.approx(-0.0006552, abs=2e-7)
    assert abs(res["number_of_electrons"] - 4.0) < 1e-9
    parts = ("band_energy_eV", "entropy_contribution_eV", "hartree_energy_eV", "xc_energy_eV", "ewald_energy_eV",
             "e_rho_times_v_hxc_eV")
    assert res["total_energy_eV"] == pytest.approx(sum(res[k] for k in parts), rel=1e-14)
    assert res["total_energy_per_atom_eV"] == pytest.approx(res["total_energy_eV"] / 2, rel=1e-14)


def test_hartree_of_a_cosine_wave(comm):
    """n = n0 + A cos(G0·r) in a triclinic cell: E_H = 2π Ω A²/|G0|² Ry (G = 0 dropped)."""
    from mlsurrogate.energy.plane_waves import PlaneWaveGrid
    from mlsurrogate.energy.terms import hartree_energy
    cell = np.array([[7.0, 0.0, 0.0], [-2.1, 6.3, 0.0], [0.9, 1.3, 8.2]])
    shape = (24, 24, 30)
    pw = PlaneWaveGrid(comm, shape, cell, 40.0)
    frac = np.stack(np.meshgrid(*[np.arange(n) / n for n in shape], indexing="ij"), axis=-1)
    miller = np.array([1, -2, 1])
    g0 = miller @ pw.recip_lattice
    density = 0.3 + 0.05 * np.cos(2 * np.pi * frac @ miller)
    expected = 2 * np.pi * pw.volume * 0.05 ** 2 / (g0 @ g0)
    assert hartree_energy(pw, pw.forward(density)) == pytest.approx(expected, rel=1e-12)


def rocksalt(a, primitive):
    from ase.build import bulk
    return bulk("NaCl", "rocksalt", a=a, cubic=not primitive)


@pytest.mark.parametrize("primitive", [False, True])
def test_madelung_energy_of_rocksalt(comm, primitive):
    """Point charges ±1 on the NaCl lattice: E = -N_pairs · 2M/r0 Ry (M = 1.747565, r0 = a/2), for two σ."""
    from mlsurrogate.energy.plane_waves import PlaneWaveGrid
    from mlsurrogate.energy.setup import energy_inputs
    from mlsurrogate.energy.terms import ewald_grid, energy_terms
    from mlsurrogate.units import BOHR_ANGSTROM
    a_bohr = 10.0
    atoms = rocksalt(a_bohr * BOHR_ANGSTROM, primitive)
    inputs = energy_inputs(atoms, valences={"Na": 1.0, "Cl": -1.0}, need_functional=False)
    pairs = len(atoms) // 2
    expected = -pairs * 2 * MADELUNG_NACL / (a_bohr / 2)
    for scale in (1.0, 1.6):
        shape = tuple(int(n * scale) for n in ewald_grid(inputs.cell_bohr))
        pw = PlaneWaveGrid(comm, shape, inputs.cell_bohr, 0.0)
        assert energy_terms(pw, inputs, None, ("ewald",))["ewald"] == pytest.approx(expected, rel=1e-11)


def test_gaussian_deposit_has_the_analytic_fourier_transform(comm):
    """FFT of a deposited Gaussian (off-grid centre, oblique cell) = exp(-G²σ²/2) e^{-iGτ}/Ω in the sphere."""
    from mlsurrogate.energy.gaussians import deposit_gaussians
    from mlsurrogate.energy.plane_waves import PlaneWaveGrid
    cell = np.array([[6.0, 0.0, 0.0], [-3.0, 5.2, 0.0], [0.7, -0.4, 9.1]])
    shape = (20, 20, 30)
    pw = PlaneWaveGrid(comm, shape, cell, 30.0)
    tau = np.array([0.123, 0.871, 0.457])
    sigma = 2.0 * max(np.linalg.norm(cell, axis=1) / shape)
    block = deposit_gaussians(cell, shape, pw.real_start, pw.real_shape, tau[None], [1.0], sigma)
    assert block.sum() * pw.dv == pytest.approx(1.0, rel=1e-12)
    g = np.stack(pw.g_components(), axis=-1)
    expected = np.exp(-0.5 * pw.g2 * sigma ** 2 - 1j * g @ (tau @ cell)) / pw.volume
    got = pw.forward(block)
    assert np.max(np.abs(got - expected)[pw.sphere]) < 1e-12 / pw.volume


def test_core_charge_equals_the_direct_structure_factor(comm, be2):
    """n_core(G) from Gaussians + one FFT equals QE's Σ_i e^{-iGτ_i} ρ̃(|G|) (O(N·N_G)) on Be2."""
    from mlsurrogate.energy.core_charge import CoreFormFactor, core_density_g, radial_cutoff_index, simpson_qe
    from mlsurrogate.energy.plane_waves import PlaneWaveGrid
    from mlsurrogate.energy.terms import SIGMA_GRID_STEPS, _gaussians_g
    from mlsurrogate.energy.xc import xc_energy
    inputs = be2_inputs(0)
    pw = PlaneWaveGrid(comm, (18, 18, 27), inputs.cell_bohr, 160.0)
    sigma = SIGMA_GRID_STEPS * max(np.linalg.norm(inputs.cell_bohr, axis=1) / pw.shape)
    got = core_density_g(pw, _gaussians_g(pw, inputs, ["Be"], sigma), inputs.pseudos, sigma)
    pp = inputs.pseudos["Be"]
    form = CoreFormFactor(pp, np.sqrt(160.0))
    g = np.stack(pw.g_components(), axis=-1)
    phases = sum(np.exp(-1j * g @ tau) for tau in inputs.frac @ inputs.cell_bohr)
    direct = np.zeros_like(got)
    direct[pw.sphere] = phases[pw.sphere] * form(np.sqrt(pw.g2[pw.sphere])) / pw.volume
    # aliasing of the sampled Gaussians leaves ~1e-6 of the peak at the sphere's edge, where n_core(G) is tiny:
    assert np.max(np.abs(got - direct)) < 1e-5 * np.max(np.abs(direct))
    # what matters is E_xc: the two core charges give the same energy far below the 1e-6 Ry contract
    n_g = pw.forward(np.load(density_file(0))[..., 0])
    n_g[~pw.sphere] = 0.0
    assert abs(xc_energy(pw, n_g, got, "PBE")[0] - xc_energy(pw, n_g, direct, "PBE")[0]) < 1e-8
    # the table interpolates QE's per-shell Simpson integral (QE 6.6 evaluates it for every shell)
    m = radial_cutoff_index(pp.r)
    assert m % 2 == 1 and pp.r[m - 1] > 10.0 - 1e-12
    q = 7.3
    exact = 4 * np.pi * simpson_qe(pp.r[:m] ** 2 * pp.core_charge[:m] * np.sinc(q * pp.r[:m] / np.pi), pp.rab[:m])
    assert form(q) == pytest.approx(exact, rel=1e-9)


def test_supercell_terms_are_extensive(comm, be2):
    """The 2x1x2 tiling of snapshot 1 (density and atoms) gives 4x every term (the sphere now touches the
    Nyquist plane along z: G-vectors there are dropped, and the tiled density has none)."""
    inputs = be2_inputs(1)
    density = np.load(density_file(1))[..., 0]
    one, _ = serial_terms(comm, inputs, density)
    from mlsurrogate.energy.setup import energy_inputs
    big = energy_inputs(ase.io.read(SNAP1).repeat((2, 1, 2)), inputs.pseudos)
    four, _ = serial_terms(comm, big, np.tile(density, (2, 1, 2)))
    for term in ("hartree", "xc", "vtxc", "ewald"):
        assert four[term] == pytest.approx(4 * one[term], rel=1e-10), term


def finite_difference(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


def test_lda_potentials_are_derivatives_of_the_energy():
    from mlsurrogate.energy.xc_functionals import perdew_wang, perdew_zunger, rs_of_rho, slater
    rho = np.array([1e-4, 3e-3, 0.02, 0.3, 2.0, 9.0])      # rs from 13 down to 0.3 (both PZ branches)
    for functional in (slater, perdew_zunger, perdew_wang):
        def energy_density(r):
            return r * functional(rs_of_rho(r))[0]
        v = functional(rs_of_rho(rho))[1]
        assert np.allclose(v, finite_difference(energy_density, rho, 1e-6 * rho), rtol=1e-7), functional.__name__


def test_gga_potentials_are_derivatives_of_the_energy():
    from mlsurrogate.energy.xc_functionals import pbe_correlation, pbe_exchange
    rho = np.array([2e-3, 0.05, 0.4, 3.0])
    grad = np.array([1e-3, 0.04, 0.9, 2.0])                  # |∇ρ|
    for functional in (pbe_exchange, pbe_correlation):
        s, v1, v2 = functional(rho, grad ** 2)
        d_rho = finite_difference(lambda r: functional(r, grad ** 2)[0], rho, 1e-6 * rho)
        d_grad = finite_difference(lambda g: functional(rho, g ** 2)[0], grad, 1e-6 * grad)
        assert np.allclose(v1, d_rho, rtol=1e-6), functional.__name__
        assert np.allclose(v2 * grad, d_grad, rtol=1e-6), functional.__name__


def test_uniform_gas_pbe_reduces_to_lda(comm):
    """A constant density has no gradient: E_xc = Ω ρ e2 (e_x + e_c) with PW92 (PBE's LDA part)."""
    from mlsurrogate.energy.plane_waves import PlaneWaveGrid
    from mlsurrogate.energy.xc import xc_energy
    from mlsurrogate.energy.xc_functionals import perdew_wang, rs_of_rho, slater
    cell = np.diag([5.0, 6.0, 7.0])
    pw = PlaneWaveGrid(comm, (10, 12, 14), cell, 20.0)
    n_g = pw.forward(np.full(pw.real_shape, 0.03))
    rs = rs_of_rho(np.array([0.03]))
    expected = pw.volume * 0.03 * 2 * (slater(rs)[0] + perdew_wang(rs)[0])[0]
    e_xc, v_xc = xc_energy(pw, n_g, np.zeros_like(n_g), "PBE")
    assert e_xc == pytest.approx(expected, rel=1e-13)
    assert v_xc == pytest.approx(pw.volume * 0.03 * 2 * (slater(rs)[1] + perdew_wang(rs)[1])[0], rel=1e-13)


def expect_evaluate_failure(tmp_path, args, message):
    out = tmp_path / "out"
    proc = run_cli(["evaluate", "--structure", SNAP0, *args, "--out", out], nprocs=2, timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count(message) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (out / "results.json").exists()


def edited_upf(tmp_path, edit):
    d = tmp_path / "pseudo"
    d.mkdir()
    (d / UPF.name).write_text(edit(UPF.read_text()))
    return d


@pytest.mark.parametrize("case", ["missing", "no_nlcc", "functional", "charged", "coarse", "nan"])
def test_energy_failure_modes(tmp_path, be2, case):
    density = ["--density", density_file(0)]
    if case == "missing":
        (tmp_path / "empty").mkdir()
        expect_evaluate_failure(tmp_path, [*density, "--pseudo-dir", tmp_path / "empty"], "no pseudopotential for Be")
    elif case == "no_nlcc":
        d = edited_upf(tmp_path, lambda t: t[:t.index("<PP_NLCC")] + t[t.index("</PP_NLCC>") + 10:])
        expect_evaluate_failure(tmp_path, [*density, "--pseudo-dir", d], "there is no <PP_NLCC>")
    elif case == "functional":
        d = edited_upf(tmp_path, lambda t: t.replace('functional="PBE"', 'functional="BLYP"'))
        expect_evaluate_failure(tmp_path, [*density, "--pseudo-dir", d], "'BLYP' is not supported")
    elif case == "charged":
        expect_evaluate_failure(tmp_path, [*density, "--pseudo-dir", BE2, "--valence", "Be=3"], "not neutral")
    elif case == "coarse":
        expect_evaluate_failure(tmp_path, [*density, "--pseudo-dir", BE2, "--ecutrho", 600], "too coarse")
    else:
        bad = np.load(density_file(0))
        bad[3, 4, 5] = np.nan
        np.save(tmp_path / "nan.npy", bad)
        expect_evaluate_failure(tmp_path, ["--density", tmp_path / "nan.npy", "--pseudo-dir", BE2], "NaN")


def test_predict_without_the_models_pseudopotential(tmp_path, be2):
    """A model copied away from its UPF: a clear error before any descriptor is computed."""
    import shutil
    model = tmp_path / "Be_model.zip"
    shutil.copy(BE2 / "Be_model.zip", model)
    proc = run_cli(["predict", "--model", model, "--structure", SNAP0, "--out", tmp_path / "o"], nprocs=2,
                   timeout=120, check=False)
    assert proc.returncode == 2 and proc.stderr.count("pseudopotential for Be not found") == 1, proc.stderr
    assert "pass" not in proc.stdout and not (tmp_path / "o" / "results.json").exists()
