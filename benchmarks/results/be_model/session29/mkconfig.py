"""mkconfig.py OUT RCUTFAC CELL... : models/be_train.toml + [[train]] blocks for CELLs, descriptors at rcutfac."""
import sys
out, rc, cells = sys.argv[1], sys.argv[2], sys.argv[3:]
s = open("/work/main/models/be_train.toml").read()
block = '''
[[train]]
structure = "{c}/structure.extxyz"
ldos = "{c}/ldos_s5.npy"
descriptors = "{c}/bispectrum_rc9/descriptors.npy"   # scripts/be_dataset.py
free_energy = "{c}/free_energy_s5.json"   # QE's F and the target's (scripts/be_dataset.py)
'''
s = s.rstrip("\n") + "\n" + "".join(block.format(c=c) for c in cells)
if rc != "9":
    s = s.replace("rcutfac = 9.0 ", f"rcutfac = {float(rc)} ").replace("bispectrum_rc9/", f"bispectrum_rc{rc}/")
open(out, "w").write(s)
