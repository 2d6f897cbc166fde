"""Write a MALA-format model zip with random weights, for memory/speed measurements only.

Example: python benchmarks/random_model.py --layers 91 800 800 800 250 250 --out /tmp/prod.zip
The LDOS grid is 250 points from -10 eV in 0.1 eV steps (production-like); outputs are scaled so
that the LDOS is positive and of Be's magnitude, so a Fermi level exists. It names Be2's UPF
(Be.pbe-n-rrkjus_psl.1.0.0.UPF) and ecutrho 160 Ry, so the energy stage runs with that --pseudo-dir.
"""
import argparse
import io
import json
import zipfile

import numpy as np


def write_random_model(path, layers, seed=0, spacing=0.1, offset=-10.0):
    import torch
    rng = np.random.default_rng(seed)
    sd = {}
    for i, (n_in, n_out) in enumerate(zip(layers[:-1], layers[1:])):
        sd[f"layers.{2 * i}.weight"] = torch.from_numpy(
            (rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)).astype(np.float32))
        sd[f"layers.{2 * i}.bias"] = torch.zeros(n_out)
    buf = io.BytesIO()
    torch.save(sd, buf, _use_new_zipfile_serialization=False)
    n_e = layers[-1]
    params = {"network": {"layer_sizes": list(layers), "layer_activations": ["ReLU"]},
              "descriptors": {"descriptor_type": "Bispectrum", "bispectrum_twojmax": 10,
                              "bispectrum_cutoff": 4.67637, "bispectrum_switchflag": 1},
              "targets": {"target_type": "LDOS", "ldos_gridsize": n_e, "ldos_gridspacing_ev": spacing,
                          "ldos_gridoffset_ev": offset, "restrict_targets": "zero_out_negative"}}
    iscaler = {"typestring": "feature-wise-standard", "means": [[0.0] * layers[0]], "stds": [[30.0] * layers[0]]}
    oscaler = {"typestring": "minmax", "total_min": 0.01, "total_max": 0.02}
    h = 0.12554583764082228
    # Be2's pseudopotential and cutoff, so `predict` computes the total energy with --pseudo-dir ../shared/testdata/Be2
    info = {"temperature": 299.98637294316444, "electrons_per_atom": 2.0, "ecutrho": 160.0,
            "pseudopotentials": {"Be": "Be.pbe-n-rrkjus_psl.1.0.0.UPF"},
            "grid_dimensions": [18, 18, 27], "voxel": {"array": [[h, 0, 0], [-h / 2, h * 0.8660254, 0],
                                                                 [0, 0, 0.13221772447684954]]}}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("random.params.json", json.dumps(params))
        z.writestr("random.network.pth", buf.getvalue())
        z.writestr("random.iscaler.json", json.dumps(iscaler))
        z.writestr("random.oscaler.json", json.dumps(oscaler))
        z.writestr("random.info.json", json.dumps(info))
    return path


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, nargs="+", default=[91, 800, 800, 800, 250, 250])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    write_random_model(a.out, a.layers, a.seed)
    print(a.out)
