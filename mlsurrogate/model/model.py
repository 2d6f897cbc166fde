"""The in-memory model: a feed-forward network from descriptors to LDOS plus everything inference needs.

Any on-disk format (MALA zip, our own) loads into :class:`Model`. Weights are numpy arrays; the torch
module is built from them in :mod:`mlsurrogate.model.inference`.
"""
from dataclasses import dataclass, field

import numpy as np

from ..descriptors.bispectrum import BispectrumParams
from ..electronic.dos import EnergyGrid
from ..errors import ModelError

__all__ = ["Model", "ACTIVATIONS"]

ACTIVATIONS = ("ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "SiLU")


@dataclass
class Model:
    """Descriptors (n, K) -> LDOS (n, n_energies) in 1/(eV Å^3).

    weights[i] : (out_i, in_i) float32/64; biases[i] : (out_i,)
    activations[i] : activation after layer i (None = linear); len == len(weights)
    input_shift/input_scale : (K,), scaled = (x - shift) * scale   (feature-wise standardisation)
    output_scale/output_shift : scalars or (n_energies,), ldos = y * scale + shift
    grid_spacing_A : (3,) spacing along the three lattice vectors of the training cell, Å
    """
    species: tuple
    descriptors: BispectrumParams
    energy_grid: EnergyGrid
    temperature_k: float
    weights: list
    biases: list
    activations: list
    input_shift: np.ndarray
    input_scale: np.ndarray
    output_scale: np.ndarray
    output_shift: np.ndarray
    grid_spacing_A: tuple
    electrons_per_atom: dict            # species -> valence electrons
    clamp_negative: bool = True
    pseudopotentials: dict = field(default_factory=dict)
    xc_functional: str = None           # of the training DFT data (e.g. "PBE"); checked against the UPFs
    ecutrho_ry: float = None            # QE's density cutoff of the training data, Ry (the energy stage's default)
    ldos_broadening_std_ev: float = 0.0  # Gaussian std (eV) of the LDOS the network was trained on, when it is
                                        # worth correcting for (electronic.dos.broadening_correction); 0: none
    source: str = None                  # absolute path the model was read from (runtime; not written)
    source_format: str = None           # "mlsurrogate-model" or "mala-zip" (runtime; not written)
    metadata: dict = field(default_factory=dict)   # provenance only: training record, training RDF, conversion

    @property
    def n_features(self):
        return self.weights[0].shape[1]

    @property
    def n_energies(self):
        return self.weights[-1].shape[0]

    @property
    def layer_sizes(self):
        return [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]

    def validate(self):
        """Check internal consistency; raise ModelError with the reason."""
        if len(self.weights) != len(self.biases) or len(self.weights) != len(self.activations):
            raise ModelError("model has mismatched numbers of weights, biases and activations")
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if w.ndim != 2 or b.shape != (w.shape[0],):
                raise ModelError(f"layer {i}: weight {w.shape} and bias {b.shape} do not fit")
            if i and w.shape[1] != self.weights[i - 1].shape[0]:
                raise ModelError(f"layer {i} expects {w.shape[1]} inputs, layer {i-1} gives {self.weights[i-1].shape[0]}")
            if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
                raise ModelError(f"layer {i} has non-finite weights")
        for a in self.activations:
            if a is not None and a not in ACTIVATIONS:
                raise ModelError(f"unsupported activation {a!r}; known: {', '.join(ACTIVATIONS)}")
        if self.n_features != self.descriptors.n_features:
            raise ModelError(f"network takes {self.n_features} inputs but the descriptor settings "
                             f"(twojmax {self.descriptors.twojmax}) give {self.descriptors.n_features}")
        if self.n_energies != self.energy_grid.count:
            raise ModelError(f"network gives {self.n_energies} outputs but the energy grid has "
                             f"{self.energy_grid.count} points")
        if np.shape(self.input_shift) != (self.n_features,) or np.shape(self.input_scale) != (self.n_features,):
            raise ModelError("input scaler does not match the number of descriptors")
        if not self.species:
            raise ModelError("model names no species")
        missing = [s for s in self.species if s not in self.electrons_per_atom]
        if missing:
            raise ModelError(f"model lacks valence electron counts for {missing}")
        if not (np.isfinite(self.temperature_k) and self.temperature_k > 0):
            raise ModelError(f"model temperature {self.temperature_k} K: must be positive and finite")
        bad = {s: z for s, z in self.electrons_per_atom.items() if not (np.isfinite(z) and z > 0)}
        if bad:
            raise ModelError(f"model valence electrons {bad}: must be positive and finite")
        spacing = np.asarray(self.grid_spacing_A, dtype=float)
        if spacing.shape != (3,) or not np.all(np.isfinite(spacing) & (spacing > 0)):
            raise ModelError(f"model grid spacing {list(self.grid_spacing_A)} Å: needs three positive finite numbers")
        if not (np.isfinite(self.ldos_broadening_std_ev) and self.ldos_broadening_std_ev >= 0):
            raise ModelError(f"model LDOS broadening {self.ldos_broadening_std_ev} eV: must be finite and >= 0")
        g = self.energy_grid
        if not (np.isfinite(g.offset_ev) and np.isfinite(g.spacing_ev) and g.spacing_ev > 0):
            raise ModelError(f"model energy grid offset {g.offset_ev} eV, spacing {g.spacing_ev} eV: must be finite, "
                             "spacing > 0")
        for w in self.weights:
            if w.dtype not in (np.float32, np.float64):
                raise ModelError(f"model weights are {w.dtype}; float32 or float64 expected")
