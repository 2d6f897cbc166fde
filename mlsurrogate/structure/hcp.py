"""hcp supercells with and without a basal intrinsic stacking fault (I2). Stage: structure (builders).

Cell choice (lengths in Å):
  * in-plane: the primitive hexagonal vectors a1 = a (1, 0, 0), a2 = a (-1/2, √3/2, 0), repeated NX and NY
    times (basal area NX NY a² √3/2);
  * stacking axis z: NZ hcp unit cells = 2 NZ close-packed layers, layer i at height (i + 1/2) c/2,
    in-plane site A = (0, 0) for even i and B = (1/3, 2/3) (fractions of a1, a2) for odd i.
  * I2 fault ("...ABAB|CACA..."): every layer from m = 2 ceil(NZ/2) on is shifted by the Shockley partial
    t = (2 a1 + a2)/3 = a (1/2, √3/6, 0) (A -> C, B -> A), and the third cell vector becomes
    NZ c ẑ + t. The periodic cell then holds exactly ONE fault, between layers m-1 and m (at height
    z_f = m c/2); the wrap-around is fault free (the tilt continues the shifted stacking). Layers m-1 and m
    are the two fcc-like (cubic) layers of I2. Same atom count, order and volume as the perfect cell.
  * orthogonal I2 cell (``orthogonal=True``): the same infinite crystal described by three periods of the tilted
    cell, whose third vector 3(NZ c ẑ + t) − 3t = 3 NZ c ẑ is orthogonal (3t = 2 a1 + a2 is a lattice vector):
    6 NZ layers and THREE faults, NZ c apart. Its grid planes are not sheared, so every layer sits on the grid
    as in the perfect cell; on the tilted cell's sheared grid each layer sits at another sub-grid offset, and a
    network's egg-box error (its energy's dependence on where the atoms sit between grid points) then adds
    ~1 meV/atom per layer to the faulted cell only: a stacking-fault energy drifting linearly with the
    cell length (benchmarks/results/be_model/session29/). Compare with the perfect cell of 3 NZ.
  * rattling: Cartesian displacements N(0, std²) per component from numpy's default_rng(seed), drawn
    for atom index i in the same order in both cells, so perfect and faulted get identical displacements.
"""
import numpy as np

from ..errors import InputError

__all__ = ["HcpCell", "build_hcp", "fault_layer", "basal_area"]

#: Names of the faults ``build_hcp`` knows.
FAULTS = ("I2",)


class HcpCell:
    """What ``build_hcp`` built: atoms plus the bookkeeping a study needs (n_faults, fault height, area)."""

    def __init__(self, atoms, n_faults, fault_z_A, area_A2, layers):
        self.atoms = atoms            # ase.Atoms
        self.n_faults = n_faults      # faults per periodic cell (0 or 1)
        self.fault_z_A = fault_z_A    # height of the fault plane (between two layers), Å; None if perfect
        self.area_A2 = area_A2        # basal area of the cell, Å²
        self.layers = layers          # number of close-packed layers


def basal_area(a, nx, ny):
    """Basal-plane area of NX x NY primitive hexagonal cells, Å²."""
    return nx * ny * a * a * np.sqrt(3.0) / 2.0


def fault_layer(nz):
    """Index m of the first shifted layer of an I2 fault in 2 NZ layers (even, so the fault is B|C)."""
    return 2 * ((nz + 1) // 2)


def build_hcp(symbol, a, c, repeat, fault=None, rattle=0.0, seed=0, orthogonal=False):
    """hcp supercell (see the module docstring for the geometry). Local, O(N).

    repeat : (NX, NY, NZ) hcp unit cells; fault : None or "I2"; rattle : std of the Cartesian
    displacement per component, Å; seed : random seed; orthogonal : with a fault, the orthogonal cell of
    three periods (three faults, 6 NZ layers; rattled after tripling). Returns :class:`HcpCell`.
    """
    if orthogonal and fault is None:
        raise InputError("--orthogonal describes a faulted cell (--fault I2); a perfect cell is orthogonal already")
    if rattle < 0:
        raise InputError(f"--rattle must be >= 0, got {rattle}")
    if orthogonal:
        nx, ny, nz = (int(v) for v in repeat)
        one = build_hcp(symbol, a, c, repeat, fault)
        atoms = one.atoms.repeat((1, 1, 3))
        a1, a2 = one.atoms.cell[0] / nx, one.atoms.cell[1] / ny
        third = 3 * one.atoms.cell[2] - (2.0 * a1 + a2)
        atoms.set_cell([one.atoms.cell[0], one.atoms.cell[1], third], scale_atoms=False)
        atoms.wrap()
        if rattle > 0:
            atoms.positions += np.random.default_rng(seed).normal(0.0, rattle, atoms.positions.shape)
            atoms.wrap()
        return HcpCell(atoms, n_faults=3, fault_z_A=one.fault_z_A, area_A2=one.area_A2, layers=3 * one.layers)
    import ase
    nx, ny, nz = (int(v) for v in repeat)
    if min(nx, ny, nz) < 1:
        raise InputError(f"--repeat needs positive integers, got {repeat}")
    if not (a > 0 and c > 0):
        raise InputError(f"lattice constants must be positive, got a = {a}, c = {c}")
    if fault is not None and fault not in FAULTS:
        raise InputError(f"unknown fault {fault!r}: use one of {', '.join(FAULTS)}")
    if fault is not None and nz < 2:
        raise InputError("a faulted cell needs --repeat NZ >= 2 (4 layers); with 2 layers every layer is fcc")
    a1 = np.array([a, 0.0, 0.0])
    a2 = np.array([-0.5 * a, 0.5 * np.sqrt(3.0) * a, 0.0])
    shockley = (2.0 * a1 + a2) / 3.0
    layers = 2 * nz
    m = fault_layer(nz) if fault else layers
    i, j, k = np.meshgrid(np.arange(nx), np.arange(ny), np.arange(layers), indexing="ij")
    i, j, k = i.ravel(), j.ravel(), k.ravel()
    order = np.lexsort((j, i, k))           # layer by layer
    i, j, k = i[order], j[order], k[order]
    site = np.where((k % 2 == 1)[:, None], (a1 + 2.0 * a2) / 3.0, 0.0)   # A or B
    pos = i[:, None] * a1 + j[:, None] * a2 + site
    pos[:, 2] = (k + 0.5) * c / 2.0
    pos[k >= m] += shockley
    third = np.array([0.0, 0.0, nz * c]) + (shockley if fault else 0.0)
    if rattle > 0:
        pos = pos + np.random.default_rng(seed).normal(0.0, rattle, pos.shape)
    atoms = ase.Atoms(symbols=[symbol] * len(pos), positions=pos, cell=[nx * a1, ny * a2, third], pbc=True)
    atoms.wrap()
    return HcpCell(atoms, n_faults=1 if fault else 0, fault_z_A=(m * c / 2.0) if fault else None,
                   area_A2=basal_area(a, nx, ny), layers=layers)
