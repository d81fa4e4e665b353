"""`genzoo.fit`: train any model, resumably and reproducibly, on one CPU or many GPUs/nodes.

The loop is genzoo's own, on Lightning Fabric: Fabric places the model on its devices, wraps it for DDP or
FSDP, launches the processes and applies the precision; the loop keeps the per-step work to what a bare
PyTorch loop does (forward, backward, clip, step, EMA), because for small models anything more dominates the
step: Lightning's Trainer cost 3-7 ms a step here, more than a whole MAF step. So losses are gathered on the
device and read (and checked for NaN/inf) once every `log_every` steps, in-memory datasets hand over whole
tensor batches (`sampler.Batches`), and logs, checkpoints and evaluations run at intervals.

A checkpoint holds everything the next step depends on: weights, EMA (as of that step), optimizer and
scheduler state, the sampler's epoch and position, every RNG stream, early-stopping state and the
precision, so a run killed anywhere (even mid-epoch, even by SIGKILL) and resumed ends with the same weights,
bit for bit, as one that was never stopped. Ctrl-C stops at the end of the current step and saves the
checkpoint and a usable model.safetensors before raising KeyboardInterrupt.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import math
import os
import signal
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from genzoo.base import GenerativeModel
from genzoo.engine import rng, run_dir
from genzoo.engine.lit import LitGenerative, NonFiniteLoss
from genzoo.engine.sampler import Batches, ResumableSampler, make_loader
from genzoo.errors import GenzooError

CKPT_DIR = "checkpoints"
LAST = "last.ckpt"
BEST = "best.ckpt"


def fit(
    model: GenerativeModel,
    data: Dataset,
    *,
    max_steps: int | None = None,
    max_epochs: int | None = None,
    max_time: float | None = None,
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
    eval_every: int | None = None,
    eval_samples: int = 256,
    checkpoint_every: int | None = None,
    progress: bool = True,
    progress_every: int | None = None,
    num_workers: int = 0,
    log_every: int = 10,
    compile: bool | str = False,
    make_evaluator: Any = None,
    loggers: str | tuple[str, ...] | list[str] = ("csv", "tensorboard"),
) -> GenerativeModel:
    """Train `model` on `data` and return it with its trained (EMA, or best-validation) weights.

    Stops at the first of `max_steps` (training steps, one per batch: a GAN's step is one batch that updates
    both D and G), `max_epochs` and `max_time` (wall-clock seconds of this call). With `out`, the run is
    resumable: checkpoints go to `out/checkpoints/last.ckpt` (safetensors, written atomically), logs to
    `out/logs` (CSV) and `out/tb` (TensorBoard), sample grids to `out/samples`, and the final model to
    `out/config.json` + `out/model.safetensors`. Calling `fit` again with the same `out` continues from the
    last checkpoint exactly as if the run had never stopped. `loggers` picks Lightning's loggers by name (a comma list
    works): csv, tensorboard (sample grids go there as images too), mlflow and wandb (offline) if installed.

    `precision` defaults to "auto": the model's preference (bf16-mixed for most) where it is measurably
    faster on this hardware, else 32-true (see `engine/precision.py`). `val_data` enables a validation loss
    every `val_every` steps; `early_stopping=N` stops after N validations without improvement, and the
    best-validation weights are the ones returned and saved. `eval_every=N` measures quality every N steps
    (sample grid, bits/dim, classifier-FID of `eval_samples` samples) with the evaluator that
    `make_evaluator(train, held_out, out, n_samples)` builds; `genzoo.fit` passes
    `genzoo.metrics.during_training.Evaluator`.
    `compile=True` runs the training step through `torch.compile` (worth it for long runs of big models: the
    GPT's fp32 step ran 1.2x faster after ~60 s of compiling); a string names the torch.compile backend.
    """
    if max_steps is None and max_epochs is None and max_time is None:
        raise GenzooError("fit needs max_steps, max_epochs or max_time")
    check_options(locals())
    if len(data) == 0:  # type: ignore[arg-type]
        raise GenzooError("the training data is empty")
    lr = lr if lr is not None else model.default_lr
    if ema is None:
        ema = model.default_ema
    if eval_every and make_evaluator is None:
        raise GenzooError("eval_every needs an evaluator: call genzoo.fit, which supplies one")
    loggers = tuple(n.strip() for n in (loggers.split(",") if isinstance(loggers, str) else loggers) if n.strip())
    unknown = sorted(set(loggers) - set(LOGGERS))
    if unknown:
        raise GenzooError(f"unknown logger {unknown[0]!r}; choose from {', '.join(LOGGERS)}")
    run = _Run(model, data, locals())
    return run.train()


#: options that are counts: None (off) or a whole number at least this
_COUNTS = {"max_steps": 1, "max_epochs": 1, "batch_size": 1, "log_every": 1, "num_nodes": 1, "sample_every": 1,
           "eval_every": 1, "eval_samples": 1, "checkpoint_every": 1, "val_every": 1, "early_stopping": 1,
           "progress_every": 1, "warmup_steps": 0, "num_workers": 0}
PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true", "64")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")


def check_options(o: dict[str, Any]) -> None:
    """Refuse, by name and before anything starts, an option Lightning would crash on, loop forever with,
    or silently ignore: the same rules for `genzoo.fit(...)` and for `genzoo train --...`."""
    for name, least in _COUNTS.items():
        v = o.get(name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int):
            raise GenzooError(f"{name} must be a whole number, got {v!r}")
        if v < least:
            raise GenzooError(f"{name} must be at least {least}, got {v}")
    for name in ("max_time", "lr", "grad_clip"):
        v = o.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                              or v <= 0):
            raise GenzooError(f"{name} must be positive and finite, got {v!r}")
    ema = o.get("ema")
    if ema is not None and (isinstance(ema, bool) or not isinstance(ema, (int, float)) or not 0 <= ema < 1):
        raise GenzooError(f"ema must be a decay in [0, 1), e.g. 0.999, got {ema!r}")
    seed = o.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise GenzooError(f"seed must be a whole number from 0 to {2**32 - 1}, got {seed!r}")
    if o.get("precision") not in (None, *PRECISIONS):
        raise GenzooError(f"unknown precision {o['precision']!r}; use one of {', '.join(PRECISIONS)}")
    accelerator = o.get("accelerator")
    if accelerator not in ACCELERATORS:
        raise GenzooError(f"unknown accelerator {accelerator!r}; use one of {', '.join(ACCELERATORS)}")
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise GenzooError(f"accelerator {accelerator!r} asked for, but this machine has no usable GPU; use cpu or auto")
    _check_devices(o.get("devices"))
    strategy = o.get("strategy")
    if isinstance(strategy, str) and strategy != "auto":
        from lightning.fabric.strategies import STRATEGY_REGISTRY

        known = STRATEGY_REGISTRY.available_strategies()
        if strategy not in known:
            raise GenzooError(f"unknown strategy {strategy!r}; use auto or one of {', '.join(known)}")


def _check_devices(devices: Any) -> None:
    """Lightning's forms: "auto", a count (-1: all), a list of indices, or "0,1" / "3" as text."""
    if devices == "auto" or devices == -1:
        return
    if isinstance(devices, str):
        parts = [d.strip() for d in devices.split(",") if d.strip()]
        if parts and all(d.isdigit() for d in parts) and (len(parts) > 1 or int(parts[0]) >= 1):
            return
    elif isinstance(devices, int) and not isinstance(devices, bool) and devices >= 1:
        return
    elif isinstance(devices, (list, tuple)) and devices and all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in devices):
        return
    raise GenzooError(f"devices must be auto, a number of devices (at least 1, or -1 for all) or a list of "
                      f"device indices such as 0,1; got {devices!r}")


