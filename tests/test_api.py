"""The Python API and the ASE calculator: one model, many structures, no files; 1 and 2 ranks agree."""
import json
import subprocess
import textwrap

import ase.io
import numpy as np
import pytest

from conftest import BE2, BIN, ROOT, SNAP0

MODEL = ROOT / "models" / "be2.mlsm"
GRID = (20, 20, 30)                       # fixed grid (fine enough for ecutrho at 6 % compression): smooth E(V)
STRAINS = (0.94, 0.97, 1.0, 1.03, 1.06)   # linear strains of the Be2 cell for the equation of state


def _options():
    return dict(grid=GRID, dtype="float64", pseudo_dir=str(BE2))


def _strained(atoms, s):
    a = atoms.copy()
    a.set_cell(atoms.cell.array * s, scale_atoms=True)
    return a


def test_calculator_equation_of_state(comm, be2):
    """ASE's EquationOfState on calculator energies; free_energy is predict's total energy to 1e-8 eV,
    energy is F + TS/2; results are cached until the atoms change; no forces or stress; the same calls
    under mpirun -n 2 (COMM_WORLD) give the same free energies to 1e-8 eV.

    be2.mlsm was trained on snapshots at one volume: its E(V) has its extremum inside the sampled range but
    is a maximum (negative bulk modulus, README "Python API"), so only the workflow is asserted here, not
    beryllium's bulk modulus."""
    from ase.calculators.calculator import PropertyNotImplementedError
    from ase.eos import EquationOfState
    from mlsurrogate import EnergySettings, MLSurrogateCalculator, PredictOptions, load_model, predict
    model = load_model(comm, str(MODEL))
    atoms = ase.io.read(SNAP0)
    calc = MLSurrogateCalculator(model, comm, **_options())
    volumes, energies = [], []
    for s in STRAINS:
        a = _strained(atoms, s)
        a.calc = calc
        volumes.append(a.get_volume())
        energies.append(a.get_potential_energy(force_consistent=True))
    assert len(set(energies)) == len(energies)          # recomputed for every cell
    v0, e0, bulk = EquationOfState(volumes, energies, eos="birchmurnaghan").fit()
    assert min(volumes) < v0 < max(volumes) and np.isfinite(e0) and np.isfinite(bulk)

    a = _strained(atoms, STRAINS[1])
    a.calc = calc
    free = a.get_potential_energy(force_consistent=True)
    ref = predict(comm, a, model, PredictOptions(grid=GRID, dtype="float64",
                                                 energy=EnergySettings(pseudo_dir=str(BE2))))
    assert free == pytest.approx(ref.free_energy_ev, abs=1e-8)
    assert calc.get_fermi_level() == pytest.approx(ref.fermi_energy_ev, abs=1e-10)
    assert calc.get_band_energy() == pytest.approx(ref.band_energy_ev, abs=1e-10)
    energies_ev, dos = calc.get_dos()
    assert np.allclose(dos, ref.dos_per_ev, rtol=1e-12) and np.allclose(energies_ev, ref.dos_energies_ev)
    assert a.get_potential_energy() == pytest.approx(free - 0.5 * ref.entropy_contribution_ev, abs=1e-10)

    first = calc.prediction                # cached until the atoms change
    a.get_potential_energy()
    assert calc.prediction is first
    a.positions[0, 2] += 0.05
    a.get_potential_energy()
    assert calc.prediction is not first
    with pytest.raises(PropertyNotImplementedError):   # forces: tests/test_forces.py (relax uses them)
        a.get_stress()

    two = _free_energies_on_two_ranks((STRAINS[0], STRAINS[-1]))
    assert np.allclose(two, [energies[0], energies[-1]], rtol=0, atol=1e-8), (energies, two)


def _free_energies_on_two_ranks(strains):
    """The calculator's free energies of the strained Be2 cells under mpirun -n 2 (COMM_WORLD)."""
    code = f"""
        import json
        import ase.io
        from mpi4py import MPI
        from mlsurrogate.ase import MLSurrogateCalculator
        atoms = ase.io.read({str(SNAP0)!r})
        calc = MLSurrogateCalculator({str(MODEL)!r}, MPI.COMM_WORLD, grid={GRID}, dtype="float64",
                                     pseudo_dir={str(BE2)!r})
        out = []
        for s in {tuple(strains)}:
            a = atoms.copy()
            a.set_cell(atoms.cell.array * s, scale_atoms=True)
            a.calc = calc
            out.append(a.get_potential_energy(force_consistent=True))
        assert calc.prediction.ranks == 2
        if MPI.COMM_WORLD.rank == 0:
            print(json.dumps(out))
    """
    cmd = [str(BIN / "mpirun"), "-n", "2", str(BIN / "python"), "-c", textwrap.dedent(code)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_ranks_with_different_atoms_get_one_error(comm):
    """A Python caller that hands ranks different structures gets an InputError on every rank, not a hang."""
    code = f"""
        import ase.io
        from mpi4py import MPI
        from mlsurrogate import Pipeline, load_model
        from mlsurrogate.errors import InputError
        comm = MPI.COMM_WORLD
        atoms = ase.io.read({str(SNAP0)!r})
        atoms.positions[0, 0] += 0.01 * comm.rank
        try:
            Pipeline(comm, load_model(comm, {str(MODEL)!r})).predict(atoms)
        except InputError as exc:
            print("rank", comm.rank, "InputError:", exc)
    """
    cmd = [str(BIN / "mpirun"), "-n", "2", str(BIN / "python"), "-c", textwrap.dedent(code)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("different structures") == 2, proc.stdout


def test_model_functional_is_checked_against_the_pseudopotentials(comm, be2):
    """A model recorded as trained on LDA data (convert-model --xc) refuses PBE pseudopotentials at setup."""
    from mlsurrogate import EnergySettings, Pipeline, PredictOptions, load_model
    from mlsurrogate.errors import ModelError
    model = load_model(comm, str(MODEL))
    assert model.xc_functional == "PBE" and model.ecutrho_ry == 160.0
    pipeline = Pipeline(comm, model, PredictOptions(energy=EnergySettings(pseudo_dir=str(BE2))))
    assert pipeline.setup(ase.io.read(SNAP0)).energy.inputs.functional == "PBE"
    model.xc_functional = "LDA"
    with pytest.raises(ModelError, match="trained on LDA"):
        pipeline.setup(ase.io.read(SNAP0))
