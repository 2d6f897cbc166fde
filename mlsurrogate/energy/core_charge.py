"""The pseudopotentials' nonlinear core charge on the grid, in linear scaling. Stage: energy.

QE (``set_rhoc``): n_core(G) = Σ_t S_t(G)·ρ̃_t(|G|) in the ecutrho sphere, with
ρ̃_t(q) = (4π/Ω) ∫_0^{r_msh} r² ρ_core(r) sin(qr)/(qr) dr (QE's Simpson rule, r_msh ≈ 10 bohr) and the
structure factor S_t(G) = Σ_{i∈t} e^{-iG·τ_i}, which costs O(atoms × G) when summed directly.

Here S_t(G) comes from Gaussians of width σ deposited at the atoms (``gaussians.py``, O(atoms)) and one
FFT: D_t(G) = FFT(Σ_{i∈t} g_σ(r-τ_i)) = ĝ(G) S_t(G)/Ω, ĝ(G) = exp(-G²σ²/2), so n_core(G) =
Σ_t D_t(G) e^{G²σ²/2} Ω ρ̃_t(|G|). σ ≈ 2 grid steps keeps both the aliasing of g_σ and the growth of
e^{G²σ²/2} at the sphere's edge harmless (checked on Be2: E_xc equals the direct sum to < 1e-8 Ry).
"""
import numpy as np

__all__ = ["simpson_qe", "radial_cutoff_index", "CoreFormFactor", "core_density_g"]

#: Radial integrals stop at the first mesh point beyond this radius (QE ``read_pseudo``: rcut = 10 bohr).
RADIAL_CUTOFF_BOHR = 10.0
#: Spacing of the tabulated form factor, 1/bohr (4-point Lagrange interpolation in between).
TABLE_DQ = 0.002


def radial_cutoff_index(r):
    """QE's ``msh``: number of mesh points used, the first point beyond 10 bohr, forced odd."""
    beyond = np.nonzero(r > RADIAL_CUTOFF_BOHR)[0]
    msh = int(beyond[0]) + 1 if len(beyond) else len(r)
    return 2 * ((msh + 1) // 2) - 1


def _simpson_weights(n):
    w = np.zeros(n)
    w[0:n - 1:2] += 1.0
    w[2:n:2] += 1.0
    w[1:n - 1:2] += 4.0
    return w / 3.0


def simpson_qe(f, rab):
    """QE's ``simpson`` on an odd number of points: Σ (f_{i-1} + 4 f_i + f_{i+1}) rab/3 over odd i."""
    return float(np.sum(_simpson_weights(len(f)) * f * rab))


class CoreFormFactor:
    """Ω·ρ̃(q) = 4π ∫ r² ρ_core(r) j0(qr) dr (electrons) for one species, tabulated up to ``qmax`` (1/bohr)."""

    def __init__(self, pseudo, qmax):
        msh = radial_cutoff_index(pseudo.r)
        r, rab, rho = pseudo.r[:msh], pseudo.rab[:msh], pseudo.core_charge[:msh]
        self.q = np.arange(int(np.ceil(qmax / TABLE_DQ)) + 4) * TABLE_DQ
        kernel = _simpson_weights(msh) * r * r * rho * rab
        self.table = np.concatenate([4 * np.pi * (np.sinc(np.multiply.outer(q, r / np.pi)) @ kernel)
                                     for q in np.array_split(self.q, max(1, len(self.q) // 512))])

    def __call__(self, q):
        """Interpolated form factor at |G| = q (any shape), 4-point Lagrange like QE's tables."""
        x = np.asarray(q) / TABLE_DQ
        i0 = np.floor(x).astype(np.int64)
        t = x - i0
        f = self.table
        fm1 = f[np.abs(i0 - 1)]                 # the form factor is even in q
        return (-t * (t - 1) * (t - 2) / 6 * fm1 + (t + 1) * (t - 1) * (t - 2) / 2 * f[i0]
                - (t + 1) * t * (t - 2) / 2 * f[i0 + 1] + (t + 1) * t * (t - 1) / 6 * f[i0 + 2])


def core_density_g(pw, gaussians_g, pseudos, sigma, forms=None):
    """n_core(G) (electrons/bohr³, QE normalisation) in the sphere, zero outside. Local.

    gaussians_g : {species: D_t(G)} on this rank's reciprocal block (see module docstring); forms : optional
    {species: CoreFormFactor} already tabulated up to sqrt(pw.ecutrho) (else tabulated here).
    """
    out = np.zeros(pw.g2.shape, dtype=complex)
    q = np.sqrt(pw.g2[pw.sphere])
    for species, d_g in gaussians_g.items():
        pp = pseudos[species]
        if pp.core_charge is None:
            continue
        form = forms[species] if forms is not None else CoreFormFactor(pp, np.sqrt(pw.ecutrho))
        out[pw.sphere] += d_g[pw.sphere] * np.exp(0.5 * pw.g2[pw.sphere] * sigma * sigma) * form(q)
    return out
