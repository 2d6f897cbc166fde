import json, sys
HO = "perfect_8_r5 perfect_8_r7 perfect_8_r16 i2_8_r9 i2_12 i2_12_z31".split()
for l in open(sys.argv[1]):
    r = json.loads(l)
    tr = [v[2] for k, v in r.items() if isinstance(v, list) and k not in HO and k != "variants"]
    print(",".join(r["variants"]), "s%d" % r["seed"], "e%d" % r["epochs"], "H%d" % r["H"], "drop=" + r.get("drop", ""),
          "| train rmse %.1e |" % (sum(tr) / len(tr)),
          " ".join("%s %+.1f/%.1e" % (k.replace("perfect_8_", "p").replace("i2_8_", "i").replace("i2_12", "I12"), r[k][0], r[k][2]) for k in HO))
