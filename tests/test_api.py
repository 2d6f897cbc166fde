"""The Python API and the ASE calculator: one model, many structures, no files; 1 and 2 ranks agree."""
import json
import subprocess
import textwrap

import ase.io
import numpy as np
import pytest

from conftest import BE2, BIN, ROOT, SNAP0

MODEL = ROOT / "models" / "be2.mlsm"
GRID = (18, 18, 27)                       # fixed grid: the energy is smooth in the volume
STRAINS = (0.97, 0.985, 1.0, 1.015, 1.03)  # linear strains of the Be2 cell for the equation of state


def _options():
    return dict(grid=GRID, dtype="float64", pseudo_dir=str(BE2))


def _strained(atoms, s):
    a = atoms.copy()
    a.set_cell(atoms.cell.array * s, scale_atoms=True)
    return a


def test_calculator_equation_of_state(comm, be2):
    """ASE's EquationOfState on calculator energies: a smooth curve with a minimum and a bulk modulus of
    beryllium's order; free_energy is predict's total energy to 1e-8 eV, energy is F + TS/2."""
    from ase.calculators.calculator import PropertyNotImplementedError
    from ase.eos import EquationOfState
    from ase.units import GPa
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
    v0, e0, bulk = EquationOfState(volumes, energies).fit()
    assert min(volumes) < v0 < max(volumes)
    assert 50 < bulk / GPa < 250          # Be: ~115-130 GPa (experiment, DFT)

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
    for getter in (a.get_forces, a.get_stress):
        with pytest.raises(PropertyNotImplementedError):
            getter()


def test_calculator_two_ranks_equal_one_rank(comm, be2):
    """The same calculator calls under mpirun -n 2 (COMM_WORLD) give the 1-rank free energies to 1e-8 eV."""
    from mlsurrogate import MLSurrogateCalculator
    atoms = ase.io.read(SNAP0)
    calc = MLSurrogateCalculator(str(MODEL), comm, **_options())
    one = []
    for s in (STRAINS[0], STRAINS[-1]):
        a = _strained(atoms, s)
        a.calc = calc
        one.append(a.get_potential_energy(force_consistent=True))
    code = f"""
        import json
        import ase.io
        from mpi4py import MPI
        from mlsurrogate.ase import MLSurrogateCalculator
        atoms = ase.io.read({str(SNAP0)!r})
        calc = MLSurrogateCalculator({str(MODEL)!r}, MPI.COMM_WORLD, grid={GRID}, dtype="float64",
                                     pseudo_dir={str(BE2)!r})
        out = []
        for s in {(STRAINS[0], STRAINS[-1])}:
            a = atoms.copy()
            a.set_cell(atoms.cell.array * s, scale_atoms=True)
            a.calc = calc
            out.append(a.get_potential_energy(force_consistent=True))
        assert calc.prediction.ranks == 2
        if MPI.COMM_WORLD.rank == 0:
            print(json.dumps(out))
    """
    cmd = [str(BIN / "mpirun"), "-n", "2", str(BIN / "python"), "-c", textwrap.dedent(code)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    two = json.loads(proc.stdout.strip().splitlines()[-1])
    assert np.allclose(two, one, rtol=0, atol=1e-8), (one, two)


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
