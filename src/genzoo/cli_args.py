"""Argument helpers every verb shares (the core verbs in `cli.py` and the apps' own verbs alike).

They live apart from `cli.py` so that an app can use them without importing the command line that imports it.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from genzoo.errors import GenzooError


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`key=value` options for the model config; values parse as JSON where they can (numbers, lists)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise GenzooError(f"model option {pair!r} must look like key=value")
        key, value = pair.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
        except RecursionError:
            raise GenzooError(f"option {key} is nested too deeply to read") from None
    return out


class _DeprecatedModelOption(argparse.Action):
    """`-o key=value` for a model option: accepted for one release, with a deprecation line on stderr."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        import warnings

        # a warning, not a print: the CLI shows it after a verb that succeeds, never above an error line
        warnings.warn("-o key=value for a model option is deprecated; use -O key=value "
                      "(-o names the output file in every verb)", DeprecationWarning, stacklevel=2)
        getattr(namespace, self.dest).append(values)


def add_model_option_argument(p: argparse.ArgumentParser, help: str = "model config key=value (repeatable)") -> None:
    """`-O/--option key=value`: one spelling for model options in every verb (`-o` is always the output)."""
    p.add_argument("-O", "--option", action="append", default=[], help=help)
    p.add_argument("-o", dest="option", action=_DeprecatedModelOption, help=argparse.SUPPRESS)


def add_fit_arguments(p: argparse.ArgumentParser) -> None:
    """The training options every `train`-like verb shares (mirrors `genzoo.fit`)."""
    p.add_argument("--max-steps", type=int, default=None,
                   help="stop after this many training steps, one per batch (a GAN's step updates D and G)")
    p.add_argument("--max-epochs", type=int, default=None)
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="stop after this many seconds of training (checkpoint and model are saved)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--devices", default="auto", help="number of devices, or auto")
    p.add_argument("--accelerator", default="auto", help="cpu, gpu, auto")
    p.add_argument("--strategy", default="auto", help="auto, ddp, fsdp, ...")
    p.add_argument("--num-nodes", type=int, default=1)
    p.add_argument("--precision", default=None, help="auto (default), 32-true, bf16-mixed, 16-mixed")
    p.add_argument("--seed", type=int, default=0, help="seeds the weights and the whole run: same seed, same model")
    p.add_argument("--ema", type=float, default=None, help="EMA decay of weights, e.g. 0.999")
    p.add_argument("--sample-every", type=int, default=None, help="save a sample grid every N steps")
    p.add_argument("--checkpoint-every", type=int, default=None, help="write out/checkpoints/last.ckpt every N steps")
    p.add_argument("--eval-every", type=int, default=None,
                   help="every N steps: sample grid + quality figure (bits/dim, classifier-FID), shown and logged")
    p.add_argument("--eval-samples", type=int, default=256, help="samples for the --eval-every FID")
    p.add_argument("--log-every", type=int, default=10, help="read and log the loss every N steps")
    p.add_argument("--compile", action="store_true", help="torch.compile the training step (pays off on long runs)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--logger", default="csv,tensorboard",
                   help="Lightning loggers, comma-separated: csv, tensorboard, mlflow, wandb (those two if installed)")


def fit_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    devices: Any = args.devices
    if isinstance(devices, str) and devices.isdigit():
        devices = int(devices)
    return dict(max_steps=args.max_steps, max_epochs=args.max_epochs, max_time=args.time_budget,
                batch_size=args.batch_size, lr=args.lr, devices=devices, accelerator=args.accelerator,
                strategy=args.strategy, num_nodes=args.num_nodes, precision=args.precision, seed=args.seed,
                ema=args.ema, sample_every=args.sample_every, checkpoint_every=args.checkpoint_every,
                eval_every=args.eval_every, eval_samples=args.eval_samples, log_every=args.log_every,
                compile=args.compile, progress=not args.no_progress, loggers=args.logger)
