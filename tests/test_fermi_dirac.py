"""Energy-axis integration: polylogs, antiderivatives, and the DFT-LDOS reference numbers."""
import mpmath
import numpy as np
import pytest

from conftest import BE2_CELL, T_MALA
from mlsurrogate.electronic.dos import dos_observables, fermi_level, electron_count
from mlsurrogate.electronic.fermi_dirac import occupation_weights, primitives
from mlsurrogate.electronic.polylog import li_neg_exp

README = {  # ../shared/testdata/README.md, LDOS-derived values with MALA's conventions
    0: dict(dos=[0.136804, 0.183016, 0.229478, 0.269128, 0.295993, 0.306685, 0.300197, 0.277404, 0.241451,
                 0.197831, 0.152962], ef=10.240735, band=12.447077, ts=-0.0006552),
    1: dict(dos=[0.137315, 0.183837, 0.230758, 0.271009, 0.298469, 0.309398, 0.302424, 0.278406, 0.240945,
                 0.196123, 0.150663], ef=10.149207, band=12.279480, ts=-0.0006617),
}


@pytest.mark.parametrize("s", [1, 2, 3])
def test_polylog_matches_mpmath(s):
    xs = np.concatenate([-np.logspace(-6, 2.5, 120), [0.0, -0.6931, -0.6932]])
    with mpmath.workdps(40):
        # Li1(-e^x) = -log(1 + e^x): mpmath's polylog loses it for tiny e^x, log1p does not
        li = (lambda x: -mpmath.log1p(mpmath.exp(x))) if s == 1 else (lambda x: mpmath.polylog(s, -mpmath.exp(x)))
        ref = np.array([float(li(x)) for x in xs])
    got = li_neg_exp(s, xs)
    assert np.allclose(got, ref, rtol=2e-15, atol=1e-300)


def test_primitives_are_antiderivatives():
    """d/dx of each primitive equals its integrand (central differences, x in units of kT)."""
    x = np.linspace(-30, 30, 121)
    h = 1e-4
    plus, minus = primitives(x + h), primitives(x - h)
    deriv = [(p - m) / (2 * h) for p, m in zip(plus, minus)]
    f = 1.0 / (1.0 + np.exp(x))
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.nan_to_num(f * np.log(f) + (1 - f) * np.log1p(-f))
    for got, want in zip(deriv, [f, x * f, x**2 * f, s, x * s]):
        assert np.allclose(got, want, atol=1e-6)


def test_large_arguments_do_not_cancel():
    """Far above mu the band/entropy primitives go to constants without cancellation noise."""
    f0, f1, f2, s0, s1 = primitives(np.array([800.0]))
    assert abs(f0[0]) < 1e-300 and abs(f2[0]) < 1e-300 and abs(s1[0]) < 1e-300
    assert f1[0] == pytest.approx(np.pi**2 / 6, rel=1e-15)
    assert s0[0] == pytest.approx(-np.pi**2 / 3, rel=1e-15)


def test_flat_dos_fermi_level():
    """A flat DOS D from E0: mu = E0 + N/D exactly (the Sommerfeld terms vanish for a flat DOS)."""
    e = np.linspace(-10, 10, 201)
    d = np.full_like(e, 0.5)
    mu = fermi_level(e, d, 5.0, 300.0)
    # the linear ramp below the first node (one spacing, 0.1 eV) holds 0.5*0.1/2 = 0.025 electrons
    assert mu == pytest.approx(-10.0 + (5.0 - 0.025) / 0.5, abs=1e-9)
    assert electron_count(e, d, mu, 300.0) == pytest.approx(5.0, rel=1e-13)


def test_occupation_weights_sum_to_window_at_low_temperature():
    e = np.linspace(0, 5, 51)
    w = occupation_weights(e, 2.5, 1e-3 * 8.617e-5 * 1e3)
    assert w[:20].sum() == pytest.approx(2.0, rel=1e-12)      # fully occupied hats of width 0.1
    assert abs(w[30:].sum()) < 1e-12


@pytest.mark.parametrize("snap", [0, 1])
def test_dft_ldos_reference(be2, snap):
    ldos = np.load(be2 / f"Be_snapshot{snap}.out.npy").astype(np.float64)
    dv = abs(np.linalg.det(BE2_CELL)) / 8748
    dos = ldos.reshape(-1, 11).sum(axis=0) * dv
    ref = README[snap]
    assert np.allclose(dos, ref["dos"], atol=1e-5 * 0.5 + 1e-12, rtol=0)   # README prints 6 decimals
    obs = dos_observables(-5 + 2.5 * np.arange(11), dos, 4.0, T_MALA)
    assert obs.fermi_energy_ev == pytest.approx(ref["ef"], abs=1e-5)
    assert obs.band_energy_ev == pytest.approx(ref["band"], abs=1e-5)
    assert obs.entropy_contribution_ev == pytest.approx(ref["ts"], abs=1e-7 + 0.5e-7)
    assert obs.number_of_electrons == pytest.approx(4.0, abs=1e-12)
