"""ortho.py L: the I2 cell's lattice described by an orthogonal 3-fault supercell (1 x 1 x 3L, c = 3c' - 3t);
and the perfect 3L cell. Writes be_I2o_L.extxyz, be_Noneo_L.extxyz."""
import sys, numpy as np, ase.io
L = int(sys.argv[1])
f = ase.io.read(f"be_I2_{L}.extxyz"); p = ase.io.read(f"be_None_{L}.extxyz")
t = f.cell[2] - p.cell[2]
frac = np.linalg.solve(f.cell[:2, :2].T, t[:2]) * 3
assert np.allclose(frac, np.round(frac)), frac
s = f.repeat((1, 1, 3)); cell = s.cell.array.copy(); cell[2] = 3 * f.cell[2] - np.round(frac) @ f.cell[:2]
assert abs(cell[2, 0]) < 1e-9 and abs(cell[2, 1]) < 1e-9, cell
s.set_cell(cell); s.wrap(); ase.io.write(f"be_I2o_{L}.extxyz", s)
ase.io.write(f"be_Noneo_{L}.extxyz", p.repeat((1, 1, 3)))
d = s.get_all_distances(mic=True); np.fill_diagonal(d, 9); print(L, len(s), "min dist", d.min().round(4), cell[2])
