"""Rigid sub-grid translation of a DFT snapshot (training-data augmentation). Stage: DFT data.

A field QE writes on its FFT grid (density, LDOS per energy) is band-limited by the ecutrho sphere, which
the grid holds, so its values at r - s follow exactly from its Fourier coefficients: f_s(r) = f(r - s).
Shifting the atoms by s and the fields by the same s gives the snapshot DFT would give for the translated
cell (up to QE's own small egg-box effect), sampled at new positions relative to the atoms. Training on
such copies teaches the network the LDOS between the grid points of the original cell.
"""
import numpy as np

__all__ = ["fourier_shift", "shift_structure"]


def fourier_shift(field, frac, chunk=16):
    """Values of a periodic band-limited field at r - s on the same grid.

    field : (n1, n2, n3) or (n1, n2, n3, m) array, element [i,j,k] at r = i/n1 a + j/n2 b + k/n3 c;
    frac : (3,) the shift s in fractions of the cell vectors. Same shape and dtype as ``field``; the
    Nyquist planes of even n (outside QE's ecutrho sphere, ~0) are dropped. Works ``chunk`` energies at a time.
    """
    field = np.asarray(field)
    shape3 = field.shape[:3]
    phase = np.ones(shape3, dtype=np.complex128)
    for axis, (n, f) in enumerate(zip(shape3, frac)):
        m = np.fft.fftfreq(n, 1.0 / n)                      # integer frequencies, Nyquist negative
        p = np.exp(-2j * np.pi * m * f)
        if n % 2 == 0:
            p[n // 2] = 0.0
        shape = [1, 1, 1]
        shape[axis] = n
        phase = phase * p.reshape(shape)
    if field.ndim == 3:
        return np.fft.ifftn(np.fft.fftn(field) * phase).real.astype(field.dtype)
    out = np.empty_like(field)
    for lo in range(0, field.shape[3], chunk):
        block = np.fft.fftn(field[..., lo:lo + chunk], axes=(0, 1, 2)) * phase[..., None]
        out[..., lo:lo + chunk] = np.fft.ifftn(block, axes=(0, 1, 2)).real
    return out


def shift_structure(atoms, frac):
    """Copy of ``atoms`` translated by the fractional vector ``frac`` (wrapped into the cell)."""
    moved = atoms.copy()
    moved.positions += np.asarray(frac) @ np.asarray(atoms.cell)
    moved.wrap()
    return moved
