"""Results a person can use: results.json, density HDF5, DOS plot. Stage: output.

Nothing is gathered on one rank: the density is written block by block, ranks taking turns on one
HDF5 file (h5py from PyPI is serial). Files are written under temporary names and renamed only when
everything succeeded, so a failed run never leaves a half-written result.
"""
import json
import os

import numpy as np

from ..errors import MLSurrogateError, OutputError

__all__ = ["results_dict", "write_json_atomic", "write_density_h5", "plot_dos"]


def results_dict(prediction, atoms, model, peak_rss_max, extra=None):
    """The results.json content (contract keys first). Local."""
    p = prediction
    d = {
        "natoms": p.natoms,
        "grid": [int(n) for n in p.grid],
        "ranks": p.ranks,
        "temperature_K": p.temperature_k,
        "number_of_electrons": p.number_of_electrons,
        "fermi_energy_eV": p.fermi_energy_ev,
        "band_energy_eV": p.band_energy_ev,
        "entropy_contribution_eV": p.entropy_contribution_ev,
        "dos_energies_eV": [float(e) for e in p.dos_energies_ev],
        "dos_per_eV": [float(v) for v in p.dos_per_ev],
        "timings_s": {k: float(v) for k, v in p.timings_s.items()},
        "peak_rss_bytes_max_rank": int(peak_rss_max),
        "number_of_electrons_target": p.number_of_electrons_target,
        "band_energy_per_atom_eV": p.band_energy_ev / p.natoms,
        "species": sorted(set(atoms.get_chemical_symbols())),
        "cell_A": atoms.cell.array.tolist(),
        "volume_A3": float(abs(np.linalg.det(atoms.cell.array))),
        "proc_grid": list(p.proc_grid),
        "descriptor_passes": p.n_passes,
        "density_recomputed": p.recomputed,
        "model": {"source": model.metadata.get("source"), "format": model.metadata.get("format"),
                  "layer_sizes": model.layer_sizes},
        "units": {"energy": "eV", "length": "Angstrom", "dos": "1/eV", "density": "1/Angstrom^3",
                  "temperature": "K"},
    }
    if extra:
        d.update(extra)
    return d


def write_json_atomic(path, data):
    """Write JSON to ``path`` via a temporary file and rename. Local (call on one rank).

    Non-finite numbers are refused (they are not JSON); a full disk or unwritable place is an OutputError
    and leaves no temporary file behind.
    """
    try:
        text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    except ValueError:
        raise MLSurrogateError(f"refusing to write {path}: the results hold NaN or infinite values "
                               "(please report this with the input)") from None
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    try:
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_density_h5(comm, path, density_block, decomp, cell):
    """Write the distributed density (1/Å^3) to ``path`` as dataset ``density`` (nx, ny, nz). Collective.

    Rank 0 creates the file; then each rank in turn opens it and writes its own block.
    """
    import h5py
    token = None
    if comm.rank > 0:
        token = comm.recv(source=comm.rank - 1, tag=77)
    error = token if isinstance(token, str) else None
    if error is None:
        try:
            mode = "w" if comm.rank == 0 else "r+"
            with h5py.File(path, mode) as f:
                if comm.rank == 0:
                    ds = f.create_dataset("density", shape=decomp.global_shape, dtype="f8")
                    ds.attrs["units"] = "1/Angstrom^3"
                    ds.attrs["description"] = ("valence electron density; element [i,j,k] at "
                                               "r = i/nx a + j/ny b + k/nz c")
                    f.attrs["cell_A"] = np.asarray(cell, dtype=float)
                    f.attrs["cell_units"] = "Angstrom (rows are lattice vectors)"
                    f.attrs["grid"] = np.asarray(decomp.global_shape, dtype=np.int64)
                f["density"][decomp.local_slice] = density_block
        except OSError as exc:
            error = f"cannot write {path}: {exc}"
    if comm.rank < comm.size - 1:
        comm.send(error or True, dest=comm.rank + 1, tag=77)
    error = comm.bcast(error, root=comm.size - 1)
    if error:
        raise OutputError(error)


def plot_dos(path, energies, dos, fermi_energy, title):
    """Save a DOS plot (PNG). Local (call on one rank)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(energies, dos, "o-", lw=1.5, ms=3, label="DOS")
    ax.axvline(fermi_energy, color="k", ls="--", lw=1, label=f"$E_F$ = {fermi_energy:.4f} eV")
    ax.set_xlabel("energy (eV)")
    ax.set_ylabel("DOS (states/eV)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120, format="png")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
