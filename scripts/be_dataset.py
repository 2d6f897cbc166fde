"""Build the Be training/test structures and run `mlsurrogate make-data` on them (QE; slow, not CI).

Cells (a = 2.25982586776780, c = 3.56987856087494 Å, the reference data's lattice; 1 x 1 in-plane, one
atom per close-packed layer; `mlsurrogate/structure/hcp.py`):
  train: perfect and I2-faulted 8-layer cells (ideal); the same with z-rattled layers (std 0.06 Å along c,
         keeps the in-plane symmetry; two more faulted ones, std 0.02 and 0.06 Å); five perfect and three faulted
         8-layer cells with full 3D rattling (std 0.06 Å per component, ~room temperature for Be: Debye-Waller
         B = 8π²<u_x²> ≈ 0.28 Å²); the perfect 12-layer cell (ideal).
  test:  the I2 12-layer cell, ideal and z-rattled; six 3D-rattled 8-layer cells, three perfect and three
         faulted (whole snapshots never trained on); perfect and I2 16-layer cells (a cell size never trained on;
         their LDOS is the slowest part).
  extra (only with --only): 2 x 2 in-plane rattled cells, and more 1 x 1 rattled cells for later sessions.
Each cell also gets <name>/free_energy_s5.json: QE's free energy and that of its broadened LDOS target (our
`evaluate`), which models/be_train.toml's energy refit reads ([[train]] free_energy).
k-points: 18 x 18 in-plane (k-converged fault energy, benchmarks/results/stacking_fault_dft); along c 3 for
8 layers, 2 for 12 and 1 for 16 (about the same spacing). Writes DATA/structures/*.extxyz, DATA/<name>/
(make-data), DATA/timing.json (QE wall time per cell, as run: 2 MPI ranks on a 2-core machine), each cell's LDOS
broadened to LDOS_BROADENING_EV = 0.5 eV, DATA/<name>/ldos_s5.npy (the training targets of models/be_train.toml),
and its bispectrum descriptors with models/be_train.toml's settings, DATA/<name>/bispectrum_rc<rcutfac>/.
Cells whose QE run finished before (same structure) are kept, not recomputed.

Usage: .venv/bin/python scripts/be_dataset.py [--data DIR] [--only NAME ...]
DIR defaults to ~/.cache/mlsurrogate/be (outside the repository; models/be_train.toml reads it there).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)
from mlsurrogate.structure.hcp import build_hcp  # noqa: E402

A, C = 2.25982586776780, 3.56987856087494
STD = 0.06
# Total Gaussian broadening (eV) of the LDOS the model is trained on (ldos_s5.npy next to pp.x's ldos.npy): at
# pp.x's 0.1 eV the LDOS near E_F is not k-converged at these k-points (benchmarks/results/be_model/
# diagnosis-2026-12-01c, section 5); at 0.5 eV it is, for F about 10 meV/atom below QE's.
LDOS_BROADENING_EV = 0.5
# Its standard deviation: pp.x's Gaussian exp(-(E/degauss)²) (degauss_ldos 0.1 eV, std 0.1/√2) and the added
# one of std sqrt(0.5² - 0.1²): sqrt(0.245) = 0.495 eV, the models/be_train.toml [model] ldos_broadening_std_ev
# for predict's zero-broadening correction (README, "Broadened LDOS").
def total_std(sigma):
    """Gaussian std (eV) of pp.x's LDOS (std 0.1/√2) convolved with a further std sqrt(sigma² - 0.1²)."""
    return round((sigma ** 2 - 0.1 ** 2 + 0.1 ** 2 / 2) ** 0.5, 3)


