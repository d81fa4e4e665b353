"""`genzoo` command line: list | train | sample | eval | demo, plus every application's verbs.

Application modules in `genzoo.apps` add their own verbs through `add_commands(subparsers)`; each verb's
handler takes the parsed args and returns an exit code (or None for 0). User errors (GenzooError, and the
libraries' errors a bad argument, file or path causes; see `errors.user_error`) print one plain line and exit
2; no torch traceback reaches the user unless GENZOO_DEBUG=1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys
import warnings
from pathlib import Path
from typing import Any

from genzoo import cli_ranges
from genzoo.cli_args import add_fit_arguments, add_model_option_argument, fit_kwargs, parse_overrides
from genzoo.cli_paths import check_outputs
from genzoo.errors import GenzooError, user_error


# -- core verbs ---------------------------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> None:
    import genzoo as gz

    rows = gz.list_models()
    width = max(len(r["name"]) for r in rows)
    print(f"{'model':<{width}}  {'family':<14} {'module':<40} capabilities")
    for r in rows:
        module = "models/" + r["module"].split(".", 2)[2].replace(".", "/") + ".py"
        print(f"{r['name']:<{width}}  {r['family']:<14} {module:<40} {', '.join(r['capabilities'])}")
        print(f"{'':<{width}}  {r['description']}")
    print("\ndatasets: " + ", ".join(gz.data.list_datasets()))
    from genzoo.metrics import all_metrics

    print("\nmetrics (genzoo eval --metrics a,b):")
    for m in all_metrics():
        print(f"  {m.name:<16} {m.description}")


def cmd_train(args: argparse.Namespace) -> None:
    import genzoo as gz

    if args.max_steps is None and args.max_epochs is None and args.time_budget is None:
        args.max_steps = 1000
    options = parse_overrides(args.data_option)
    _check_data_options(args.data, options)
    train = gz.data.load(args.data, split="train", **options)
    model = gz.create(args.model, data=train, seed=args.seed, **parse_overrides(args.option))
    gz.fit(model, train, out=args.out, **fit_kwargs(args))
    if _is_rank_zero():
        print(f"genzoo: trained {args.model} -> {args.out}")


def _check_data_options(name: str, options: dict[str, Any]) -> None:
    """Refuse dataset options the named loader does not declare (loaders accept and ignore extra ones), and
    values its signature cannot take, by the config rules (`genzoo.config`): `-d size=0`, `-d size=[1,2]`."""
    import dataclasses
    import inspect
    import typing

    from genzoo.config import build_config
    from genzoo.data.registry import get_loader

    if not options or os.sep in name or os.path.exists(name):
        return
    loader = get_loader(name)
    params = inspect.signature(loader).parameters
    valid = [k for k, p in params.items() if p.kind is not p.VAR_KEYWORD and k != "split"]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise GenzooError(f"dataset {name!r} does not take option(s) {', '.join(unknown)}; "
                          f"its options: {', '.join(valid) or 'none'}")
    try:
        hints = typing.get_type_hints(loader)
    except (NameError, TypeError):
        hints = {}
    fields = []
    for k in valid:
        default = params[k].default
        meta = DATA_OPTION_RANGES.get(k, {})
        value = (dataclasses.field(default_factory=lambda d=default: d, metadata=meta)
                 if isinstance(default, (list, dict, set)) else dataclasses.field(default=default, metadata=meta))
        fields.append((k, hints.get(k, Any), value))
    build_config(dataclasses.make_dataclass(f"{name}_options", fields), options, what=f"dataset {name!r}")


#: dataset options whose range is not implied by their default (`size` defaults to None: the stored size)
DATA_OPTION_RANGES = {"size": {"min": 1, "max": 1024}, "image_size": {"min": 1, "max": 1024}}


def cmd_sample(args: argparse.Namespace) -> None:
    import torch

    import genzoo as gz
    from genzoo.sampling import default_suffix, draw, write

    model = gz.load(args.run)
    torch.manual_seed(args.seed)
    out = Path(args.output) if args.output else Path("samples" + default_suffix(model))
    if args.interpolate:
        from genzoo.latent import interpolate
        from genzoo.protocols import LatentModel
        from genzoo.registry import model_entry, require
        from genzoo.viz import save_grid

        require(model_entry(model.model_name), LatentModel, where=args.run)
        data = gz.data.load_like(model.data_info, "test")
        images = torch.cat([interpolate(model, data[2 * i][0], data[2 * i + 1][0], steps=10) for i in range(4)])
        save_grid(images, out, nrow=10, scale=args.scale)
        written = [out]
    else:
        drawn = draw(model, args.n, label=args.label, **parse_overrides(args.sample_option))
        written = write(drawn, out, scale=args.scale)
    print(f"genzoo: wrote {', '.join(str(w) for w in written)}")


def cmd_eval(args: argparse.Namespace) -> None:
    import genzoo as gz

    model = gz.load(args.run)
    test = gz.data.load(args.data, split="test") if args.data else gz.data.load_like(model.data_info, "test")
    metrics = [m for m in args.metrics.split(",") if m] if args.metrics else None
    results = gz.evaluate(model, test, metrics=metrics, n_samples=args.n)
    print(json.dumps(results, indent=2))


def cmd_demo(args: argparse.Namespace) -> None:
    from genzoo.demo import run_demo

    run_demo(Path(args.out), steps=args.steps)


# -- plumbing --------------------------------------------------------------------------------------------------
def _is_rank_zero() -> bool:
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors follow the house rule: one line, exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise GenzooError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="genzoo", description="Generative models, one API.")
    from genzoo.version import __version__

    parser.add_argument("--version", action="version", version=f"genzoo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="models and datasets")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("train", help="train a model")
    p.add_argument("model")
    p.add_argument("--data", required=True, help="dataset name or path (folder of images, .npy, .npz)")
    p.add_argument("--out", required=True, help="run directory (resumes if it holds a checkpoint)")
    add_model_option_argument(p, "model config key=value, e.g. -O hidden=[64,64] (repeatable)")
    p.add_argument("-d", "--data-option", action="append", default=[],
                   help="dataset option key=value, e.g. path=DIR or size=14 (repeatable)")
    add_fit_arguments(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="draw samples from a trained model")
    p.add_argument("run")
    p.add_argument("-n", type=int, default=64)
    p.add_argument("-o", "--output", default=None,
                   help="file to write, by what the run makes: .png/.npy images, .txt text, .wav audio, .mid "
                        "music, .csv forecasts (+ .png), .gif/.mp4 clips, .csv/.png vectors (default samples.<that>)")
    p.add_argument("--label", type=int, default=None, help="class for conditional models")
    p.add_argument("-s", "--sample-option", action="append", default=[],
                   help="sampler option key=value, e.g. -s scheduler=dpm++ -s steps=20 -s guidance_scale=3")
    p.add_argument("--interpolate", action="store_true", help="write latent interpolation strips instead")
    p.add_argument("--scale", type=int, default=2, help="enlarge the PNG by this factor")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("eval", help="evaluate a trained model on a test split")
    p.add_argument("run")
    p.add_argument("--data", default=None)
    p.add_argument("--metrics", default=None,
                   help="comma-separated metric names (see genzoo list); default: those that fit the run")
    p.add_argument("-n", type=int, default=1000, help="samples drawn (or test examples used) per metric")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("demo", help="train a small VAE on mnist5k (a few minutes) and write samples + metrics")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--steps", type=int, default=400)
    p.set_defaults(func=cmd_demo)

    from genzoo.serve import add_commands as add_serve_command

    add_serve_command(sub)
    import genzoo.apps as apps_pkg

    for info in pkgutil.iter_modules(apps_pkg.__path__):
        module = importlib.import_module(f"genzoo.apps.{info.name}")
        if hasattr(module, "add_commands"):
            module.add_commands(sub)
    cli_ranges.apply(parser)
    _name_verbs(parser)
    return parser


def _name_verbs(parser: argparse.ArgumentParser) -> None:
    """Each verb records its full name (`genzoo forecast train`) in `args.verb_prog`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                sub.set_defaults(verb_prog=sub.prog)
                _name_verbs(sub)


def main(argv: list[str] | None = None) -> int:
    """Run one verb. Whatever a user can get wrong ends in one `genzoo: error: ...` line and exit 2; an
    internal error in one line with exit 1; warnings are held back and shown only if the verb succeeds, so
    that an error is never buried under library chatter (GENZOO_DEBUG=1: tracebacks and warnings as usual)."""
    if os.environ.get("GENZOO_DEBUG") == "1":
        args = build_parser().parse_args(argv)
        check_outputs(args)
        return int(args.func(args) or 0)
    with warnings.catch_warnings(record=True) as held:
        warnings.simplefilter("default")
        try:
            args = build_parser().parse_args(argv)
            check_outputs(args)
            code = int(args.func(args) or 0)
        except KeyboardInterrupt:
            print("genzoo: interrupted", file=sys.stderr)
            return 130
        except BaseException as e:  # noqa: BLE001 - every exception ends here as one line
            if isinstance(e, SystemExit):
                raise
            line, code = user_error(e)
            print(line, file=sys.stderr)
            return code
    for w in held:
        print(f"genzoo: warning: {w.message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
