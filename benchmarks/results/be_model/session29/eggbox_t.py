"""eggbox_t.py MODEL [NS]: F/atom of perfect_8 translated in-plane by s*t (t = I2 cell tilt), s = j/NS; vs s=0."""
import json, subprocess, sys
import numpy as np, ase.io
model = sys.argv[1]; ns = int(sys.argv[2]) if len(sys.argv) > 2 else 6
p = ase.io.read("be_None_8.extxyz"); f = ase.io.read("be_I2_8.extxyz")
t = f.cell[2] - p.cell[2]; print("tilt", t)
F = []
for j in range(ns):
    a = p.copy(); a.positions += (j / ns / 6) * t; a.wrap(); ase.io.write("egg.extxyz", a)
    subprocess.run(["/work/main/.venv/bin/mlsurrogate", "-q", "predict", "--model", model, "--structure", "egg.extxyz",
                    "--pseudo-dir", "/work/shared/testdata/Be2", "--out", "egg", "--overwrite", "--precision", "float32",
                    "--no-plot", "--grid", "18", "18", "120"], check=True, capture_output=True)
    F.append(json.load(open("egg/results.json"))["total_energy_eV"] / len(a))
F = np.array(F); d = 1e3 * (F - F[0]); print("meV/atom vs s=0:", np.round(d, 3), "mean over s:", round(d.mean(), 3),
      "-> gamma drift per layer (mJ/m^2):", round(d.mean() * 3.625, 2))
