"""mk_fq.py: CELL/free_energy_s5q.json for every cell in floor_split.log: free_energy_ldos_eV with the density
terms of QE's own density instead of the target's (F_ldos - density part), i.e. the aim a model whose density
were QE's would need."""
import json, os, re
B = os.path.expanduser("~/.cache/mlsurrogate/be")
for line in open("floor_split.log"):
    m = re.match(r"(\S+)\s+floor\s+(\S+) = density part\s+(\S+) \+ rest\s+(\S+)", line)
    c, floor, dens = m.group(1), float(m.group(2)), float(m.group(3))
    fe = json.load(open(f"{B}/{c}/free_energy_s5.json"))
    fe["free_energy_ldos_eV"] -= dens * fe["natoms"] / 1000
    fe["density_terms_from"] = "QE density.npy (session 30 oracle)"
    json.dump(fe, open(f"{B}/{c}/free_energy_s5q.json", "w"), indent=1)
    print(c, "%+.2f" % (1000 * (fe["free_energy_ldos_eV"] - fe["free_energy_dft_eV"]) / fe["natoms"]))
