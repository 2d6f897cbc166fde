"""floor.py SIGMA CELL...: F of the LDOS broadened to SIGMA (with the zero-broadening correction) minus QE's F."""
import sys, os, json
sys.path.insert(0, "/work/main/scripts")
import be_dataset as b
sig = float(sys.argv[1])
B = os.path.expanduser("~/.cache/mlsurrogate/be")
exe = "/work/main/.venv/bin/mlsurrogate"
for c in sys.argv[2:]:
    f = os.path.join(B, c)
    if sig > 0.1:
        b.broadened_ldos(f, sig)
    b.free_energies(exe, f, "/work/main/data/be_dft.toml", sig)
    d = json.load(open(os.path.join(f, f"free_energy_s{round(10*sig)}.json")))
    print("%-16s sigma %.1f (std %.3f)  floor %+7.2f meV/atom" % (c, sig, b.total_std(sig), 1000 * (d["free_energy_ldos_eV"] - d["free_energy_dft_eV"]) / d["natoms"]), flush=True)
