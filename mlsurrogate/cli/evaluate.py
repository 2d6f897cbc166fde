"""Energy terms from DFT data: a density or an LDOS on the grid, the structure, the pseudopotentials.

Example: mpirun -n 4 mlsurrogate evaluate --structure scf.out --density n.npy --density-units 1/bohr^3 --out e1
Arrays are .npy, shape (nx, ny, nz[, n]), C order, element [i,j,k] at r = i/nx a + j/ny b + k/nz c.
LDOS in 1/(eV Å^3) on E_i = OFFSET + i SPACING (eV). Energies in eV in results.json (and Ry under
"energies_Ry" for comparison with QE).
"""
import logging
import os
import time

import numpy as np

from .energy_options import add_energy_arguments, energy_summary_lines, parse_assignments

__all__ = ["add_arguments", "run"]

log = logging.getLogger("mlsurrogate")
DENSITY_UNITS = {"1/bohr^3": 1.0, "1/A^3": None}     # None: converted with units.ANGSTROM3_PER_BOHR3


def add_arguments(p):
    p.add_argument("--structure", required=True, help="structure file, any format ASE reads (pw.x in/out too)")
    p.add_argument("--format", default=None, help="ASE format name if the extension is ambiguous")
    p.add_argument("--density", metavar="FILE", help="valence density .npy (nx, ny, nz[, 1])")
    p.add_argument("--density-units", choices=sorted(DENSITY_UNITS), default="1/bohr^3",
                   help="units of --density (default 1/bohr^3)")
    p.add_argument("--ldos", metavar="FILE", help="LDOS .npy (nx, ny, nz, n) in 1/(eV A^3): gives E_F, band "
                   "energy, -TS and the density")
    p.add_argument("--energy-grid", type=float, nargs=3, metavar=("OFFSET_EV", "SPACING_EV", "COUNT"),
                   help="LDOS energy grid (with --ldos)")
    p.add_argument("--temperature", type=float, metavar="K", help="electronic temperature in K (with --ldos)")
    p.add_argument("--ldos-broadening", type=float, default=0.0, metavar="STD_EV",
                   help="Gaussian std (eV) the LDOS is broadened by: adds the zero-broadening correction "
                        "s² D(E_F)/2 to the total, as predict does for a model that states it (default 0: none)")
    p.add_argument("--terms", default=None, help="comma-separated subset of hartree,xc,ewald (default: all "
                   "that the inputs allow)")
    p.add_argument("--valence", action="append", default=[], metavar="SYMBOL=Z",
                   help="valence charge of a species (instead of the UPF's z_valence)")
    add_energy_arguments(p, "the structure file's directory")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--overwrite", action="store_true", help="replace results already in DIR")


def _options(args):
    from ..energy.terms import TERMS
    from ..errors import InputError
    from .checks import positive
    positive(args.temperature, "--temperature", "K")
    positive(args.ecutrho, "--ecutrho", "Ry")
    if args.energy_grid is not None and not all(np.isfinite(args.energy_grid)):
        raise InputError(f"--energy-grid {' '.join(map(str, args.energy_grid))}: needs finite numbers")
    if args.density and args.ldos:
        raise InputError("give either --density or --ldos, not both")
    if args.ldos and (args.energy_grid is None or args.temperature is None):
        raise InputError("--ldos needs --energy-grid OFFSET_EV SPACING_EV COUNT and --temperature K")
    if args.ldos and (args.temperature <= 0 or args.energy_grid[1] <= 0 or args.energy_grid[2] < 2
                      or args.energy_grid[2] != int(args.energy_grid[2])):
        raise InputError("--temperature must be positive and --energy-grid needs SPACING_EV > 0 and an integer "
                         "COUNT >= 2")
    if not (np.isfinite(args.ldos_broadening) and args.ldos_broadening >= 0):
        raise InputError(f"--ldos-broadening {args.ldos_broadening}: must be a finite number >= 0 (eV)")
    if args.ldos_broadening and not args.ldos:
        raise InputError("--ldos-broadening needs --ldos")
    have_density = bool(args.density or args.ldos)
    if args.terms is None:
        terms = TERMS if have_density else ("ewald",)
    else:
        terms = tuple(t.strip() for t in args.terms.split(",") if t.strip())
        bad = [t for t in terms if t not in TERMS]
        if bad or not terms:
            raise InputError(f"unknown term(s) {bad}; choose from {', '.join(TERMS)}")
    if not have_density and any(t in terms for t in ("hartree", "xc")):
        raise InputError("the hartree and xc terms need --density or --ldos")
    return terms


