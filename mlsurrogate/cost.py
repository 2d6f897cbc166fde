"""What a run will cost, known before any heavy allocation: memory per rank and core-hours per stage.

``plan_run`` is called by ``predict`` before the structure checks and refuses, on every rank, a run whose
predicted peak memory per rank exceeds what the ranks have; ``mlsurrogate plan`` prints the same numbers
for any rank count. Nothing here allocates per grid point or per atom.

The model (bytes and seconds; "point" = grid point of the largest rank's block, N = atoms):
  peak/rank = FIXED + ATOM_BYTES N + max(sweep, energy)
  sweep     = accumulator (8 + window nodes x 8 or 4 + 1 B per point) + kept density (8 B/pt)
              + one pass of buffers (indices, descriptors, LDOS, network activations)
  energy    = (8 + ENERGY_BYTES_PER_POINT) B per point (the FFT arrays, ∇ρ, Gaussians; see energy/)
  core-s    = points x (descriptor flop / kernel rate + network flop / GEMM rate + post + energy)
              + Ewald pairs (atoms x neighbours within 12 σ) x PAIR_SECONDS
The constants were measured on this project's benchmark machine (Xeon with AVX-512, 2 cores; see the
README, "Cost model", for how far the prediction was checked against the benchmark runs).
"""
from dataclasses import asdict, dataclass
import math
import os

import numpy as np

from .errors import InputError

__all__ = ["RunPlan", "plan_run", "estimate", "available_memory_per_rank"]

MIB = 1 << 20
#: Python, numpy, torch, mpi4py(-fft), the native kernel: resident before any data (measured ~290-330 MiB).
FIXED_BYTES = 330 * MIB
#: Per atom, on every rank: positions, numbers and fractional positions (ASE + ours) and the scans' results.
ATOM_BYTES = 120
#: Energy stage per grid point of the rank's FFT block, on top of the kept density (README, energy table).
ENERGY_BYTES_PER_POINT = 170
#: Ewald's own grid (coarse density grids only): Gaussians, FFT arrays, G² and masks, per point of its grid
#: (measured: 131,072 atoms on a 64x64x192 grid, Ewald grid 180x180x540, +740 MiB per rank of 2).
EWALD_BYTES_PER_POINT = 90
#: Forces' second sweep per pass point besides descriptors and dF/dB: grid indices, flat indices, U(r) gathered.
FORCES_PASS_BYTES_PER_POINT = 48
#: Native kernel rates, flop/s per core (README: 21-23 GFLOP/s float64, ~1.6x in float32); LAMMPS' algorithm.
NATIVE_FLOPS = {"float64": 21e9, "float32": 33e9}
LAMMPS_FLOPS = 6.5e9
#: torch GEMM rate per core for the network, flop/s (small layers reach less: see _gemm_rate).
GEMM_FLOPS = {"float64": 40e9, "float32": 80e9, "bfloat16": 160e9}   # measured 41, 87, 164 (README Precision)
#: Post-processing per point, plus per energy node (DOS sums, density window; measured 0.3-0.6 µs per point
#: for 11 nodes, 0.9-1.35 µs for 250), and the energy stage per point.
POST_SECONDS_PER_POINT = 0.5e-6
POST_SECONDS_PER_POINT_NODE = 0.003e-6
ENERGY_SECONDS_PER_POINT = 1.0e-6
#: Depositing one atom's Gaussian (a stencil of (2·9·2+1)³ points; README energy table: ~1.3 ms).
DEPOSIT_SECONDS_PER_ATOM = 1.3e-3
#: Ewald real-space sum, seconds per atom pair.
PAIR_SECONDS = 60e-9
#: Start-up of a run (imports, model, structure broadcast), seconds.
START_SECONDS = 10.0
#: Largest grid the engine starts at all (int32 indices in the kernels; ~1e11 points is far beyond any node).
MAX_POINTS = 1 << 36