#: the loggers `fit(loggers=...)` and `--logger` name; mlflow and wandb only where their package is installed
LOGGERS = ("csv", "tensorboard", "mlflow", "wandb")


def _make_logger(name: str, out: Path) -> Any:
    """Lightning's logger `name`, writing under `out` (mlflow to a local file store, wandb offline)."""
    if name == "csv":
        from lightning.fabric.loggers import CSVLogger

        return CSVLogger(out, name="logs")
    if name == "tensorboard":
        from lightning.fabric.loggers import TensorBoardLogger

        return TensorBoardLogger(out, name="tb", version="")
    import importlib.util

    if importlib.util.find_spec(name) is None:
        raise GenzooError(f"--logger {name} needs the {name} package: pip install {name}")
    from lightning.pytorch import loggers

    if name == "mlflow":
        return loggers.MLFlowLogger(experiment_name="genzoo", tracking_uri=(out / "mlruns").resolve().as_uri())
    return loggers.WandbLogger(save_dir=str(out), offline=True, project="genzoo")


class _Run:
    """One call of `fit`: the state of the loop and the steps around it."""

    def __init__(self, model: GenerativeModel, data: Dataset, options: dict[str, Any]) -> None:
        self.o = options
        self.model = model
        self.data = model.training_data(data)
        val = options["val_data"]
        self.val_data = model.training_data(val) if val is not None else None
        self.out = Path(options["out"]) if options["out"] is not None else None
        self.ckpt_dir = self.out / CKPT_DIR if self.out is not None else None
        self.global_step = 0  # training steps: one per batch, however many optimizers that batch steps
        self.best_val = math.inf
        self.bad_vals = 0
        self.interrupted = False
        self.figures: dict[str, float] = {}

    # -- set-up --------------------------------------------------------------------------------------------
    def train(self) -> GenerativeModel:
        from lightning.fabric import Fabric

        _quiet_lightning()
        o = self.o
        if self.out is not None:
            run_dir.prepare(self.out)
        resume = self.ckpt_dir / LAST if self.ckpt_dir is not None and (self.ckpt_dir / LAST).is_file() else None
        self.state = _load(resume) if resume is not None else None
        if self.out is not None:
            run_dir.check_same_run(self.out, self.model, self.state.get("run") if self.state else None)
        strategy, world_hint = o["strategy"], _world_hint(o["devices"], o["num_nodes"])
        if strategy == "auto" and world_hint > 1:
            strategy = "ddp"
        precision = self._precision(world_hint)
        fabric = Fabric(accelerator=o["accelerator"], devices=o["devices"], strategy=strategy,
                        num_nodes=o["num_nodes"], precision=precision)
        fabric.launch()
        self.fabric, self.precision = fabric, precision
        self.world = fabric.world_size
        rng.seed_everything(o["seed"])
        if self.state is not None and fabric.is_global_zero:
            print(f"genzoo: resuming from {resume}")

        model = self.model
        model.train()
        manual = model.manual_optimization
        if manual and "fsdp" in str(strategy).lower():
            raise GenzooError(f"model {model.model_name!r} steps its own optimizers; FSDP is not supported for it")
        self.lit = LitGenerative(model, o["ema"])
        if manual:  # no DDP wrapper (the model calls its sub-networks itself): gradients are averaged here
            self.lit = fabric.to_device(self.lit)
            self.module = self.lit
            if self.world > 1:
                for t in [*self.lit.parameters(), *self.lit.buffers()]:
                    torch.distributed.broadcast(t.data, src=0)
        else:
            multi = self.world > 1
            self.module = fabric.setup_module(self._compiled(self.lit) if o["compile"] and multi else self.lit)
        if o["compile"] and manual:
            for child in model.children():
                child.compile(**self._compile_options())
        # one process, one device: call the model directly (Fabric's wrapper converts every input and
        # output, which costs more than a small model's step); the loop applies autocast itself
        self.forward = self.module if self.world > 1 else (self._compiled(self.lit) if o["compile"] else self.lit)
        raw_opts = model.optimizers_for(o["lr"])
        self.scheduler = None
        if o["warmup_steps"] and len(raw_opts) == 1 and not manual:
            w = o["warmup_steps"]
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(raw_opts[0], lambda s: min(1.0, (s + 1) / w))
        if not manual:  # an optimizer step is a training step; a manual model's batch is one step (`_loop`)
            for opt in raw_opts:
                opt.register_step_post_hook(self._count_step)
        self.sampler = ResumableSampler(len(self.data), o["batch_size"], o["seed"], shuffle=True,
                                        rank=fabric.global_rank, world=self.world)
        if self.state is not None:
            self._restore(raw_opts)
        wrapped = fabric.setup_optimizers(*raw_opts)
        self.opts = list(wrapped) if isinstance(wrapped, (list, tuple)) else [wrapped]
        self.batches = Batches(self.data, self.sampler, o["num_workers"])
        return self._loop()

    def _compile_options(self) -> dict[str, Any]:
        backend = self.o["compile"]
        return {"backend": backend} if isinstance(backend, str) else {}

    def _compiled(self, module: torch.nn.Module) -> Any:
        return torch.compile(module, **self._compile_options())

    def _precision(self, world_hint: int) -> str:
        o, model = self.o, self.model
        if o["precision"] not in (None, "auto"):
            return o["precision"]
        if self.state is not None and self.state.get("precision"):
            return self.state["precision"]  # a resumed run keeps the precision it was trained in
        from genzoo.engine.precision import auto_precision

        on_cpu = o["accelerator"] == "cpu" or (o["accelerator"] == "auto" and not torch.cuda.is_available())
        probe = self._precision_probe if on_cpu and world_hint == 1 else None
        return auto_precision(o["accelerator"], model.default_precision, probe, self._probe_key())

    def _probe_key(self) -> str:
        from genzoo.config import config_to_dict

        config = json.dumps(config_to_dict(self.model.config), sort_keys=True, default=str)
        return (f"{self.model.model_name}|{hashlib.sha256(config.encode()).hexdigest()[:16]}|"
                f"batch {self.o['batch_size']}|{self.model.default_precision}")

    def _precision_probe(self, precision: str) -> float:
        """Seconds per training step of a throwaway copy of the model in `precision` (training RNG untouched)."""
        from genzoo.engine.precision import time_steps

        with rng.isolated():
            probe = copy.deepcopy(self.model).train()
            opts = probe.optimizers_for(self.o["lr"])
            sampler = ResumableSampler(len(self.data), self.o["batch_size"], seed=12345)
            batch = next(iter(Batches(self.data, sampler).epoch()))
            enabled = precision.startswith("bf16")

            def step() -> None:
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
                    if probe.manual_optimization:
                        probe.manual_step(batch, opts, lambda loss: loss.backward())
                        return
                    loss = probe.loss(batch)["loss"]
                for opt in opts:
                    opt.zero_grad(set_to_none=True)
                loss.backward()
                for opt in opts:
                    opt.step()

            return time_steps(step)

    def _count_step(self, *_: Any) -> None:
        self.global_step += 1

    def _restore(self, raw_opts: list[torch.optim.Optimizer]) -> None:
        """Continue from the checkpoint, which is checked (weights exactly the model's, the rest loadable)
        before the model is touched, and whose damage ends in one line rather than a traceback."""
        from genzoo.engine.safe_checkpoint import check_matches

        path = self.ckpt_dir / LAST
        check_matches(self.state["state_dict"], self.lit.state_dict(), path)
        try:
            self._restore_checked(raw_opts)
        except (ValueError, KeyError, TypeError, IndexError, RuntimeError, AttributeError) as e:
            raise GenzooError(f"checkpoint {path} is corrupt: its training state does not load "
                              f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                              "use a new --out") from None

    def _restore_checked(self, raw_opts: list[torch.optim.Optimizer]) -> None:
        state = self.state
        self.lit.load_state_dict(state["state_dict"])
        if len(state["optimizer_states"]) != len(raw_opts):
            raise ValueError(f"{len(state['optimizer_states'])} optimizer states for {len(raw_opts)} optimizers")
        for opt, s in zip(raw_opts, state["optimizer_states"]):
            opt.load_state_dict(s)
            for group in opt.param_groups:
                for param in group["params"]:
                    for name, moment in opt.state.get(param, {}).items():
                        if isinstance(moment, Tensor) and moment.dim() and moment.shape != param.shape:
                            raise ValueError(f"optimizer state {name} has shape {list(moment.shape)} for a "
                                             f"parameter of shape {list(param.shape)}")
        if self.scheduler is not None and state.get("lr_schedulers"):
            self.scheduler.load_state_dict(state["lr_schedulers"][0])
        self.global_step = int(state["global_step"])
        if state.get("sampler") is not None:
            self.sampler.load_state_dict(state["sampler"])
        stop = state.get("early_stopping") or {}
        self.best_val, self.bad_vals = float(stop.get("best", math.inf)), int(stop.get("bad", 0))
        if state.get("genzoo_rng"):
            rng.restore(state["genzoo_rng"])

    # -- the loop ------------------------------------------------------------------------------------------
    def _loop(self) -> GenerativeModel:
        o, fabric = self.o, self.fabric
        zero = fabric.is_global_zero
        self.loggers = self._loggers() if zero else []
        every = o["checkpoint_every"] or max(1, min(500, (o["max_steps"] or 1000) // 4))
        log_every = o["log_every"]
        show = o["progress"] and zero
        progress = None
        if show:
            from genzoo.engine.progress import Progress

            p_every = o["progress_every"] or max(log_every, _nice((o["max_steps"] or 2000) // 20))
            p_every = -(-p_every // log_every) * log_every  # progress reports happen on log steps
            progress = Progress(o["max_steps"], p_every, time_budget=o["max_time"])
        evaluator = None
        if o["eval_every"] and zero:
            evaluator = o["make_evaluator"](self.data, self.val_data, self.out, o["eval_samples"])
        manual = self.model.manual_optimization
        # DDP/FSDP average the gradients of wrapped models; models stepping their own optimizers are not wrapped
        backward = self._backward if self.world > 1 and manual else fabric.backward
        clip = o["grad_clip"] if not manual else None
        opt = self.opts[0]
        # one process without a gradient scaler: the optimizer, backward and clipping themselves, without
        # Fabric's per-call dispatch (which only matters for scalers and sharded strategies)
        direct = self.world == 1 and not str(self.precision).startswith("16")
        if direct and not manual:
            opt, backward = opt.optimizer, Tensor.backward
        params = [p for g in opt.param_groups for p in g["params"]]
        autocast = fabric.autocast if self.precision not in ("32-true", "32", "64-true") else contextlib.nullcontext
        window: dict[str, list[Tensor]] = {}
        window_steps: list[int] = []
        on_device = fabric.device.type != "cpu"
        start = time.perf_counter()
        stop_reason = self._should_stop(start, synced_now=False)  # a resumed run may be done already
        restore_sigint = self._catch_sigint()
        try:
            while stop_reason is None:
                for batch in self.batches.epoch():
                    if on_device:
                        batch = fabric.to_device(batch)
                    before = self.global_step
                    if manual:
                        with autocast():
                            parts = self.model.manual_step(batch, self.opts, backward)
                        self.global_step += 1
                    else:
                        with autocast():
                            parts = self.forward(batch)
                        opt.zero_grad(set_to_none=True)
                        backward(parts["loss"])
                        if clip and direct:
                            torch.nn.utils.clip_grad_norm_(params, clip)
                        elif clip:
                            fabric.clip_gradients(self.module, opt, max_norm=clip, error_if_nonfinite=False)
                        opt.step()
                        if self.scheduler is not None:
                            self.scheduler.step()
                    self.lit.update_ema()
                    self.sampler.advance()
                    window_steps.append(before)
                    for k, v in parts.items():
                        if v.numel() == 1:
                            window.setdefault(k, []).append(v.detach())
                    step = self.global_step

                    def crossed(n: int | None, s: int = step, b: int = before) -> bool:
                        return bool(n) and s // n > b // n  # type: ignore[operator]

                    if crossed(log_every):
                        self._log(window, window_steps, progress)
                        window, window_steps = {}, []
                    if self.val_data is not None and crossed(o["val_every"] or 0):
                        self._validate(window, window_steps)
                    if evaluator is not None and crossed(o["eval_every"]):
                        self._evaluate(evaluator, progress)
                    if o["sample_every"] and zero and self.out is not None and crossed(o["sample_every"]):
                        from lightning.fabric.loggers import TensorBoardLogger

                        from genzoo.engine.callbacks import sample_grid

                        grid = sample_grid(self.lit.trained_model(), self.out, step)
                        for logger in self.loggers:
                            if grid is not None and isinstance(logger, TensorBoardLogger):
                                logger.experiment.add_image("samples", grid, step)
                    if self.ckpt_dir is not None and crossed(every):
                        self._check_finite(window, window_steps)
                        self._save(self.ckpt_dir / LAST)
                    stop_reason = self._should_stop(start, crossed(log_every))
                    if stop_reason:
                        break
        finally:
            restore_sigint()
        self._check_finite(window, window_steps)
        self._log(window, window_steps, progress)
        if progress is not None:
            progress.update(self.global_step, force=True)
            progress.close()
        return self._finish(evaluator)

    def _should_stop(self, start: float, synced_now: bool) -> str | None:
        o = self.o
        reason = None
        if o["max_steps"] is not None and self.global_step >= o["max_steps"]:
            return "max_steps"
        if o["max_epochs"] is not None and self.sampler.epoch >= o["max_epochs"]:
            return "max_epochs"
        if self.o["early_stopping"] and self.bad_vals >= self.o["early_stopping"]:
            return "early_stopping"
        if self.world > 1 and not synced_now:
            return None  # ranks agree on wall-clock and Ctrl-C stops only at log steps
        if o["max_time"] is not None and time.perf_counter() - start >= o["max_time"]:
            reason = "max_time"
        if self.interrupted:
            reason = "interrupted"
        if self.world > 1:
            reason = self.fabric.broadcast(reason)
        if reason == "interrupted":
            self.interrupted = True
        return reason

    def _backward(self, loss: Tensor) -> None:
        """Backward, then the gradient average over ranks for models that are not wrapped in DDP."""
        self.fabric.backward(loss)
        grads = [p.grad for p in self.lit.parameters() if p.grad is not None]
        if grads:
            flat = torch.cat([g.reshape(-1) for g in grads])
            torch.distributed.all_reduce(flat)
            flat /= self.world
            offset = 0
            for g in grads:
                g.copy_(flat[offset : offset + g.numel()].view_as(g))
                offset += g.numel()

    def _catch_sigint(self) -> Any:
        """Ctrl-C ends the run after the current step (a second Ctrl-C interrupts at once)."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum: int, frame: Any) -> None:
            self.interrupted = True
            signal.signal(signal.SIGINT, previous)

        signal.signal(signal.SIGINT, handler)
        return lambda: signal.signal(signal.SIGINT, previous)

    # -- what happens at intervals -------------------------------------------------------------------------
    def _check_finite(self, window: dict[str, list[Tensor]], steps: list[int]) -> None:
        losses = window.get("loss")
        if not losses:
            return
        values = torch.stack(losses).float()
        bad = ~torch.isfinite(values)
        if bool(bad.any()):
            i = int(bad.nonzero()[0])
            raise NonFiniteLoss(
                f"loss became {float(values[i])} at step {steps[i]}; training stopped and the last good "
                "checkpoint was kept (try a lower lr, gradient clipping or precision='32-true')"
            )

    def _log(self, window: dict[str, list[Tensor]], steps: list[int], progress: Any) -> None:
        if not window:
            return
        self._check_finite(window, steps)
        keys = list(window)
        means = torch.stack([torch.stack(window[k]).float().mean() for k in keys]).tolist()
        metrics = {f"train/{k}": v for k, v in zip(keys, means)}
        metrics["epoch"] = float(self.sampler.epoch)
        for logger in self.loggers:
            logger.log_metrics(metrics, step=self.global_step)
        if progress is not None:
            shown = {"loss": means[keys.index("loss")]} if "loss" in keys else {}
            progress.figures = self.figures
            progress.update(self.global_step, shown)

    def _validate(self, window: dict[str, list[Tensor]], steps: list[int]) -> None:
        model = self.lit.trained_model()
        loss_of = model.validation_loss
        total, count = 0.0, 0
        was_training = model.training
        model.eval()
        try:
            with rng.isolated(), torch.no_grad():
                torch.manual_seed(self.o["seed"])
                for batch in make_loader(self.val_data, self.o["batch_size"]):
                    batch = self.fabric.to_device(batch)
                    with self.fabric.autocast():
                        loss = loss_of(batch)["loss"]
                    n = _batch_size(batch)
                    total += float(loss.float()) * n
                    count += n
        finally:
            model.train(was_training)
        val = total / max(count, 1)
        self.figures["val_loss"] = val
        for logger in self.loggers:
            logger.log_metrics({"val_loss": val}, step=self.global_step)
        if val < self.best_val:
            self.best_val, self.bad_vals = val, 0
            if self.ckpt_dir is not None:
                self._check_finite(window, steps)
                self._save(self.ckpt_dir / BEST)
            else:
                self.best_state = {k: v.detach().clone() for k, v in self.lit.state_dict().items()}
        else:
            self.bad_vals += 1

    def _evaluate(self, evaluator: Any, progress: Any) -> None:
        figures = evaluator(self.lit.trained_model(), self.global_step)
        self.figures.update(figures)
        for logger in self.loggers:
            logger.log_metrics({f"eval/{k}": v for k, v in figures.items()}, step=self.global_step)
        if progress is not None:
            progress.figures = self.figures
            progress.update(self.global_step, force=True)

    def _loggers(self) -> list[Any]:
        if self.out is None:
            return []
        return [_make_logger(name, self.out) for name in self.o["loggers"]]

    def _save(self, path: Path) -> None:
        """The full resume state, written by rank zero (every rank holds the same state)."""
        strategy = self.fabric.strategy
        if "fsdp" in type(strategy).__name__.lower():
            state_dict = strategy.get_module_state_dict(self.module)
            optim = [strategy.get_optimizer_state(o.optimizer) for o in self.opts]
        else:
            state_dict = self.lit.state_dict()
            optim = [o.optimizer.state_dict() for o in self.opts]
        if not self.fabric.is_global_zero:
            return
        from genzoo.engine.safe_checkpoint import save_state

        save_state({
            "state_dict": state_dict,
            "optimizer_states": optim,
            "lr_schedulers": [self.scheduler.state_dict()] if self.scheduler is not None else [],
            "global_step": self.global_step,
            "epoch": self.sampler.epoch,
            "sampler": self.sampler.state_dict(),
            "early_stopping": {"best": self.best_val, "bad": self.bad_vals},
            "genzoo_rng": rng.capture(),
            "precision": self.precision,
            "run": run_dir.identity(self.model),
        }, path)

    # -- the end -------------------------------------------------------------------------------------------
    def _finish(self, evaluator: Any) -> GenerativeModel:
        o, fabric, model = self.o, self.fabric, self.model
        if self.ckpt_dir is not None:
            self._save(self.ckpt_dir / LAST)
        if self.val_data is not None:
            if self.ckpt_dir is not None and (self.ckpt_dir / BEST).is_file():
                self.lit.load_state_dict(_load(self.ckpt_dir / BEST)["state_dict"])
            elif getattr(self, "best_state", None) is not None:
                self.lit.load_state_dict(self.best_state)
        trained = self.lit.trained_model()
        if trained is not model:
            model.load_state_dict(trained.state_dict())
        model.eval()
        for logger in self.loggers:
            logger.finalize("interrupted" if self.interrupted else "success")
        if self.out is not None and fabric.is_global_zero:
            from genzoo import hub

            extra = {"trained_steps": self.global_step, "precision": self.precision, "seed": o["seed"]}
            if self.figures:
                extra["last_figures"] = self.figures
            if self.interrupted:
                extra["interrupted"] = True
            hub.save(model, self.out, extra=extra)
        if self.interrupted:
            if fabric.is_global_zero:
                where = f"; checkpoint and model saved in {self.out} (the same command resumes)" if self.out else ""
                print(f"genzoo: interrupted at step {self.global_step}{where}")
            raise KeyboardInterrupt
        return model


def _load(path: Path) -> dict[str, Any]:
    from genzoo.engine.safe_checkpoint import check_training_state, load_state

    state = load_state(path)
    check_training_state(state, path)
    return state


def _batch_size(batch: Any) -> int:
    if isinstance(batch, Tensor):
        return len(batch)
    if isinstance(batch, (list, tuple)) and batch and isinstance(batch[0], Tensor):
        return len(batch[0])
    if isinstance(batch, dict):
        for v in batch.values():
            if isinstance(v, Tensor):
                return len(v)
    return 1


def _world_hint(devices: Any, num_nodes: int) -> int:
    n = devices if isinstance(devices, int) else (len(devices) if isinstance(devices, list) else 1)
    return n * num_nodes


def _nice(n: int) -> int:
    """n rounded down to 1, 2 or 5 times a power of ten (progress lines at readable steps)."""
    if n < 1:
        return 1
    p = 10 ** int(math.log10(n))
    return max(m * p for m in (1, 2, 5) if m * p <= n)


def _quiet_lightning() -> None:
    """Lightning's start-up chatter (GPU available: False, ...) buries what matters; keep warnings."""
    for name in ("lightning.fabric.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero",
                 "lightning.fabric.utilities.seed",
                 "lightning.fabric.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    torch.set_float32_matmul_precision("high")
