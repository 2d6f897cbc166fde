"""Probe: which descriptor lets a small network generalise to held-out 3D-rattled cells?
Metric per cell: band grand energy error at the DFT Fermi level, sum (e-mu) f dLDOS dV de (meV/atom), and
electron count error. Usage: probe.py VARIANT[,VARIANT] SEED [EPOCHS]   (VARIANT: rc9, rc4.67637, rc6.5)
VARIANT names a folder ~/.cache/mlsurrogate/be/<cell>/bispectrum_<VARIANT>/ (mlsurrogate descriptors --rcutfac ...);
env H = hidden width (128), DROP = comma-separated training cells to leave out. Prints one JSON line."""
import json, sys, time, os
import numpy as np, torch, ase.io
D = os.path.expanduser("~/.cache/mlsurrogate/be")
TRAIN = "perfect_8 i2_8 perfect_8_z1 i2_8_z2 perfect_8_r3 perfect_12 i2_8_zs21 i2_8_z23 i2_8_r4 perfect_8_r6 i2_8_r8 perfect_8_r10 perfect_8_r12 perfect_8_r14 i2_8_r15".split()
TRAIN = [c for c in TRAIN if c not in os.environ.get("DROP", "").split(",")]
TEST = "perfect_8_r5 perfect_8_r7 perfect_8_r16 i2_8_r9 i2_12 i2_12_z31".split()
E = -5.0 + 0.1 * np.arange(161); KT = 8.617333262e-5 * 298.0
def load(c, variants):
    x = np.concatenate([np.load(f"{D}/{c}/bispectrum_{v}/descriptors.npy").reshape(-1, np.load(f"{D}/{c}/bispectrum_{v}/descriptors.npy", mmap_mode="r").shape[-1]) for v in variants], 1)
    y = np.load(f"{D}/{c}/ldos_s5.npy").reshape(-1, 161).astype(np.float64)
    s = json.load(open(f"{D}/{c}/snapshot.json")); at = ase.io.read(f"{D}/{c}/structure.extxyz")
    dv = at.get_volume() / len(y)
    f = 1 / (1 + np.exp(np.clip((E - s["fermi_energy_eV"]) / KT, -200, 200)))
    wN = f * 0.1 * dv; wO = (E - s["fermi_energy_eV"]) * wN
    return x, y, wN, wO, len(at)
def metric(pred, y, wN, wO, nat):
    d = pred - y
    return 1000 * (d @ wO).sum() / nat, (d @ wN).sum()
if __name__ == "__main__":
    variants = sys.argv[1].split(","); seed = int(sys.argv[2]); epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 12
    torch.set_num_threads(1); torch.manual_seed(seed); np.random.seed(seed)
    tr = {c: load(c, variants) for c in TRAIN}; te = {c: load(c, variants) for c in TEST}
    X = np.concatenate([tr[c][0] for c in TRAIN]); Y = np.concatenate([tr[c][1] for c in TRAIN])
    mu, sd = X.mean(0), X.std(0); sd[sd == 0] = 1; ym, ys = Y.mean(), Y.std()
    Xt = torch.tensor((X - mu) / sd, dtype=torch.float32); Yt = torch.tensor((Y - ym) / ys, dtype=torch.float32)
    K = X.shape[1]; H = int(os.environ.get("H", 128))
    net = torch.nn.Sequential(torch.nn.Linear(K, H), torch.nn.LeakyReLU(), torch.nn.Linear(H, H), torch.nn.LeakyReLU(),
                              torch.nn.Linear(H, H), torch.nn.LeakyReLU(), torch.nn.Linear(H, 161))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3); sch = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    t0 = time.time(); bs = 512
    def predict(x):
        with torch.no_grad():
            return net(torch.tensor((x - mu) / sd, dtype=torch.float32)).numpy().astype(np.float64) * ys + ym
    for ep in range(epochs):
        perm = torch.randperm(len(Xt))
        for i in range(0, len(perm), bs):
            b = perm[i:i + bs]; opt.zero_grad(); loss = torch.nn.functional.mse_loss(net(Xt[b]), Yt[b]); loss.backward(); opt.step()
        sch.step()
    res = {"drop": os.environ.get("DROP", ""), "variants": variants, "seed": seed, "epochs": epochs, "H": H, "train_s": time.time() - t0}
    for name, cells in (("train", tr), ("test", te)):
        for c, (x, y, wN, wO, nat) in cells.items():
            p = predict(x); res[c] = [*metric(p, y, wN, wO, nat), float(np.sqrt(((p - y) ** 2).mean()))]
    print(json.dumps(res))
