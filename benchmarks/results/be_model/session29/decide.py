"""decide.py CHECK.json [SO.json]: rule 1 / rule 2 quantities."""
import json, sys
d = json.load(open(sys.argv[1])); s = d["snapshots"]; g = d["gamma"]
R = ["perfect_8_r5", "perfect_8_r7", "perfect_8_r16", "i2_8_r9", "i2_12_z31"]
I = ["i2_12", "perfect_16", "i2_16"]
rat = [s[k]["error_meV_per_atom"] for k in R]
mean = sum(abs(x) for x in rat) / len(rat)
ideal = [s[k]["error_meV_per_atom"] for k in I]
g8, g16 = g["8"]["model_mJ_per_m2"], g["16"]["model_mJ_per_m2"]
print(sys.argv[1])
print("  gamma 8/12/16: %.1f / %.1f / %.1f   rel %.1f / %.1f %%   8 vs 16 %.1f %%" % (g8, g["12"]["model_mJ_per_m2"], g16,
      100 * g["8"]["relative_error"], 100 * g["16"]["relative_error"], 100 * d["gamma_8_vs_16_relative"]))
print("  larger:", {k: round(v, 1) for k, v in d["gamma_model_larger_cells_mJ_per_m2"].items()})
print("  ideal held-out:", " ".join("%s %+.2f" % (k, v) for k, v in zip(I, ideal)))
print("  rattled:", " ".join("%s %+.1f" % (k, v) for k, v in zip(R, rat)), " mean %.1f" % mean)
train = [v["error_meV_per_atom"] for k, v in s.items() if v["split"] == "train"]
print("  training cells: %.2f .. %.2f" % (min(train), max(train)))
ok1 = all(abs(g[k]["relative_error"]) < 0.1 for k in ("8", "16")) and abs(d["gamma_8_vs_16_relative"]) < 0.05 \
    and all(abs(x) < 5 for x in ideal) and mean < 26.0
print("  rule 1:", ok1)
if len(sys.argv) > 2:
    so = json.load(open(sys.argv[2])); gs = so["gamma"]
    ok2 = all(abs(gs[k]["relative_error"]) < 0.1 for k in ("8", "16")) and abs(so["gamma_8_vs_16_relative"]) < 0.05 \
        and all(abs(x) < 5 for x in ideal) and mean < 26.0
    print("  screened orthogonal 8/12/16: %.1f / %.1f / %.1f, 8 vs 16 %.1f %%, larger %s" % (
        gs["8"]["model_mJ_per_m2"], gs["12"]["model_mJ_per_m2"], gs["16"]["model_mJ_per_m2"],
        100 * so["gamma_8_vs_16_relative"], {k: round(v, 1) for k, v in so["gamma_model_larger_cells_mJ_per_m2"].items()}))
    print("  rule 2:", ok2)