@dataclass
class RunPlan:
    """Predicted size and cost of one ``predict`` run. Bytes, seconds, core-hours."""
    natoms: int
    grid: tuple
    points: int
    ranks: int
    threads_per_rank: int
    proc_grid: tuple
    points_per_rank: int
    passes: int
    points_per_pass: int
    neighbours_per_point: float
    memory_bytes: dict          # part -> bytes on the largest rank
    peak_bytes_per_rank: int
    core_seconds: dict          # stage -> core-seconds of the whole run
    core_hours: float
    wall_seconds: float
    available_bytes_per_rank: int = None

    def to_dict(self):
        return asdict(self)

    def lines(self):
        """Human-readable summary (list of str)."""
        gib = 1 << 30
        mem = ", ".join(f"{k} {v / MIB:.0f}" for k, v in self.memory_bytes.items())
        cs = self.core_seconds
        out = [
            f"atoms            {self.natoms}",
            f"grid             {'x'.join(map(str, self.grid))} = {self.points:,} points",
            f"ranks            {self.ranks} as {'x'.join(map(str, self.proc_grid))}, {self.threads_per_rank} "
            f"thread(s) each; {self.points_per_rank:,} points on the largest rank",
            f"passes           {self.passes} of <= {self.points_per_pass:,} points per rank",
            f"neighbours       {self.neighbours_per_point:.1f} atoms within the cutoff of a point",
            f"memory per rank  {self.peak_bytes_per_rank / gib:.2f} GiB predicted peak (MiB: {mem})",
        ]
        if self.available_bytes_per_rank:
            out.append(f"available        {self.available_bytes_per_rank / gib:.2f} GiB per rank")
        out += [
            "core-seconds     " + ", ".join(f"{k} {v:.3g}" for k, v in cs.items()),
            f"cost             {self.core_hours:.3g} core-hours, about {_duration(self.wall_seconds)} wall time",
        ]
        return out


def _duration(seconds):
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _gemm_rate(width, dtype):
    """Achieved flop/s per core of a layer of ``width`` outputs: small layers run below the GEMM peak
    (rate ∝ sqrt(width / 512) below 512: 3.3 µs/point for the 91-128-128-11 Be model, measured 2.3-4.8;
    84 µs for the production shape [91, 800, 800, 800, 250, 250], measured ~100 in float64)."""
    return GEMM_FLOPS[dtype] * min(1.0, max(width, 8) / 512.0) ** 0.5


def _window_nodes(model, temperature_k, passes, keep_density, halfwidth):
    from .electronic.density import TAIL
    from .units import kelvin_to_ev
    n_e = model.energy_grid.count
    if not keep_density:
        return 0
    if passes == 1:
        return n_e
    spacing = model.energy_grid.spacing_ev
    half = halfwidth if halfwidth is not None else max(2 * spacing, 0.25)
    span = 2 * half + 2 * TAIL * kelvin_to_ev(temperature_k) + 2 * spacing
    return int(min(n_e, math.ceil(span / spacing) + 2))


