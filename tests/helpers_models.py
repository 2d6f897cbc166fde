"""Build MALA-style model zips for tests (legacy torch state dict, pickled scalers from the real model)."""
import io
import zipfile

import numpy as np


def write_mala_zip(path, source_zip, transform_state=None, drop=(), replace=None):
    """Copy ``source_zip`` to ``path``, optionally editing the state dict or members.

    transform_state(state_dict_of_numpy) -> state_dict_of_numpy; drop: member suffixes to leave out;
    replace: {suffix: bytes} to substitute members.
    """
    import torch
    from mlsurrogate.model.safe_unpickle import load_legacy_torch
    with zipfile.ZipFile(source_zip) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            if any(name.endswith(s) for s in drop):
                continue
            data = src.read(name)
            for suffix, new in (replace or {}).items():
                if name.endswith(suffix):
                    data = new
            if name.endswith(".network.pth") and transform_state is not None:
                sd = transform_state(load_legacy_torch(data))
                buf = io.BytesIO()
                torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}, buf,
                           _use_new_zipfile_serialization=False)
                data = buf.getvalue()
            dst.writestr(name, data)
    return path


def two_species_model(atoms, seed=0, hidden=16, n_energies=61):
    """A small smooth network (Tanh) with random weights for Be and B: twojmax 4, radii Be 0.5 / B 0.4,
    weights Be 1.0 / B 0.7. Inputs standardised on the descriptors of ``atoms`` (random points); the output
    scaling keeps every LDOS value in [s0/2, 3s0/2] with s0 = electrons / (volume * 15 eV), so the clamp of
    negative LDOS never acts and F(R) is smooth; the Fermi level lies inside the 30 eV grid. Names the
    pslibrary 1.0.0 rrkjus PBE UPFs of both species (file names only). Returns a Model."""
    from mlsurrogate.descriptors.bispectrum import BispectrumParams
    from mlsurrogate.descriptors.native_grid import native_module
    from mlsurrogate.electronic.dos import EnergyGrid
    from mlsurrogate.model.model import Model
    species = ("Be", "B")
    params = BispectrumParams(twojmax=4, radii={"Be": 0.5, "B": 0.4}, weights={"Be": 1.0, "B": 0.7})
    kernel = native_module().SnapGrid(params.twojmax, params.rfac0, params.rmin0, params.switchflag, params.bzeroflag)
    rng = np.random.default_rng(seed)
    types = np.array([species.index(s) for s in atoms.get_chemical_symbols()], dtype=np.int32)
    desc = kernel.compute(atoms.cell.array, atoms.get_scaled_positions(), types,
                          np.array([params.radius(s) for s in species]), np.array([params.weight(s) for s in species]),
                          params.rcutfac, rng.random((200, 3)))[0]
    sizes = [desc.shape[1], hidden, hidden, n_energies]
    weights = [rng.standard_normal((o, i)) / np.sqrt(i) for i, o in zip(sizes[:-1], sizes[1:])]
    biases = [0.1 * rng.standard_normal(o) for o in sizes[1:]]
    valence = {"Be": 2.0, "B": 3.0}
    electrons = sum(valence[s] for s in atoms.get_chemical_symbols())
    s0 = electrons / (abs(np.linalg.det(atoms.cell.array)) * 15.0)
    bound = np.abs(weights[-1]).sum(axis=1).max() + np.abs(biases[-1]).max()   # |last layer| <= bound
    model = Model(species=species, descriptors=params, energy_grid=EnergyGrid(-10.0, 0.5, n_energies),
                  temperature_k=300.0, weights=weights, biases=biases, activations=["Tanh", "Tanh", None],
                  input_shift=desc.mean(axis=0), input_scale=1.0 / desc.std(axis=0),
                  output_scale=np.full(n_energies, 0.5 * s0 / bound), output_shift=np.full(n_energies, s0),
                  grid_spacing_A=(0.25, 0.25, 0.25), electrons_per_atom=valence,
                  pseudopotentials={"Be": "Be.pbe-n-rrkjus_psl.1.0.0.UPF", "B": "B.pbe-n-rrkjus_psl.1.0.0.UPF"},
                  xc_functional="PBE", ecutrho_ry=100.0)
    model.validate()
    return model
