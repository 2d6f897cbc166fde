"""Radial distribution function (distributed) and the transferability distance to a model's training RDF."""
import json

import ase.build
import numpy as np
import pytest

from conftest import BE2, ROOT, SNAP0, run_cli

from mlsurrogate.structure.rdf import rdf, rdf_distance


def test_fcc_coordination(comm):
    """Ideal fcc: the first peak sits at a/√2 and holds 12 neighbours (∫ ρ g 4π r² dr), the second 6 at a."""
    atoms = ase.build.bulk("Al", "fcc", a=4.05, cubic=True).repeat((2, 2, 2))
    r, g = rdf(comm, atoms, 4.5, bins=450)
    rho = len(atoms) / atoms.get_volume()
    dr = r[1] - r[0]
    n = np.cumsum(rho * g * 4 * np.pi * r ** 2 * dr)
    first = 4.05 / np.sqrt(2)
    assert r[np.argmax(g)] == pytest.approx(first, abs=dr)
    assert n[np.searchsorted(r, first + 0.2)] == pytest.approx(12.0, abs=1e-9)
    assert n[-1] == pytest.approx(18.0, abs=1e-9)
    assert rdf_distance(r, g, r, g) == 0.0


def test_rdf_cli_ranks_and_predict_keys(tmp_path, be2):
    """1 and 2 ranks give the same RDF; predict reports the distance to the training RDF in results.json."""
    cell = tmp_path / "fcc.extxyz"
    ase.build.bulk("Be", "fcc", a=3.16).repeat(3).write(cell)
    from mlsurrogate.cli.main import main
    outs = []
    for n in (1, 2):
        args = ["rdf", "--structure", SNAP0, cell, "--model", ROOT / "models" / "be2.mlsm", "--out", tmp_path / f"r{n}"]
        if n == 1:
            assert main([str(a) for a in args]) == 0       # in this process (1 rank)
        else:
            run_cli(args, nprocs=n, timeout=120)
        outs.append(json.loads((tmp_path / f"r{n}" / "rdf.json").read_text()))
    for a, b in zip(*[o["structures"] for o in outs]):
        assert np.allclose(a["g"], b["g"], rtol=0, atol=1e-12)
        assert a["distance_to_training"] == pytest.approx(b["distance_to_training"], abs=1e-12)
    snap, fcc = outs[0]["structures"]
    assert not snap["outside_training"] and fcc["outside_training"]        # fcc Be is outside (threshold 0.5)
    run_cli(["predict", "--model", ROOT / "models" / "be2.mlsm", "--structure", SNAP0, "--no-energy",
             "--out", tmp_path / "p"], nprocs=2, timeout=120)
    res = json.loads((tmp_path / "p" / "results.json").read_text())
    assert res["rdf_distance_to_training"] == pytest.approx(snap["distance_to_training"], abs=1e-12)
    assert res["rdf_outside_training"] is False and res["rdf_r_max_A"] == pytest.approx(4.67637)


def test_mala_model_has_no_training_rdf(comm, be2):
    from mlsurrogate.model.load import load_model
    from mlsurrogate.structure.rdf import transferability
    import ase.io
    res = transferability(comm, ase.io.read(SNAP0), load_model(comm, str(BE2 / "Be_model.zip")))
    assert res["rdf_distance_to_training"] is None and "no training RDF" in res["rdf_note"]
