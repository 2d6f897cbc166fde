"""Fit a feed-forward network descriptors -> LDOS with torch. Stage: training.

Standardised inputs, scaled LDOS (see ``[network] output_scaling``), MSE loss on the scaled LDOS, minibatch
optimiser, early stopping on the validation loss (the weights of the best epoch are kept). Deterministic
for a fixed seed and thread count on CPU (``torch.use_deterministic_algorithms``); uses CUDA when
``device`` is "auto" and torch sees a GPU. Out: a :class:`~mlsurrogate.model.model.Model`.
"""
from contextlib import contextmanager
from dataclasses import dataclass
import os
import time

import numpy as np

from ..errors import InputError
from ..model.model import Model

__all__ = ["TrainingData", "split_points", "fit_scalers", "train_model"]


@dataclass
class TrainingData:
    """Points to fit and to validate on: x (n, K) float64, y (n, n_energies) float64 in 1/(eV Å^3)."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def split_points(snapshots, fraction, seed):
    """Per snapshot, a seeded random boolean mask of held-out points (``fraction`` of them). Local."""
    rng = np.random.default_rng(seed)
    masks = []
    for s in snapshots:
        n = s.ldos.shape[0]
        mask = np.zeros(n, dtype=bool)
        mask[rng.permutation(n)[:int(round(fraction * n))]] = True
        masks.append(mask)
    return masks


def fit_scalers(x, y, output_scaling):
    """(input_shift, input_scale, output_scale, output_shift), float64; constant features get scale 0."""
    mean, std = x.mean(axis=0), x.std(axis=0)
    in_scale = np.where(std > 0, 1.0 / np.where(std > 0, std, 1.0), 0.0)
    n = y.shape[1]
    if output_scaling == "feature-wise-standard":
        out_scale, out_shift = y.std(axis=0), y.mean(axis=0)
    elif output_scaling == "standard":
        out_scale, out_shift = np.full(n, y.std()), np.full(n, y.mean())
    else:  # minmax
        out_scale, out_shift = np.full(n, y.max() - y.min()), np.full(n, y.min())
    if not np.all(out_scale > 0):
        raise InputError("the training LDOS is constant at some energy; cannot scale it (use output_scaling "
                         "'standard' or 'minmax', or check the data)")
    return mean, in_scale, out_scale, out_shift


@contextmanager
def _deterministic_torch(threads):
    # cuBLAS is deterministic only with a fixed workspace; read when CUDA initialises (no effect on CPU)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import torch
    old = (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    try:
        yield torch
    finally:
        torch.use_deterministic_algorithms(old[0])
        torch.set_num_threads(old[1])


def _network(torch, sizes, activations):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if activations[i] is not None:
            layers.append(getattr(torch.nn, activations[i])())
    return torch.nn.Sequential(*layers)


def _batched_loss(torch, net, x, y, batch=16384):
    """Mean squared error over all of (x, y), summed in batches (bounded memory)."""
    total = 0.0
    with torch.no_grad():
        for s in range(0, x.shape[0], batch):
            total += float(torch.nn.functional.mse_loss(net(x[s:s + batch]), y[s:s + batch], reduction="sum"))
    return total / (x.shape[0] * y.shape[1])


def train_model(data, cfg, *, grid_spacing_A, provenance, progress=None):
    """Train on ``data`` with the settings of ``cfg`` (TrainConfig). Local.

    progress(epoch, train_loss, val_loss, seconds, improved) is called after every epoch.
    Returns (Model, history dict with best_epoch, epochs_run, best_val_loss, seconds, device).
    """
    opt_cfg, net_cfg = cfg.training, cfg.network
    hidden = list(net_cfg.hidden_layers)
    acts = [net_cfg.activation] * len(hidden) if isinstance(net_cfg.activation, str) else list(net_cfg.activation)
    activations = acts + [None]
    sizes = [data.x_train.shape[1]] + hidden + [data.y_train.shape[1]]
    in_shift, in_scale, out_scale, out_shift = fit_scalers(data.x_train, data.y_train, net_cfg.output_scaling)
    with _deterministic_torch(opt_cfg.threads) as torch:
        dtype = getattr(torch, opt_cfg.dtype)
        use_cuda = opt_cfg.device == "cuda" or (opt_cfg.device == "auto" and torch.cuda.is_available())
        if use_cuda and not torch.cuda.is_available():
            raise InputError("[training] device = 'cuda' but torch sees no CUDA device")
        device = torch.device("cuda" if use_cuda else "cpu")
        tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device=device, dtype=dtype)
        x_t, x_v = (tensor((x - in_shift) * in_scale) for x in (data.x_train, data.x_val))
        y_t, y_v = (tensor((y - out_shift) / out_scale) for y in (data.y_train, data.y_val))
        torch.manual_seed(opt_cfg.seed)
        net = _network(torch, sizes, activations).to(device=device, dtype=dtype)
        optimiser = getattr(torch.optim, opt_cfg.optimizer)(net.parameters(), lr=opt_cfg.learning_rate,
                                                            weight_decay=opt_cfg.weight_decay)
        shuffle = torch.Generator().manual_seed(opt_cfg.seed)
        schedule, cosine = None, None
        if opt_cfg.lr_cosine_final >= 0:
            steps = opt_cfg.max_epochs * -(-x_t.shape[0] // opt_cfg.batch_size)
            cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=steps,
                                                                eta_min=opt_cfg.lr_cosine_final)
        if opt_cfg.lr_plateau_patience > 0:
            schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimiser, factor=opt_cfg.lr_plateau_factor, patience=opt_cfg.lr_plateau_patience)
        best, best_state, best_epoch, epoch = np.inf, None, -1, 0
        t0 = time.perf_counter()
        for epoch in range(1, opt_cfg.max_epochs + 1):
            net.train()
            order = torch.randperm(x_t.shape[0], generator=shuffle).to(device)
            for s in range(0, x_t.shape[0], opt_cfg.batch_size):
                idx = order[s:s + opt_cfg.batch_size]
                optimiser.zero_grad()
                loss = torch.nn.functional.mse_loss(net(x_t[idx]), y_t[idx])
                loss.backward()
                optimiser.step()
                if cosine is not None:
                    cosine.step()
            net.eval()
            train_loss, val_loss = _batched_loss(torch, net, x_t, y_t), _batched_loss(torch, net, x_v, y_v)
            improved = val_loss < best - opt_cfg.min_delta
            if improved:
                best, best_epoch = val_loss, epoch
                best_state = [p.detach().to("cpu").numpy().copy() for p in net.parameters()]
            if progress is not None:
                progress(epoch, train_loss, val_loss, time.perf_counter() - t0, improved)
            if schedule is not None:
                schedule.step(val_loss)
            if epoch - best_epoch >= opt_cfg.patience:
                break
        seconds = time.perf_counter() - t0
        final_lr = float(optimiser.param_groups[0]["lr"])
    history = {"best_epoch": best_epoch, "epochs_run": epoch, "best_val_loss": best, "seconds": seconds,
               "device": str(device), "final_learning_rate": final_lr}
    species = tuple(sorted(cfg.model.valence_electrons))
    model = Model(
        species=species, descriptors=cfg.descriptors, energy_grid=cfg.energy_grid,
        temperature_k=float(cfg.model.temperature_K),
        weights=best_state[0::2], biases=best_state[1::2], activations=activations,
        input_shift=in_shift, input_scale=in_scale, output_scale=out_scale, output_shift=out_shift,
        grid_spacing_A=tuple(float(h) for h in grid_spacing_A),
        electrons_per_atom={s: float(cfg.model.valence_electrons[s]) for s in species},
        clamp_negative=net_cfg.clamp_negative_ldos,
        pseudopotentials=dict(cfg.model.pseudopotentials),
        xc_functional=cfg.model.xc_functional, ecutrho_ry=cfg.model.ecutrho_ry,
        ldos_broadening_std_ev=float(cfg.model.ldos_broadening_std_ev),
        metadata={"training": {**provenance, **history}})
    model.validate()
    return model, history
