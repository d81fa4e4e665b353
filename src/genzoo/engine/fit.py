"""`genzoo.fit`: train any model with Lightning, resumably, on one CPU or many GPUs/nodes."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from genzoo.base import GenerativeModel
from genzoo.errors import GenzooError

CKPT_DIR = "checkpoints"
LAST = "last.ckpt"
BEST = "best.ckpt"


def make_loader(data: Dataset, batch_size: int, shuffle: bool, num_workers: int = 0) -> DataLoader:
    collate = getattr(data, "collate", None)
    drop_last = shuffle and len(data) > batch_size  # type: ignore[arg-type]
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, collate_fn=collate,
                      num_workers=num_workers, persistent_workers=num_workers > 0)


def fit(
    model: GenerativeModel,
    data: Dataset,
    *,
    max_steps: int | None = None,
    max_epochs: int | None = None,
    batch_size: int = 64,
    lr: float | None = None,
    devices: int | str | list[int] = "auto",
    accelerator: str = "auto",
    strategy: str = "auto",
    num_nodes: int = 1,
    precision: str | None = None,
    seed: int = 0,
    out: str | os.PathLike[str] | None = None,
    ema: float | None = None,
    grad_clip: float | None = 1.0,
    warmup_steps: int = 0,
    val_data: Dataset | None = None,
    val_every: int | None = None,
    early_stopping: int | None = None,
    sample_every: int | None = None,
    checkpoint_every: int | None = None,
    progress: bool = True,
    num_workers: int = 0,
    log_every: int = 10,
) -> GenerativeModel:
    """Train `model` on `data` and return it with its trained (EMA, or best-validation) weights.

    With `out`, the run is resumable: checkpoints go to `out/checkpoints/last.ckpt` (safetensors, written
    atomically), logs to `out/logs` (CSV) and `out/tb` (TensorBoard), sample grids to `out/samples`, and
    the final model to `out/config.json` + `out/model.safetensors`. Calling `fit` again with the same `out`
    continues from the last checkpoint: weights, optimizer, EMA, step and RNG.

    `precision` defaults to "auto": the model's preference (bf16-mixed for most) where the hardware runs
    it fast (AMX/AVX-512-BF16 CPUs, recent GPUs), else 32-true — see `engine/precision.py`.
    `val_data` enables a validation loss; `early_stopping=N` stops after N validations without
    improvement, and the best-validation weights are the ones returned and saved.
    """
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    from genzoo import hub
    from genzoo.engine.callbacks import SampleGrid
    from genzoo.engine.lit import LitGenerative
    from genzoo.engine.precision import auto_precision
    from genzoo.engine.safe_checkpoint import SafeCheckpointIO, load_state

    if max_steps is None and max_epochs is None:
        raise GenzooError("fit needs max_steps or max_epochs")
    if max_steps is not None and max_steps < 1:
        raise GenzooError(f"max_steps must be at least 1, got {max_steps}")
    if len(data) == 0:  # type: ignore[arg-type]
        raise GenzooError("the training data is empty")
    lr = lr if lr is not None else model.default_lr
    if not lr > 0:
        raise GenzooError(f"lr must be positive, got {lr}")
    precision = precision if precision not in (None, "auto") else auto_precision(accelerator, model.default_precision)
    if ema is None:
        ema = model.default_ema

    _quiet_lightning()
    L.seed_everything(seed, workers=True, verbose=False)

    n_devices = devices if isinstance(devices, int) else (len(devices) if isinstance(devices, list) else 1)
    if strategy == "auto" and (n_devices > 1 or num_nodes > 1):
        strategy = "ddp"

    model.train()
    lit = LitGenerative(model, lr=lr, ema_decay=ema, warmup_steps=warmup_steps)
    callbacks: list[Any] = []
    loggers: list[Any] | bool = False
    ckpt_dir = None
    if out is not None:
        out = Path(out)
        ckpt_dir = out / CKPT_DIR
        every = checkpoint_every or max(1, min(500, (max_steps or 1000) // 4))
        callbacks.append(ModelCheckpoint(dirpath=ckpt_dir, filename="last", save_top_k=0, save_last=True,
                                         every_n_train_steps=every, enable_version_counter=False))
        if sample_every and model.data_info is not None and model.data_info.kind == "image":
            callbacks.append(SampleGrid(out, sample_every))
        loggers = [CSVLogger(out, name="logs"), TensorBoardLogger(out, name="tb", version="")]  # a CSV per call
    if val_data is not None:
        if ckpt_dir is not None:
            callbacks.append(ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val_loss", mode="min",
                                             save_top_k=1, enable_version_counter=False))
        if early_stopping:
            callbacks.append(EarlyStopping(monitor="val_loss", patience=early_stopping, mode="min"))

    trainer = L.Trainer(
        max_steps=max_steps if max_steps is not None else -1,
        max_epochs=max_epochs if max_steps is None else None,
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
        num_nodes=num_nodes,
        precision=precision,
        plugins=[SafeCheckpointIO()],
        callbacks=callbacks,
        logger=loggers,
        enable_checkpointing=out is not None,
        enable_progress_bar=progress,
        enable_model_summary=False,
        gradient_clip_val=grad_clip if not model.manual_optimization else None,
        log_every_n_steps=log_every,
        val_check_interval=val_every if val_data is not None else None,
        check_val_every_n_epoch=None if (val_data is not None and val_every) else 1,
        limit_val_batches=None if val_data is not None else 0,
        num_sanity_val_steps=0,
        default_root_dir=str(out) if out is not None else None,
        deterministic=False,
    )
    data = model.training_data(data)
    val_data = model.training_data(val_data) if val_data is not None else None
    train_loader = make_loader(data, batch_size, shuffle=True, num_workers=num_workers)
    val_loader = make_loader(val_data, batch_size, shuffle=False) if val_data is not None else None
    resume = ckpt_dir / LAST if ckpt_dir is not None and (ckpt_dir / LAST).is_file() else None
    if resume is not None and trainer.is_global_zero:
        print(f"genzoo: resuming from {resume}")
    trainer.fit(lit, train_loader, val_loader, ckpt_path=str(resume) if resume else None)
    if ckpt_dir is not None:
        trainer.save_checkpoint(ckpt_dir / LAST, weights_only=False)

    if val_data is not None and ckpt_dir is not None and (ckpt_dir / BEST).is_file():
        best = load_state(ckpt_dir / BEST)["state_dict"]
        lit.load_state_dict(best)
    trained = lit.trained_model()
    if trained is not model:
        model.load_state_dict(trained.state_dict())
    model.eval()
    if out is not None and trainer.is_global_zero:
        hub.save(model, out, extra={"trained_steps": trainer.global_step})
    return model


def _quiet_lightning() -> None:
    """Lightning's start-up chatter (GPU available: False, ...) buries what matters; keep warnings."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda",
                 "lightning.fabric.utilities.seed"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*defined a `validation_step` but have no `val_dataloader`.*")
    warnings.filterwarnings("ignore", message=".*modules? in eval mode at the start of training.*")
    torch.set_float32_matmul_precision("high")
