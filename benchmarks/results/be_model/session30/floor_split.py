"""floor_split.py CELL...: the 0.5 eV target's floor (F of the target LDOS minus QE's F, meV/atom) split into its
density part (Hartree + XC - ∫n v_Hxc of the target's density minus those of QE's density, pp.x plot_num 0) and
the rest (band energy with s² D(E_F)/2 and -TS): what F would be off if the density terms came from QE's density."""
import json, os, subprocess, sys, tempfile
B = os.path.expanduser("~/.cache/mlsurrogate/be")
EXE = "/work/main/.venv/bin/mlsurrogate"
P = ["--pseudo-dir", "/work/shared/testdata/Be2", "--ecutrho", "160"]
K = ["hartree_energy_eV", "xc_energy_eV", "e_rho_times_v_hxc_eV"]


def evaluate(folder, extra, tmp, tag):
    subprocess.run([EXE, "-q", "evaluate", "--structure", os.path.join(folder, "structure.extxyz"), *extra, *P,
                    "--out", os.path.join(tmp, tag)], check=True, stdout=subprocess.DEVNULL)
    return json.load(open(os.path.join(tmp, tag, "results.json")))


for c in sys.argv[1:]:
    f = os.path.join(B, c)
    fe = json.load(open(os.path.join(f, "free_energy_s5.json")))
    snap = json.load(open(os.path.join(f, "snapshot.json")))
    g, nat = snap["energy_grid"], fe["natoms"]
    with tempfile.TemporaryDirectory() as tmp:
        lt = evaluate(f, ["--ldos", os.path.join(f, "ldos_s5.npy"), "--energy-grid", str(g["offset_ev"]),
                          str(g["spacing_ev"]), str(g["count"]), "--temperature", str(snap["temperature_K"]),
                          "--ldos-broadening", str(fe["ldos_broadening_std_eV"])], tmp, "L")
        qe = evaluate(f, ["--density", os.path.join(f, "density.npy"), "--density-units", "1/A^3"], tmp, "N")
    floor = 1000 * (lt["total_energy_eV"] - fe["free_energy_dft_eV"]) / nat
    dens = 1000 * sum(lt[k] - qe[k] for k in K) / nat
    print("%-16s floor %+7.2f = density part %+7.2f + rest %+7.2f meV/atom" % (c, floor, dens, floor - dens), flush=True)
