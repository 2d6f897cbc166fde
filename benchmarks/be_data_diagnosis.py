"""Why a Be model misses the I2 fault energy: consistency of the DFT LDOS and where a model's errors sit.

Reads make-data snapshots (scripts/be_dataset.py, default ~/.cache/mlsurrogate/be) and prints
1. identical environments: for every grid point of snapshot B whose descriptors equal (scaled distance
   < 1e-2) those of a point of snapshot A (default perfect_8), the RMS difference of the two DFT LDOS
   (1/(eV Å^3)), the mean difference of their band-energy densities relative to each cell's E_F, and the
   two Fermi levels (a local model must give such points the same LDOS);
2. with --model: per close-packed layer (1 x 1 cells: one atom per layer, nz/layers grid planes each) the
   model's band-energy error sum_r (LDOS_model - LDOS_DFT)(r)·w dV, w the engine's weights of
   integral (E - E_F) f(E) D(E) dE at the snapshot's DFT Fermi level (eV per layer).
Descriptors: the native kernel (equal to LAMMPS to ~1e-14), the model's settings or MALA's Be settings.

Usage: .venv/bin/python benchmarks/be_data_diagnosis.py [--data DIR] [--reference perfect_8]
           [--compare i2_8 perfect_12 i2_12] [--model models/be.mlsm --layers i2_8 perfect_8] [--json OUT]
"""
import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)


def snapshot(data, name, params):
    import ase.io
    from mpi4py import MPI
    from mlsurrogate.descriptors.field import compute_descriptor_field
    folder = os.path.join(data, name)
    ldos = np.load(os.path.join(folder, "ldos.npy"))
    meta = json.load(open(os.path.join(folder, "snapshot.json")))
    atoms = ase.io.read(os.path.join(folder, "structure.extxyz"))
    grid = ldos.shape[:3]
    desc = np.empty(grid + (params.n_features,))

    def sink(idx, d):
        desc[idx[:, 0], idx[:, 1], idx[:, 2]] = d
    compute_descriptor_field(MPI.COMM_SELF, atoms, params, grid, "native", 1 << 22, sink)
    return {"ldos": ldos, "desc": desc, "fermi": meta["fermi_energy_eV"], "atoms": atoms,
            "dv": atoms.get_volume() / np.prod(grid), "egrid": meta["energy_grid"], "T": meta["temperature_K"]}


def band_weights_rel(s):
    from mlsurrogate.electronic.fermi_dirac import band_weights, occupation_weights
    from mlsurrogate.units import kelvin_to_ev
    g = s["egrid"]
    e = g["offset_ev"] + g["spacing_ev"] * np.arange(g["count"])
    kt = kelvin_to_ev(s["T"])
    return band_weights(e, s["fermi"], kt) - s["fermi"] * occupation_weights(e, s["fermi"], kt)


def main():
    from scipy.spatial import cKDTree
    from mlsurrogate.descriptors.bispectrum import BispectrumParams
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.path.expanduser("~/.cache/mlsurrogate/be"))
    p.add_argument("--reference", default="perfect_8")
    p.add_argument("--compare", nargs="*", default=["i2_8", "perfect_12", "i2_12"])
    p.add_argument("--model")
    p.add_argument("--layers", nargs="*", default=["perfect_8", "i2_8", "perfect_8_z1", "i2_8_z2"])
    p.add_argument("--json")
    args = p.parse_args()
    model = None
    if args.model:
        from mpi4py import MPI
        from mlsurrogate import load_model
        model = load_model(MPI.COMM_SELF, args.model)
        params = model.descriptors
    else:
        params = BispectrumParams(twojmax=10, rcutfac=4.67637, rfac0=0.99363, switchflag=1,
                                  radii={"Be": 0.5}, weights={"Be": 1.0})
    out = {"identical_environments": {}, "layer_band_energy_error_eV": {}}
    ref = snapshot(args.data, args.reference, params)
    k = ref["desc"].shape[-1]
    x_ref = ref["desc"].reshape(-1, k)
    scale = np.where(x_ref.std(axis=0) > 0, x_ref.std(axis=0), 1.0)
    tree = cKDTree(x_ref / scale)
    w_ref = band_weights_rel(ref)
    print(f"identical environments (scaled descriptor distance < 1e-2) against {args.reference} "
          f"(E_F {ref['fermi']:.4f} eV)")
    for name in args.compare:
        s = snapshot(args.data, name, params)
        dist, idx = tree.query(s["desc"].reshape(-1, k) / scale, distance_upper_bound=1e-2)
        m = dist < 1e-2
        a, b = s["ldos"].reshape(-1, a_n := s["ldos"].shape[-1])[m], ref["ldos"].reshape(-1, a_n)[idx[m]]
        de = a @ band_weights_rel(s) - b @ w_ref
        row = {"points": int(m.sum()), "of": int(m.size), "ldos_rms_difference": float(np.sqrt(np.mean((a - b) ** 2))),
               "ldos_rms": float(np.sqrt(np.mean(b ** 2))),
               "band_energy_density_difference_eV_per_A3": float(de.mean()),
               "fermi_eV": s["fermi"], "fermi_difference_eV": s["fermi"] - ref["fermi"]}
        out["identical_environments"][name] = row
        print(f"  {name:12s} {row['points']:6d} of {row['of']:6d} points: LDOS RMS difference "
              f"{row['ldos_rms_difference']:.2e} (LDOS RMS {row['ldos_rms']:.2e}) 1/(eV A^3); band-energy "
              f"density difference {row['band_energy_density_difference_eV_per_A3']:+.2e} eV/A^3; "
              f"E_F {s['fermi']:.4f} ({row['fermi_difference_eV']:+.4f}) eV")
    if model is not None:
        from mlsurrogate.model.inference import LdosNetwork
        net = LdosNetwork(model)
        print(f"band-energy error of {args.model} per close-packed layer (eV), relative to the DFT E_F:")
        for name in args.layers:
            s = snapshot(args.data, name, params)
            pred = net(s["desc"].reshape(-1, k))
            err = ((pred - s["ldos"].reshape(pred.shape)) @ band_weights_rel(s)).reshape(s["ldos"].shape[:3])
            per_layer = (err.sum(axis=(0, 1)) * s["dv"]).reshape(len(s["atoms"]), -1).sum(axis=1)
            out["layer_band_energy_error_eV"][name] = per_layer.tolist()
            print(f"  {name:12s} total {per_layer.sum():+.4f}  per layer {np.array2string(per_layer, precision=4)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
