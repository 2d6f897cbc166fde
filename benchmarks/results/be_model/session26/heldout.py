"""F error (meV/atom) vs QE of models on DATA cells: heldout.py CELL[,CELL] MODEL..."""
import json, os, sys, tempfile
sys.path.insert(0, "/work/main/benchmarks"); sys.path.insert(0, "/work/main")
from be_model_check import predict
D = os.path.expanduser("~/.cache/mlsurrogate/be")
cells = sys.argv[1].split(","); out = {}
with tempfile.TemporaryDirectory() as tmp:
    for m in sys.argv[2:]:
        for c in cells:
            snap = json.load(open(f"{D}/{c}/snapshot.json"))
            r = predict(m, f"{D}/{c}/structure.extxyz", os.path.join(tmp, c), snap["grid"])
            e = 1e3 * (r["total_energy_eV"] - snap["energies_eV"]["total_energy"]) / snap["natoms"]
            out.setdefault(os.path.basename(m), {})[c] = e
            print(f"{os.path.basename(m):12s} {c:14s} {e:+8.2f} meV/atom", flush=True)
print(json.dumps(out))