def estimate(natoms, cell, grid, model, ranks, options, threads_per_rank=1):
    """:class:`RunPlan` of a ``predict`` run on ``ranks`` ranks. Local, cheap (no per-point work).

    Raises InputError when the grid is unusable (too large, or too small for the ranks).
    """
    from .decomposition.grid import GridDecomposition, choose_proc_grid
    from .decomposition.passes import plan_passes
    grid = tuple(int(n) for n in grid)
    if len(grid) != 3 or min(grid) < 1:
        raise InputError(f"grid must be three positive integers, got {grid}")
    points = math.prod(grid)
    if points > MAX_POINTS:
        raise InputError(f"grid {'x'.join(map(str, grid))} has {points:.3g} points, beyond what the engine runs "
                         f"({MAX_POINTS:.3g}); is the cell in Å? (volume {abs(np.linalg.det(cell)):.4g} Å^3)")
    species = model.species
    params = model.descriptors
    cutoff = params.max_cutoff(species)
    dims = choose_proc_grid(grid, ranks, cell, cutoff)
    decomp = GridDecomposition(grid, tuple(dims), 0)
    block = decomp.max_local_size()
    passes = plan_passes(decomp, options.max_points_per_pass).n_passes
    per_pass = -(-block // passes)
    volume = abs(float(np.linalg.det(cell)))
    neighbours = natoms / volume * 4.0 / 3.0 * math.pi * cutoff ** 3
    dtype = options.dtype
    n_e, k = model.n_energies, model.n_features
    widths = model.layer_sizes[1:]
    batch = min(options.batch_size, per_pass)
    window = _window_nodes(model, options.temperature_k or model.temperature_k, passes, options.keep_density,
                           options.window_halfwidth_ev)
    acc_item = 8 if 8 * window <= 160 else 4
    memory = {
        "fixed": FIXED_BYTES,
        "atoms": ATOM_BYTES * natoms,
        "accumulator": block * (8 + window * acc_item + 1 + 8) if options.keep_density else 0,
        "pass": per_pass * (3 * 8 * 2 + k * 8 + n_e * 8 * 2) + batch * 8 * 3 * max(widths),
    }
    energy = getattr(options, "energy", None) is not None
    if energy:
        from .energy.terms import ewald_layout
        from .units import BOHR_ANGSTROM
        own, ewald_sigma, ewald_shape = ewald_layout(np.asarray(cell) / BOHR_ANGSTROM, natoms, grid)
        ewald_points = math.prod(ewald_shape) if own else 0
        memory["energy"] = block * (8 + ENERGY_BYTES_PER_POINT) + EWALD_BYTES_PER_POINT * ewald_points // ranks
    peak = memory["fixed"] + memory["atoms"] + max(memory["accumulator"] + memory["pass"], memory.get("energy", 0))
    if energy and getattr(options, "forces", False):
        # second sweep: density, dn/dμ and U(r) per block point; per pass point indices, float64 descriptors
        # (and one copy) and dF/dB of two channels (an upper bound: since the batched one-channel sweep these
        # live per batch); per batch the network's activations for autograd, the LDOS gradients and the
        # kernel's U totals (2 idxu float64 per point). Added to the energy run's peak: the process does not
        # return that memory in between (measured, 10,000 atoms on 2 ranks: +196 MiB over the energy-only
        # run; README, Forces).
        idxu = sum((j + 1) ** 2 for j in range(params.twojmax + 1))
        memory["forces"] = (block * 24 + per_pass * (4 * k * 8 + FORCES_PASS_BYTES_PER_POINT)
                            + batch * 8 * (4 * n_e + 3 * sum(widths) + 2 * idxu))
        peak += memory["forces"]
    net_seconds = sum(2.0 * a * b / _gemm_rate(b, dtype) for a, b in zip(model.layer_sizes[:-1], model.layer_sizes[1:]))
    desc_flops, desc_rate = _descriptor_flops(params, neighbours, options)
    core = {"descriptors": points * desc_flops / desc_rate, "inference": points * net_seconds,
            "postprocess": points * (POST_SECONDS_PER_POINT + n_e * POST_SECONDS_PER_POINT_NODE)}
    if energy:
        from .energy.ewald import REAL_SPACE_CUTOFF
        rcut = REAL_SPACE_CUTOFF * ewald_sigma * BOHR_ANGSTROM                # Å
        pairs = natoms * natoms / volume * 4.0 / 3.0 * math.pi * rcut ** 3
        core["energy"] = ((points + ewald_points) * ENERGY_SECONDS_PER_POINT + pairs * PAIR_SECONDS
                          + natoms * (2 if own else 1) * DEPOSIT_SECONDS_PER_ATOM)
    total = sum(core.values())
    imbalance = block * ranks / points                        # the largest rank's share over the mean
    wall = START_SECONDS + total * imbalance / (ranks * threads_per_rank)
    return RunPlan(natoms=int(natoms), grid=grid, points=points, ranks=int(ranks), threads_per_rank=threads_per_rank,
                   proc_grid=tuple(dims), points_per_rank=block, passes=passes, points_per_pass=per_pass,
                   neighbours_per_point=neighbours, memory_bytes={k: int(v) for k, v in memory.items()},
                   peak_bytes_per_rank=int(peak), core_seconds=core, core_hours=total / 3600.0,
                   wall_seconds=wall)


def _descriptor_flops(params, neighbours, options):
    """(flop per point, flop/s per core) of the descriptor backend."""
    backend = getattr(options, "descriptors", "native")
    try:
        from .descriptors.native_grid import native_module
        kernel = native_module().SnapGrid(params.twojmax, params.rfac0, params.rmin0, params.switchflag,
                                          params.bzeroflag)
        if backend == "lammps":
            return kernel.flops_per_point(neighbours, lammps=True), LAMMPS_FLOPS
        from .model.inference import descriptor_precision
        return kernel.flops_per_point(neighbours), NATIVE_FLOPS[descriptor_precision(options.dtype)]
    except (InputError, ImportError):          # no native build: LAMMPS' measured 3200 points/s at 54 neighbours
        return 1.0, 3200.0 * 54.3 / max(neighbours, 1.0)


def _cgroup_limit():
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
            if text.isdigit() and int(text) < (1 << 60):
                return int(text)
        except OSError:
            pass
    return None


def _mem_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def available_memory_per_rank(comm):
    """Bytes each rank may use: SLURM's per-CPU/per-node memory if set, else the node's available memory
    (and cgroup limit) shared by its ranks. Collective over ``comm``; None when unknown."""
    from .parallel import node_local_size
    local = node_local_size(comm)
    limits = []
    if os.environ.get("SLURM_MEM_PER_CPU", "").isdigit():
        limits.append(int(os.environ["SLURM_MEM_PER_CPU"]) * MIB * int(os.environ.get("SLURM_CPUS_PER_TASK", "1")))
    if os.environ.get("SLURM_MEM_PER_NODE", "").isdigit():
        limits.append(int(os.environ["SLURM_MEM_PER_NODE"]) * MIB // local)
    avail, cgroup = _mem_available(), _cgroup_limit()
    from .parallel import peak_rss_bytes
    if avail is not None:
        limits.append(avail // local + peak_rss_bytes())
    if cgroup is not None:
        limits.append(cgroup // local)
    value = min(limits) if limits else None
    from mpi4py import MPI
    values = comm.allgather(value)
    known = [v for v in values if v is not None]
    return min(known) if known else None


def plan_run(comm, natoms, cell, grid, model, options):
    """The :class:`RunPlan` of this run; InputError on every rank if it cannot fit. Collective over ``comm``."""
    from .parallel import torch_threads_per_rank
    plan = estimate(natoms, cell, grid, model, comm.size, options, torch_threads_per_rank(comm))
    limit = options.memory_per_rank_bytes or available_memory_per_rank(comm)
    plan.available_bytes_per_rank = int(limit) if limit else None
    if limit and plan.peak_bytes_per_rank > limit:
        need = plan.peak_bytes_per_rank - FIXED_BYTES - plan.memory_bytes["atoms"]
        room = limit - FIXED_BYTES - plan.memory_bytes["atoms"]
        ranks = math.ceil(comm.size * need / room) if room > 0 else None
        hint = (f"about {ranks} ranks (or nodes with more memory per rank)" if ranks else
                "nodes with more memory per rank (the atoms alone do not fit)")
        raise InputError(
            f"this run needs about {plan.peak_bytes_per_rank / (1 << 30):.1f} GiB per rank ({plan.points:,} grid "
            f"points {'x'.join(map(str, plan.grid))}, {plan.points_per_rank:,} on the largest of {comm.size} ranks) "
            f"but the ranks have {limit / (1 << 30):.1f} GiB each: use {hint}, a coarser --grid, or check the "
            "cell's length unit (Å); `mlsurrogate plan` shows the breakdown")
    return plan