LDOS_BROADENING_STD_EV = total_std(LDOS_BROADENING_EV)
# name: (nz, fault, rattle kind, seed, k-points, split[, rattle std in Å, default STD]); in the order they are
# computed. k-points: 18 x 18 in-plane; along c 3 for 8 layers (14.3 Å), 2 for 12 (21.4 Å), 1 for 16 (28.6 Å),
# about the same spacing along c for every cell size.
CELLS = {
    "perfect_8": (4, None, None, 0, (18, 18, 3), "train"),
    "i2_8": (4, "I2", None, 0, (18, 18, 3), "train"),
    "perfect_8_z1": (4, None, "z", 1, (18, 18, 3), "train"),
    "i2_8_z2": (4, "I2", "z", 2, (18, 18, 3), "train"),
    "perfect_8_r3": (4, None, "xyz", 3, (18, 18, 3), "train"),
    "perfect_12": (6, None, None, 0, (18, 18, 2), "train"),
    "i2_8_zs21": (4, "I2", "z", 21, (18, 18, 3), "train", 0.02),
    "i2_8_z23": (4, "I2", "z", 23, (18, 18, 3), "train"),
    "i2_8_r4": (4, "I2", "xyz", 4, (18, 18, 3), "train"),
    "perfect_8_r6": (4, None, "xyz", 6, (18, 18, 3), "train"),
    "i2_8_r8": (4, "I2", "xyz", 8, (18, 18, 3), "train"),
    "i2_12": (6, "I2", None, 0, (18, 18, 2), "test"),
    "i2_12_z31": (6, "I2", "z", 31, (18, 18, 2), "test"),
    "perfect_8_r5": (4, None, "xyz", 5, (18, 18, 3), "test"),
    "perfect_8_r7": (4, None, "xyz", 7, (18, 18, 3), "test"),
    "i2_8_r9": (4, "I2", "xyz", 9, (18, 18, 3), "test"),
    "perfect_16": (8, None, None, 0, (18, 18, 1), "test"),
    "i2_16": (8, "I2", None, 0, (18, 18, 1), "test"),
    # 2 x 2 in-plane (32 atoms): the atoms of a layer move independently, unlike the 1 x 1 cells above;
    # computed for the next model, not yet trained on or tested ("extra": only with --only)
    "perfect_8_2x2_r41": ((2, 2, 4), None, "xyz", 41, (9, 9, 3), "extra"),
    "i2_8_2x2_r42": ((2, 2, 4), "I2", "xyz", 42, (9, 9, 3), "extra"),
    # session 24: more 3D-rattled cells (two trained on, two held out)
    "perfect_8_r10": (4, None, "xyz", 10, (18, 18, 3), "train"),
    "perfect_8_r12": (4, None, "xyz", 12, (18, 18, 3), "train"),
    "i2_8_r11": (4, "I2", "xyz", 11, (18, 18, 3), "test"),
    "i2_8_r13": (4, "I2", "xyz", 13, (18, 18, 3), "test"),
    # session 27: more 3D-rattled cells: two trained on, one held out; the rest defined for later sessions
    # ("extra": only with --only). r17-r20 and r22 were computed in session 28 and are trained on since session 29
    # (models/be_train.toml; benchmarks/results/be_model/session29); r21 and r23 were computed in session 30
    # (benchmarks/results/be_model/session30)
    "perfect_8_r14": (4, None, "xyz", 14, (18, 18, 3), "train"),
    "i2_8_r15": (4, "I2", "xyz", 15, (18, 18, 3), "train"),
    "perfect_8_r16": (4, None, "xyz", 16, (18, 18, 3), "test"),
    "i2_8_r17": (4, "I2", "xyz", 17, (18, 18, 3), "train"),
    "perfect_8_r18": (4, None, "xyz", 18, (18, 18, 3), "train"),
    "i2_8_r19": (4, "I2", "xyz", 19, (18, 18, 3), "train"),
    "perfect_8_r20": (4, None, "xyz", 20, (18, 18, 3), "train"),
    "perfect_8_r22": (4, None, "xyz", 22, (18, 18, 3), "train"),
    "i2_8_r21": (4, "I2", "xyz", 21, (18, 18, 3), "extra"),
    "i2_8_r23": (4, "I2", "xyz", 23, (18, 18, 3), "extra"),
}
# Cells run with [qe] symmetry = "time-reversal" (nosym: the 18 x 18 x 3 mesh halved by k = -k: 488 k-points)
# instead of pw.x's own reduction, which samples a 3D-rattled I2 cell with 1232 k-points (the mesh plus images
# under the lattice's operations), 2.5x the time. Both are samplings of the same mesh density.
# i2_8_r11 and r13 (held out) were computed with pw.x's own reduction in session 24 and with time-reversal only
# since session 30.
TIME_REVERSAL_ONLY = {"i2_8_r11", "i2_8_r13", "i2_8_r15", "i2_8_r17", "i2_8_r19", "i2_8_r21", "i2_8_r23"}