def _load_block(path, sl, what):
    """This rank's block of a .npy array (memory-mapped: only the block is read)."""
    from ..errors import InputError
    from ..npyfile import open_npy
    if os.path.isdir(path):
        raise InputError(f"{what} {path} is a directory, not a .npy file")
    try:
        arr = open_npy(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {what} {path}: {exc}") from None
    return arr, (np.asarray(arr[sl], dtype=np.float64) if sl is not None else None)


def _read_local(comm, path, sl, what):
    """This rank's block of ``path`` as float64; the same InputError on every rank if any rank fails."""
    from ..errors import InputError
    from ..parallel import raise_collectively
    block, error = None, None
    try:
        _, block = _load_block(path, sl, what)
        if not np.all(np.isfinite(block)):
            raise InputError(f"{what} {path} holds NaN or infinite values")
    except Exception as exc:
        error = exc if isinstance(exc, InputError) else InputError(f"cannot read {what} {path}: {exc}")
    raise_collectively(comm, error)
    return block


def _grid_of(comm, args):
    from ..errors import InputError
    from ..parallel import on_root
    path = args.density or args.ldos

    def shape():
        arr, _ = _load_block(path, None, "--density" if args.density else "--ldos")
        if args.density and not (arr.ndim == 3 or (arr.ndim == 4 and arr.shape[3] == 1)):
            raise InputError(f"--density must have shape (nx, ny, nz) or (nx, ny, nz, 1), not {arr.shape}")
        if args.ldos:
            count = int(args.energy_grid[2])
            if arr.ndim != 4 or arr.shape[3] != count:
                raise InputError(f"--ldos has shape {arr.shape}; expected (nx, ny, nz, {count}) for the energy grid")
        return tuple(int(n) for n in arr.shape[:3])
    return on_root(comm, shape)


def _ldos_density(comm, pw, args, n_electrons, volume_a3):
    """(density block in 1/Å^3, DOS observables dict) from the LDOS, by the pipeline's electronic stage
    (the same DOS reduction, Fermi level and density accumulator as ``predict``). Collective."""
    from ..electronic.density import DensityAccumulator, plan_window
    from ..electronic.dos import EnergyGrid, dos_observables
    from ..parallel import reduce_identical
    from ..units import kelvin_to_ev
    grid = EnergyGrid(args.energy_grid[0], args.energy_grid[1], int(args.energy_grid[2]))
    kt = kelvin_to_ev(args.temperature)
    ldos = _read_local(comm, args.ldos, pw.real_slice, "--ldos").reshape(-1, grid.count)
    dv_a3 = volume_a3 / np.prod(pw.shape)
    dos = reduce_identical(comm, ldos.sum(axis=0) * dv_a3)
    obs = dos_observables(grid.energies, dos, n_electrons, args.temperature, args.ldos_broadening)
    acc = DensityAccumulator(len(ldos), grid.energies, kt, plan_window(grid.energies, kt, -np.inf, np.inf),
                             max_window_bytes_per_point=8 * grid.count)   # float64 values: the input's precision
    acc.add(np.arange(len(ldos)), ldos)
    del ldos
    return acc.density(obs.fermi_energy_ev).reshape(pw.real_shape), {
        "temperature_K": args.temperature, "fermi_energy_eV": obs.fermi_energy_ev,
        "band_energy_eV": obs.band_energy_ev, "entropy_contribution_eV": obs.entropy_contribution_ev,
        "broadening_correction_eV": obs.broadening_correction_ev, "ldos_broadening_std_eV": args.ldos_broadening,
        "number_of_electrons_from_dos": obs.number_of_electrons,
        "dos_energies_eV": grid.energies.tolist(), "dos_per_eV": dos.tolist()}


def run(args, comm):
    from ..output.outdir import OutputDir
    from ..output.results import write_json_atomic
    from ..parallel import on_root
    from .checks import valence_map

    t0 = time.perf_counter()
    terms = _options(args)
    valences = valence_map(parse_assignments(args.valence, "--valence", float))
    with OutputDir(comm, args.out, args.overwrite, ["results.json"]) as out:
        results = _evaluate(comm, args, terms, valences, t0)
        on_root(comm, write_json_atomic, out.file("results.json"), results)
    if comm.rank == 0:
        print("\n".join(energy_summary_lines(results)), flush=True)
        print(f"results in {os.path.join(args.out, 'results.json')}", flush=True)
    return 0


def _evaluate(comm, args, terms, valences, t0):
    """The results.json content of ``evaluate``. Collective."""
    from ..energy.plane_waves import PlaneWaveGrid
    from ..energy.setup import discover_pseudopotentials, ecutrho_from_qe_file, energy_inputs, load_pseudopotentials
    from ..energy.stage import density_energy
    from ..energy.terms import ewald_grid
    from ..errors import InputError
    from ..parallel import max_over_ranks, on_root, peak_rss_bytes
    from ..structure.read import check_structure, read_structure, species_of
    from ..units import ANGSTROM3_PER_BOHR3, BOHR_ANGSTROM
    atoms = read_structure(comm, args.structure, args.format)
    species = species_of(atoms)
    check_structure(comm, atoms, species)
    pseudo_dir = args.pseudo_dir or os.path.dirname(os.path.abspath(args.structure))
    need_valences = "ewald" in terms or "xc" in terms or bool(args.ldos)
    need_pseudos = "xc" in terms or (need_valences and any(s not in valences for s in species))
    pseudos = {}
    if need_pseudos:
        files = parse_assignments(args.pseudo, "--pseudo")
        files.update(on_root(comm, discover_pseudopotentials, pseudo_dir, [s for s in species if s not in files]))
        pseudos = load_pseudopotentials(comm, pseudo_dir, files)
    inputs = energy_inputs(atoms, pseudos, valences, need_functional="xc" in terms, need_valences=need_valences)
    n_electrons = inputs.total_charge() if need_valences else None
    if args.density or args.ldos:
        grid = _grid_of(comm, args)
    else:
        grid = ewald_grid(atoms.cell.array / BOHR_ANGSTROM)
    ecutrho = None
    if any(t in terms for t in ("hartree", "xc")):
        ecutrho = args.ecutrho if args.ecutrho is not None else ecutrho_from_qe_file(args.structure)
        if ecutrho is None:
            raise InputError("--ecutrho is needed for the hartree and xc terms (QE's density cutoff, Ry)")
    pw = PlaneWaveGrid(comm, grid, inputs.cell_bohr, ecutrho or 0.0)   # Ewald sums all G: no sphere
    volume_a3 = abs(np.linalg.det(atoms.cell.array))
    results = {"natoms": len(atoms), "grid": list(grid), "ranks": comm.size, "terms": list(terms),
               "ecutrho_Ry": ecutrho, "species": species, "valences": inputs.valences,
               "pseudopotentials": {s: os.path.abspath(pp.path) for s, pp in pseudos.items()}, "functional": inputs.functional}
    density = None
    t1 = time.perf_counter()
    if args.ldos:
        density, dos_results = _ldos_density(comm, pw, args, n_electrons, volume_a3)
        density = density * ANGSTROM3_PER_BOHR3
        results.update(dos_results)
    elif args.density:
        density = _read_local(comm, args.density, pw.real_slice, "--density").reshape(pw.real_shape)
        if args.density_units == "1/A^3":
            density = density * ANGSTROM3_PER_BOHR3
    t2 = time.perf_counter()
    energy = density_energy(pw, inputs, density, results.get("band_energy_eV"),
                            results.get("entropy_contribution_eV"), terms, results.get("broadening_correction_eV", 0.0))
    t3 = time.perf_counter()
    if "electrons" in energy:
        results["number_of_electrons"] = energy.pop("electrons")
    results.update(energy)
    results["timings_s"] = {"read": t2 - t1, "energy": t3 - t2, "total": time.perf_counter() - t0}
    results["peak_rss_bytes_max_rank"] = int(max_over_ranks(comm, peak_rss_bytes()))
    results["units"] = {"energy": "eV", "energies_Ry": "Ry", "length": "Angstrom", "temperature": "K"}
    return results
