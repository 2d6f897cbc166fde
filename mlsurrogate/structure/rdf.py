"""Radial distribution function up to the descriptor cutoff, and its distance to a model's training RDF.

g(r) on bins of width dr from 0 to r_max (Å): g(r_b) = H_b / (N ρ 4π r_b² dr) with H_b the number of
ordered pairs (i ≠ j, periodic images included) at distances in bin b, N atoms, ρ = N/V (all species
together). Distributed: each rank counts the pairs of the atoms it owns (``owner_box``) against the periodic
images within r_max of its box (``images_near_box``), O(N/P + ghosts) per rank, then one allreduce of the
histogram.

Transferability distance (Fiedler et al. 2023 compare RDFs up to the cutoff, their Fig. 4):
  D = sqrt( ∫ (g(r) - g_train(r))² r² dr / ∫ g_train(r)² r² dr )        over 0 < r < r_max,
a relative L2 difference weighted by the shell volume (dimensionless). Both RDFs are smoothed by a Gaussian
of σ = ``SMEAR_A`` first, so thermal broadening and binning do not dominate. ``RDF_DISTANCE_THRESHOLD``:
above it predict warns that the structure is outside the training distribution.
"""
import numpy as np

__all__ = ["rdf", "rdf_distance", "training_rdf_record", "model_training_rdf", "transferability", "RDF_BINS",
           "SMEAR_A", "RDF_DISTANCE_THRESHOLD"]

#: Number of bins from 0 to r_max.
RDF_BINS = 200
#: Gaussian smearing (Å) applied before comparing two RDFs.
SMEAR_A = 0.1
#: Distance above which predict warns (dimensionless). Measured against models/be2.mlsm's training RDF (two
#: 2-atom Be snapshots at 300 K; README, Transferability): the training snapshots 0.23, hcp 4x4x8 rattled by
#: 0.1 Å 0.23, ideal hcp 0.31, ideal I2-faulted 0.33, rattled by 0.3 Å 0.49, strained by 3 % 0.53, fcc 0.68,
#: strained by 10 % 1.06.
RDF_DISTANCE_THRESHOLD = 0.5


def rdf(comm, atoms, r_max, bins=RDF_BINS):
    """(r centres (bins,) Å, g(r) (bins,)) of ``atoms`` on every rank. Collective over ``comm``."""
    from mpi4py import MPI
    from scipy.spatial import cKDTree
    from ..decomposition.atoms import CHUNK, atoms_near_box, images_near_box, owned_atoms, owner_box, pad_fractions, wrapped
    cell = atoms.cell.array
    frac = atoms.cell.scaled_positions(atoms.positions)
    edges = np.linspace(0.0, r_max, bins + 1)
    lo, hi = owner_box(comm.size, comm.rank, cell, r_max)
    pad = pad_fractions(cell, r_max)
    own = owned_atoms(frac, lo, hi)
    hist = np.zeros(bins)
    if len(own):
        img, _, _ = images_near_box(frac, atoms_near_box(frac, lo, hi, pad), lo, hi, pad)
        tree = cKDTree(img @ cell)
        for start in range(0, len(own), CHUNK):
            mine = cKDTree(wrapped(frac[own[start:start + CHUNK]]) @ cell)
            d = mine.sparse_distance_matrix(tree, r_max, output_type="ndarray")["v"]
            hist += np.histogram(d[d > 1e-8], bins=edges)[0]   # the atom itself (distance 0) is not a pair
    hist = comm.allreduce(hist, op=MPI.SUM)
    n = len(atoms)
    rho = n / abs(np.linalg.det(cell))
    r = 0.5 * (edges[1:] + edges[:-1])
    shell = 4.0 * np.pi * r ** 2 * (edges[1] - edges[0])
    return r, comm.bcast(hist / (n * rho * shell), root=0)


def _smear(r, g, sigma):
    dr = r[1] - r[0]
    x = np.arange(-int(4 * sigma / dr) - 1, int(4 * sigma / dr) + 2) * dr
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return np.convolve(g, k / k.sum(), mode="same")


def rdf_distance(r, g, r_train, g_train, sigma=SMEAR_A):
    """Relative, shell-weighted L2 distance D between two RDFs (see module docstring). Dimensionless."""
    r = np.asarray(r, dtype=float)
    g_t = np.interp(r, np.asarray(r_train, dtype=float), np.asarray(g_train, dtype=float), right=np.nan)
    ok = np.isfinite(g_t)
    a, b = _smear(r, np.asarray(g, dtype=float), sigma)[ok], _smear(r, g_t, sigma)[ok]
    w = r[ok] ** 2
    denom = np.sum(b * b * w)
    return float(np.sqrt(np.sum((a - b) ** 2 * w) / denom)) if denom > 0 else float("inf")


def training_rdf_record(comm, structures, r_max, bins=RDF_BINS):
    """The ``training_rdf`` metadata of a model: mean g(r) over ``structures`` (ase.Atoms). Collective."""
    gs = []
    for atoms in structures:
        r, g = rdf(comm, atoms, r_max, bins)
        gs.append(g)
    return {"r_A": [float(v) for v in r], "g": [float(v) for v in np.mean(gs, axis=0)], "r_max_A": float(r_max),
            "bins": int(bins), "structures": len(gs), "natoms": [len(a) for a in structures],
            "definition": "g(r) = H(r) / (N rho 4 pi r^2 dr), all species, averaged over the training structures"}


def model_training_rdf(model):
    """(r (bins,), g (bins,)) the model recorded from its training structures, or None (e.g. MALA zips)."""
    rec = (model.metadata or {}).get("training_rdf") or ((model.metadata or {}).get("training") or {}).get("rdf")
    if not rec:
        return None
    return np.asarray(rec["r_A"], dtype=float), np.asarray(rec["g"], dtype=float)


def transferability(comm, atoms, model):
    """results.json keys comparing the RDF of ``atoms`` (up to the descriptor cutoff) with the model's
    training RDF. Collective. Keys: rdf_r_max_A, rdf_distance_to_training (None without a training RDF),
    rdf_distance_threshold, rdf_outside_training (bool or None), rdf_note."""
    r_max = model.descriptors.max_cutoff(model.species)
    r, g = rdf(comm, atoms, r_max)
    train = model_training_rdf(model)
    out = {"rdf_r_max_A": r_max, "rdf_distance_threshold": RDF_DISTANCE_THRESHOLD}
    if train is None:
        out.update(rdf_distance_to_training=None, rdf_outside_training=None,
                   rdf_note="the model records no training RDF (converted MALA models have none): transferability "
                            "not checked")
        return out
    d = rdf_distance(r, g, *train)
    out.update(rdf_distance_to_training=d, rdf_outside_training=bool(d > RDF_DISTANCE_THRESHOLD),
               rdf_note=("RDF far from the training structures: the prediction is an extrapolation" if
                         d > RDF_DISTANCE_THRESHOLD else "RDF within the documented threshold of the training RDF"))
    return out