def build(nz, fault, rattle, seed, std=STD):
    """1 x 1 x nz hcp cell (2 nz atoms; nz = (nx, ny, nz) for a larger in-plane cell), optionally I2-faulted,
    positions rattled with a normal law of std Å."""
    atoms = build_hcp("Be", A, C, nz if isinstance(nz, tuple) else (1, 1, nz), fault).atoms
    rng = np.random.default_rng(seed)
    if rattle == "z":
        atoms.positions[:, 2] += rng.normal(0.0, std, len(atoms))
    elif rattle == "xyz":
        atoms.positions += rng.normal(0.0, std, (len(atoms), 3))
    return atoms


def main():
    import ase.io
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.path.expanduser("~/.cache/mlsurrogate/be"),
                   help="data folder (models/be_train.toml reads ~/.cache/mlsurrogate/be: edit its root if moved)")
    p.add_argument("--only", nargs="+", help="cell names (default: all, in order)")
    p.add_argument("--settings", default=os.path.join(ROOT, "data", "be_dft.toml"))
    p.add_argument("--train-config", default=os.path.join(ROOT, "models", "be_train.toml"),
                   help="descriptor settings ([descriptors]) of the model the data are for")
    p.add_argument("--shifted-copies", type=int, default=0, metavar="K",
                   help="also write K rigidly translated copies <name>_t1..K of every training cell (sub-grid "
                        "shifts of atoms, LDOS and density; exact for QE's band-limited fields). Not used by "
                        "models/be_train.toml: tried in benchmarks/results/be_model/diagnosis-2026-12-01c")
    args = p.parse_args()
    os.makedirs(os.path.join(args.data, "structures"), exist_ok=True)
    timing_path = os.path.join(args.data, "timing.json")
    exe = os.path.join(os.path.dirname(sys.executable), "mlsurrogate")
    for name in args.only or [n for n in CELLS if CELLS[n][5] != "extra"]:
        nz, fault, rattle, seed, k, split = CELLS[name][:6]
        path = os.path.join(args.data, "structures", f"{name}.extxyz")
        atoms = build(nz, fault, rattle, seed, *CELLS[name][6:])
        ase.io.write(path, atoms)
        if done(os.path.join(args.data, name), atoms):
            print(f"{name}: kept (QE done before for this structure)", flush=True)
        else:
            run_qe(exe, args, name, path, k, split, timing_path)
        snap = json.load(open(os.path.join(args.data, name, "snapshot.json")))
        broadened_ldos(os.path.join(args.data, name))
        descriptors(exe, os.path.join(args.data, name), snap["grid"], args.train_config)
        free_energies(exe, os.path.join(args.data, name), args.settings)
        if split == "train":
            for j in range(1, args.shifted_copies + 1):
                copy = shifted_copy(args.data, name, j)
                broadened_ldos(copy)
                descriptors(exe, copy, snap["grid"], args.train_config)


def done(folder, atoms):
    """True if folder holds a finished snapshot (snapshot.json) of exactly this structure."""
    import ase.io
    if not os.path.isfile(os.path.join(folder, "snapshot.json")):
        return False
    old = ase.io.read(os.path.join(folder, "structure.extxyz"))
    return (len(old) == len(atoms) and np.allclose(old.cell, atoms.cell, atol=1e-8)
            and np.allclose(old.get_scaled_positions(), atoms.get_scaled_positions(), atol=1e-9))


