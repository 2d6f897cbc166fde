"""Exchange-correlation formulas exactly as Quantum ESPRESSO's XClib evaluates them. Stage: energy.

Hartree atomic units, per point, vectorised over numpy arrays (spin-unpolarised). Constants and the
``iflag = 1`` variants are QE's (``slater``, ``pz``, ``pw``, ``pbex``, ``pbec``), so energies match QE
to round-off; libxc's PBE differs by ~1e-7 Ha/electron (more digits in PW92).

LDA routines take rs (bohr) and return (e, v): energy per electron and potential d(ρe)/dρ.
GGA routines take ρ > 0 and |∇ρ|² and return (s, v1, v2): the gradient correction per volume,
∂s/∂ρ and (1/|∇ρ|)·∂s/∂|∇ρ|.
"""
import numpy as np

__all__ = ["slater", "perdew_zunger", "perdew_wang", "pbe_exchange", "pbe_correlation", "rs_of_rho",
           "THIRD", "PI34"]

THIRD = 1.0 / 3.0
PI34 = 0.6203504908994          # (3/4π)^{1/3}: rs = PI34 / ρ^{1/3}


def rs_of_rho(rho):
    return PI34 / rho ** THIRD


def slater(rs):
    """Slater exchange (alpha = 2/3)."""
    f, alpha = -0.687247939924714, 2.0 / 3.0
    ex = f * alpha / rs
    return ex, 4.0 / 3.0 * f * alpha / rs


def perdew_zunger(rs):
    """Perdew-Zunger 1981 correlation (QE ``pz``, iflag 1)."""
    a, b, c, d = 0.0311, -0.048, 0.0020, -0.0116
    gc, b1, b2 = -0.1423, 1.0529, 0.3334
    ec, vc = np.empty_like(rs), np.empty_like(rs)
    hi = rs < 1.0
    r = rs[hi]
    lnrs = np.log(r)
    ec[hi] = a * lnrs + b + c * r * lnrs + d * r
    vc[hi] = a * lnrs + (b - a / 3.0) + 2.0 / 3.0 * c * r * lnrs + (2.0 * d - c) / 3.0 * r
    r = rs[~hi]
    rs12 = np.sqrt(r)
    ox = 1.0 + b1 * rs12 + b2 * r
    dox = 1.0 + 7.0 / 6.0 * b1 * rs12 + 4.0 / 3.0 * b2 * r
    ec[~hi] = gc / ox
    vc[~hi] = ec[~hi] * dox / ox
    return ec, vc


def perdew_wang(rs):
    """Perdew-Wang 1992 correlation (QE ``pw``, iflag 1; QE's digits)."""
    a, a1, b1, b2, b3, b4 = 0.031091, 0.21370, 7.5957, 3.5876, 1.6382, 0.49294
    rs12 = np.sqrt(rs)
    rs32 = rs * rs12
    rs2 = rs * rs
    om = 2.0 * a * (b1 * rs12 + b2 * rs + b3 * rs32 + b4 * rs2)
    dom = 2.0 * a * (0.5 * b1 * rs12 + b2 * rs + 1.5 * b3 * rs32 + 2.0 * b4 * rs2)
    olog = np.log(1.0 + 1.0 / om)
    ec = -2.0 * a * (1.0 + a1 * rs) * olog
    vc = -2.0 * a * (1.0 + 2.0 / 3.0 * a1 * rs) * olog - 2.0 / 3.0 * a * (1.0 + a1 * rs) * dom / (om * (om + 1.0))
    return ec, vc


def pbe_exchange(rho, grho2):
    """PBE exchange gradient correction (QE ``pbex``, iflag 1)."""
    kappa, mu = 0.804, 0.2195149727645171
    c1, c2, c5 = 0.75 / np.pi, 3.093667726280136, 4.0 / 3.0
    agrho = np.sqrt(grho2)
    kf = c2 * rho ** THIRD
    dsg = 0.5 / kf
    s1 = agrho * dsg / rho
    s2 = s1 * s1
    ds = -c5 * s1
    f2 = 1.0 + s2 * mu / kappa
    fx = kappa - kappa / f2
    exunif = -c1 * kf
    sx = exunif * fx
    dfx = 2.0 * mu * s1 / (f2 * f2)
    v1x = sx + exunif * THIRD * fx + exunif * dfx * ds
    v2x = exunif * dfx * dsg / agrho
    return sx * rho, v1x, v2x


def pbe_correlation(rho, grho2):
    """PBE correlation gradient correction (QE ``pbec``, iflag 1)."""
    ga, be = 0.0310906908696548950, 0.06672455060314922
    xkf, xks = 1.919158292677513, 1.128379167095513
    rs = PI34 / rho ** THIRD
    ec, vc = perdew_wang(rs)
    kf = xkf / rs
    ks = xks * np.sqrt(kf)
    t = np.sqrt(grho2) / (2.0 * ks * rho)
    expe = np.exp(-ec / ga)
    af = be / ga * (1.0 / (expe - 1.0))
    bf = expe * (vc - ec)
    y = af * t * t
    xy = (1.0 + y) / (1.0 + y + y * y)
    qy = y * y * (2.0 + y) / (1.0 + y + y * y) ** 2
    s1 = 1.0 + be / ga * t * t * xy
    h0 = ga * np.log(s1)
    dh0 = be * t * t / s1 * (-7.0 / 3.0 * xy - qy * (af * bf / be - 7.0 / 3.0))
    ddh0 = be / (2.0 * ks * ks * rho) * (xy - qy) / s1
    return rho * h0, h0 + dh0, ddh0
