"""fe_dc.py CELL...: CELL/free_energy_s5dc.json, as scripts/be_dataset.py's free_energy_s5.json but the target's F
computed with evaluate --density-broadening-correction; prints the floor (target F minus QE's, meV/atom) both ways."""
import json, os, subprocess, sys, tempfile
B = os.path.expanduser("~/.cache/mlsurrogate/be")
EXE = "/work/run30/mls_wt.sh"
for c in sys.argv[1:]:
    f = os.path.join(B, c)
    old = json.load(open(os.path.join(f, "free_energy_s5.json")))
    out = os.path.join(f, "free_energy_s5dc.json")
    if not os.path.isfile(out):
        snap = json.load(open(os.path.join(f, "snapshot.json")))
        g = snap["energy_grid"]
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([EXE, "-q", "evaluate", "--structure", os.path.join(f, "structure.extxyz"), "--ldos",
                            os.path.join(f, "ldos_s5.npy"), "--energy-grid", str(g["offset_ev"]), str(g["spacing_ev"]),
                            str(g["count"]), "--temperature", str(snap["temperature_K"]), "--ldos-broadening",
                            str(old["ldos_broadening_std_eV"]), "--density-broadening-correction", "--pseudo-dir",
                            "/work/shared/testdata/Be2", "--ecutrho", "160", "--out", os.path.join(tmp, "e")],
                           check=True, stdout=subprocess.DEVNULL)
            r = json.load(open(os.path.join(tmp, "e", "results.json")))
        new = dict(old, free_energy_ldos_eV=r["total_energy_eV"], density_broadening_correction=True)
        json.dump(new, open(out + ".part", "w"), indent=1); os.replace(out + ".part", out)
    new = json.load(open(out))
    fl = lambda d: 1000 * (d["free_energy_ldos_eV"] - d["free_energy_dft_eV"]) / d["natoms"]
    print("%-16s floor %+7.2f  with the density correction %+7.2f meV/atom" % (c, fl(old), fl(new)), flush=True)