def run_qe(exe, args, name, path, k, split, timing_path):
    """make-data (pw.x + pp.x) on one cell; records its QE wall time in DATA/timing.json."""
    t0 = time.time()
    settings = args.settings
    if name in TIME_REVERSAL_ONLY:
        settings = settings_with_time_reversal(args.settings, os.path.join(args.data, name + ".settings.toml"))
    subprocess.run([exe, "make-data", "--settings", settings, "--structures", path, "--out", args.data,
                    "--kpoints", *map(str, k), "--task", "0"], check=True)
    snap = json.load(open(os.path.join(args.data, name, "snapshot.json")))
    timing = json.load(open(timing_path)) if os.path.exists(timing_path) else {}
    timing[name] = {"qe_wall_s": sum(snap["wall_s"].values()), "qe_wall_s_by_step": snap["wall_s"],
                    "this_call_s": time.time() - t0, "split": split, "natoms": snap["natoms"], "kpoints": list(k),
                    "k_points_irreducible": snap["k_points_irreducible"], "bands": snap["bands"]}
    with open(timing_path + f".{os.getpid()}", "w") as f:
        json.dump(timing, f, indent=1)
    os.replace(timing_path + f".{os.getpid()}", timing_path)
    print(f"{name}: QE {timing[name]['qe_wall_s']:.0f} s", flush=True)


def settings_with_time_reversal(settings, out):
    """Write a copy of the settings file to ``out`` with [qe] symmetry = "time-reversal" and an absolute
    pseudo_dir; returns ``out``."""
    import re
    import tomllib
    pseudo = tomllib.load(open(settings, "rb"))["qe"]["pseudo_dir"]
    pseudo = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(settings)), pseudo))
    text = re.sub(r"(?m)^pseudo_dir\s*=.*$", f"pseudo_dir = {json.dumps(pseudo)}", open(settings).read())
    text = re.sub(r"(?m)^symmetry\s*=.*$", "", text).replace("[qe]\n", '[qe]\nsymmetry = "time-reversal"\n', 1)
    with open(out, "w") as f:
        f.write(text)
    return out


def broadened_ldos(folder, sigma=LDOS_BROADENING_EV, spacing=0.1):
    """folder/ldos_s<10 sigma>.npy: pp.x's LDOS (Gaussian degauss_ldos = 0.1 eV, std 0.1/√2, on a 0.1 eV grid)
    convolved along energy with a further Gaussian of std sqrt(sigma² - 0.1²) (total std sqrt(sigma² - 0.005):
    0.495 eV for sigma = 0.5); same grid, each energy's weight kept inside the window (electrons conserved).
    Kept when present."""
    out = os.path.join(folder, f"ldos_s{round(10 * sigma)}.npy")
    if os.path.isfile(out):
        return
    ldos = np.load(os.path.join(folder, "ldos.npy"))
    e = spacing * np.arange(ldos.shape[-1])
    kernel = np.exp(-0.5 * ((e[:, None] - e[None, :]) / np.sqrt(sigma ** 2 - 0.1 ** 2)) ** 2)
    kernel /= kernel.sum(axis=0, keepdims=True)
    np.save(out + ".part.npy", (ldos.reshape(-1, ldos.shape[-1]) @ kernel.T).reshape(ldos.shape).astype(np.float32))
    os.replace(out + ".part.npy", out)


def free_energies(exe, folder, settings, sigma=LDOS_BROADENING_EV):
    """folder/free_energy_s<10 sigma>.json: QE's free energy and that of the broadened LDOS target
    (`evaluate --ldos ldos_s<10 sigma>.npy` with the zero-broadening correction, one process), eV: the
    [[train]] free_energy files of models/be_train.toml (its energy refit aims at QE's F). Kept when present."""
    import tempfile
    import tomllib
    out = os.path.join(folder, f"free_energy_s{round(10 * sigma)}.json")
    if os.path.isfile(out):
        return
    qe = tomllib.load(open(settings, "rb"))["qe"]
    pseudo = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(settings)), qe["pseudo_dir"]))
    snap = json.load(open(os.path.join(folder, "snapshot.json")))
    g, std = snap["energy_grid"], total_std(sigma)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([exe, "-q", "evaluate", "--structure", os.path.join(folder, "structure.extxyz"),
                        "--ldos", os.path.join(folder, f"ldos_s{round(10 * sigma)}.npy"), "--energy-grid",
                        str(g["offset_ev"]), str(g["spacing_ev"]), str(g["count"]), "--temperature",
                        str(snap["temperature_K"]), "--ldos-broadening", str(std), "--pseudo-dir", pseudo,
                        "--ecutrho", str(qe["ecutrho_ry"]), "--out", os.path.join(tmp, "e")], check=True,
                       stdout=subprocess.DEVNULL)
        r = json.load(open(os.path.join(tmp, "e", "results.json")))
    with open(out + ".part", "w") as f:
        json.dump({"free_energy_dft_eV": snap["energies_eV"]["total_energy"],
                   "free_energy_ldos_eV": r["total_energy_eV"], "natoms": snap["natoms"],
                   "ldos": f"ldos_s{round(10 * sigma)}.npy", "ldos_broadening_std_eV": std,
                   "broadening_correction_eV": r["broadening_correction_eV"]}, f, indent=1)
    os.replace(out + ".part", out)


def shifted_copy(data, name, j):
    """DATA/<name>_t<j>: the snapshot <name> rigidly translated by a random sub-grid vector (atoms, LDOS and
    density; mlsurrogate/dft/shift.py), the j-th of --shifted-copies. Returns its folder (kept when present)."""
    import ase.io
    from mlsurrogate.dft.shift import fourier_shift, shift_structure
    src, dst = os.path.join(data, name), os.path.join(data, f"{name}_t{j}")
    if os.path.isfile(os.path.join(dst, "snapshot.json")):
        return dst
    snap = json.load(open(os.path.join(src, "snapshot.json")))
    frac = np.random.default_rng([j, sum(map(ord, name))]).random(3) / np.array(snap["grid"])  # within one voxel
    os.makedirs(dst, exist_ok=True)
    ase.io.write(os.path.join(dst, "structure.extxyz"), shift_structure(ase.io.read(os.path.join(src, "structure.extxyz")), frac))
    for field in ("ldos.npy", "density.npy"):
        np.save(os.path.join(dst, field), fourier_shift(np.load(os.path.join(src, field)), frac))
    snap.update({"shifted_from": name, "shift_fractional": frac.tolist(),
                 "files": {k: v for k, v in snap["files"].items() if k != "pw_output"}})
    with open(os.path.join(dst, "snapshot.json"), "w") as f:   # written last: marks the copy complete
        json.dump(snap, f, indent=1)
    return dst


def descriptors(exe, folder, grid, train_config):
    """Bispectrum descriptors of the snapshot in ``folder`` with the [descriptors] settings of
    ``train_config`` (the native kernel, as `predict` uses; one process) into
    folder/bispectrum_rc<rcutfac>/descriptors.npy, the path models/be_train.toml reads. Kept when present."""
    import tomllib
    d = tomllib.load(open(train_config, "rb"))["descriptors"]
    out = os.path.join(folder, f"bispectrum_rc{d['rcutfac']:g}")
    if os.path.isfile(os.path.join(out, "descriptors.npy")):
        return
    cmd = [exe, "-q", "descriptors", "--structure", os.path.join(folder, "structure.extxyz"),
           "--grid", *map(str, grid), "--twojmax", str(d["twojmax"]), "--rcutfac", str(d["rcutfac"]),
           "--rfac0", str(d["rfac0"]), "--switchflag", str(d["switchflag"]), "--out", out]
    cmd += [f"--radius={k}={v}" for k, v in d["radii"].items()] + [f"--weight={k}={v}" for k, v in d["weights"].items()]
    subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
