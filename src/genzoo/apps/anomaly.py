"""Anomaly detection with any generative model: fit on normal data, score new data, threshold, AUROC.

The score (`--score`, see `anomaly_scores`) is the raw negative log-likelihood, a likelihood ratio against a
background model trained on perturbed inputs (Ren et al. 2019), the likelihood corrected by a lossless
compressor's code length (Serra et al. 2020), or, for models with a latent space, the reconstruction error
or the distance to the nearest latents of the normal data. The threshold is the (1 - target FPR) quantile
of the scores of held-out *normal* data, so about that fraction of normal examples are flagged. With
labelled test data, AUROC and AUPRC (scikit-learn) summarise the ranking.

    genzoo anomaly fit runs/bc --model maf --data breast_cancer --anomalous 0 --max-steps 1000
    genzoo anomaly fit runs/m7 --model vae --data mnist5k --anomalous 7 --score complexity
    genzoo anomaly score runs/bc            # AUROC/AUPRC on the test split, flagged rates at the threshold
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genzoo.apps import anomaly_scores
from genzoo.apps.anomaly_scores import COMPRESSORS, PERTURB_RATE, SCORES, ScoreContext
from genzoo.data.arrays import read_one_array
from genzoo.errors import GenzooError
from genzoo.protocols import LatentModel, Likelihood, can

if TYPE_CHECKING:  # torch is imported inside functions: the CLI imports every app at start-up
    from torch import Tensor

DETECTOR_FILE = "anomaly.json"
LATENTS_FILE = "anomaly_latents.safetensors"
BACKGROUND_DIR = "background"
METHODS = ("auto", *SCORES)
ALIASES = {"log_prob": "nll"}  # the names detectors written before the score kinds used
CALIBRATION_FRACTION = 0.1


@dataclass
class Detector:
    """What `fit` learns besides the model: how to score and where to cut."""

    method: str
    threshold: float
    target_fpr: float
    data: str | None = None
    anomalous: tuple[int, ...] = ()
    compressor: str = "png"
    background: str | None = None  # a run directory, relative to the detector's run when inside it

    def save(self, run: Path) -> Path:
        path = Path(run) / DETECTOR_FILE
        path.write_text(json.dumps(asdict(self), indent=2))
        return path

    @classmethod
    def load(cls, run: Path) -> Detector:
        path = Path(run) / DETECTOR_FILE
        if not path.is_file():
            raise GenzooError(f"{run} has no {DETECTOR_FILE}; run `genzoo anomaly fit {run} ...` first")
        try:
            d = json.loads(path.read_text())
            return cls(
                ALIASES.get(d["method"], d["method"]),
                float(d["threshold"]),
                float(d["target_fpr"]),
                d.get("data"),
                tuple(d.get("anomalous") or ()),
                d.get("compressor", "png"),
                d.get("background"),
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise GenzooError(f"{path} is corrupt (not a genzoo anomaly detector)") from None

    def context(self, run: Path) -> ScoreContext:
        """The background model and normal latents this detector's score reads from disk."""
        import genzoo as gz

        ctx = ScoreContext(compressor=self.compressor)
        if self.method == "ratio":
            if self.background is None:
                raise GenzooError(f"{run}: the ratio detector records no background model")
            ctx.background = gz.load(str(Path(run) / self.background), needs=Likelihood)
        if self.method == "latent":
            path = Path(run) / LATENTS_FILE
            if not path.is_file():
                raise GenzooError(f"{run} has no {LATENTS_FILE}; run `genzoo anomaly fit {run}` again")
            from safetensors.torch import load_file

            ctx.reference_latents = load_file(str(path))["latents"]
        return ctx


def is_image(model: Any) -> bool:
    info = model.data_info
    return info is not None and info.kind == "image"


def resolve_method(model: Any, method: str = "auto", images: bool | None = None, latents: bool = False) -> str:
    """The score kind to use. "auto": the latent distance where the model has a latent space and the
    normal data's latents are at hand (`genzoo anomaly fit` makes them), else the complexity-corrected
    likelihood on images and the raw likelihood on other data, else the reconstruction error."""
    images = is_image(model) if images is None else images
    method = ALIASES.get(method, method)
    if method not in METHODS:
        raise GenzooError(f"unknown scoring method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "auto":
        if latents and can(model, LatentModel):
            method = "latent"
        elif can(model, Likelihood):
            method = "complexity" if images else "nll"
        else:
            method = "recon"
    anomaly_scores.check(model, method, images)
    return method


def tensor_of(data: Any) -> Tensor:
    """All examples of a dataset (or a tensor) as one tensor."""
    import torch

    if isinstance(data, torch.Tensor):
        return data
    for field in ("images", "x"):
        if isinstance(getattr(data, field, None), torch.Tensor):
            return getattr(data, field)
    from torch.utils.data import DataLoader

    parts = [b[0] if isinstance(b, (list, tuple)) else b
             for b in DataLoader(data, batch_size=256, collate_fn=getattr(data, "collate", None))]
    return torch.cat(parts)


def scores(
    model: Any,
    data: Any,
    method: str = "auto",
    batch_size: int = 256,
    ctx: ScoreContext | None = None,
    **log_prob_kwargs: Any,
) -> Tensor:
    """Score per example, higher = more anomalous (see `anomaly_scores` for each kind)."""
    x = tensor_of(data)
    ctx = ctx or ScoreContext()
    method = resolve_method(model, method, x.ndim == 4, ctx.reference_latents is not None)
    if model.num_classes:
        raise GenzooError("anomaly scores need an unconditional model (this one needs class labels)")
    ctx.batch_size = batch_size
    ctx.log_prob_kwargs = log_prob_kwargs or ctx.log_prob_kwargs
    return anomaly_scores.score(method, model, x, ctx)


def threshold_at_fpr(normal_scores: Tensor, target_fpr: float) -> float:
    """The score above which about `target_fpr` of normal examples fall."""
    import torch

    if not 0.0 < target_fpr < 1.0:
        raise GenzooError(f"target FPR must be between 0 and 1, got {target_fpr}")
    return float(torch.quantile(normal_scores.double(), 1.0 - target_fpr))


def report(scores_: Tensor, is_anomaly: Tensor, threshold: float | None = None) -> dict[str, float]:
    """AUROC, AUPRC (average precision) and, given a threshold, the true/false positive rates there."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = is_anomaly.bool().numpy()
    s = scores_.double().numpy()
    if y.all() or not y.any():
        raise GenzooError("AUROC needs both normal and anomalous examples in the scored data")
    out = {
        "auroc": float(roc_auc_score(y, s)),
        "auprc": float(average_precision_score(y, s)),
        "n_normal": int((~y).sum()),
        "n_anomalous": int(y.sum()),
    }
    if threshold is not None:
        flagged = s > threshold
        out["tpr_at_threshold"] = float(flagged[y].mean())
        out["fpr_at_threshold"] = float(flagged[~y].mean())
    return out


def split_normal(data: Any, anomalous: tuple[int, ...] | list[int]) -> tuple[Any, Tensor]:
    """(the normal examples of a labelled dataset, the anomaly flags of all examples)."""
    import torch

    labels = getattr(data, "labels", None)
    if labels is None or not hasattr(data, "subset"):
        raise GenzooError("choosing anomalous classes needs a labelled genzoo dataset (with .labels)")
    known = set(labels.unique().tolist())
    missing = [k for k in anomalous if k not in known]
    if missing:
        raise GenzooError(
            f"class(es) {missing} do not occur in {data.info.name!r}; labels are {sorted(known)}"
        )
    flags = torch.isin(labels, torch.tensor(list(anomalous), dtype=labels.dtype))
    return data.subset(torch.nonzero(~flags).flatten()), flags


def fit_detector(
    model: Any,
    normal_calibration: Any,
    target_fpr: float = 0.05,
    method: str = "auto",
    ctx: ScoreContext | None = None,
    **log_prob_kwargs: Any,
) -> Detector:
    """A detector whose threshold flags `target_fpr` of the held-out normal examples."""
    latents = ctx is not None and ctx.reference_latents is not None
    method = resolve_method(model, method, tensor_of(normal_calibration).ndim == 4, latents)
    s = scores(model, normal_calibration, method, ctx=ctx, **log_prob_kwargs)
    name = model.data_info.name if model.data_info is not None else None
    compressor = ctx.compressor if ctx is not None else "png"
    return Detector(method, threshold_at_fpr(s, target_fpr), target_fpr, name, compressor=compressor)


def calibration_split(data: Any, fraction: float = CALIBRATION_FRACTION, seed: int = 0) -> tuple[Any, Any]:
    """(training part, calibration part) of normal data, fixed seed; thresholds never see training data."""
    import torch

    n = len(data)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    k = max(1, int(round(fraction * n)))
    return data.subset(perm[k:].sort().values), data.subset(perm[:k].sort().values)


# -- CLI -----------------------------------------------------------------------------------------------------
def _classes(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        return tuple(int(t) for t in text.split(","))
    except ValueError:
        raise GenzooError(f"--anomalous takes class indices like 3 or 0,5; got {text!r}") from None


def _perturbed(data: Any, rate: float) -> Any:
    """A copy of a genzoo dataset with its examples perturbed for a background model."""
    import copy

    out = copy.copy(data)
    field = "images" if hasattr(data, "images") else "x"
    setattr(out, field, anomaly_scores.perturb(getattr(data, field), rate))
    return out


def _train_background(args: argparse.Namespace, train: Any, fit_part: Any) -> str:
    """Train a model of the same kind and options on perturbed normal data, in RUN/background."""
    import genzoo as gz
    from genzoo.cli_args import fit_kwargs, parse_overrides

    background = gz.create(args.model, data=train, seed=args.seed, **parse_overrides(args.option))
    kwargs = fit_kwargs(args)
    if args.background_steps is not None:
        kwargs["max_steps"], kwargs["max_epochs"] = args.background_steps, None
    gz.fit(background, _perturbed(fit_part, args.perturb), out=str(Path(args.run) / BACKGROUND_DIR), **kwargs)
    return BACKGROUND_DIR


def _background_for(args: argparse.Namespace, train: Any, fit_part: Any) -> str:
    """The ratio score's background run: --background, else one trained now (with --model), else an earlier one."""
    if args.background:
        return str(Path(args.background).resolve())
    if args.model is not None:
        return _train_background(args, train, fit_part)
    if (Path(args.run) / BACKGROUND_DIR / "config.json").is_file():
        return BACKGROUND_DIR
    raise GenzooError("the ratio score needs a background model: pass --background RUN, or --model")


def cmd_fit(args: argparse.Namespace) -> None:
    import genzoo as gz
    from genzoo.cli_args import fit_kwargs, parse_overrides

    anomalous = _classes(args.anomalous)
    if args.model is None and args.anomalous is None and (Path(args.run) / DETECTOR_FILE).is_file():
        anomalous = Detector.load(Path(args.run)).anomalous  # re-calibrating: the same normal classes
    if args.compressor not in COMPRESSORS:
        raise GenzooError(f"unknown compressor {args.compressor!r}; choose one of {', '.join(COMPRESSORS)}")
    if args.model is None and not (Path(args.run) / "config.json").is_file():
        raise GenzooError(f"{args.run} holds no trained model: pass --model NAME to train one there")
    data_name = args.data
    if args.model is None:
        model = gz.load(args.run)
        data_name = data_name or (model.data_info.name if model.data_info else None)
    if data_name is None:
        raise GenzooError("--data is required")
    train = gz.data.load(data_name, split="train")
    normal = split_normal(train, anomalous)[0] if anomalous else train
    fit_part, calib = calibration_split(normal)
    if args.model is not None:
        if args.max_steps is None and args.max_epochs is None:
            args.max_steps = 1000
        model = gz.create(args.model, data=train, seed=args.seed, **parse_overrides(args.option))
        method = resolve_method(model, args.method, train.info.kind == "image", True)  # refuse before training
        if method == "ratio" and not 0.0 < args.perturb < 1.0:
            raise GenzooError(f"--perturb must be between 0 and 1, got {args.perturb}")
        gz.fit(model, fit_part, out=args.run, **fit_kwargs(args))
    method = resolve_method(model, args.method, train.info.kind == "image", True)
    background = _background_for(args, train, fit_part) if method == "ratio" else None
    settings = Detector(method, 0.0, args.fpr, compressor=args.compressor, background=background)
    if method == "latent":
        from safetensors.torch import save_file

        save_file({"latents": anomaly_scores.latents(model, tensor_of(fit_part)).contiguous()},
                  str(Path(args.run) / LATENTS_FILE))
    detector = fit_detector(model, calib, args.fpr, method, ctx=settings.context(Path(args.run)))
    detector.data, detector.anomalous, detector.background = data_name, anomalous, background
    path = detector.save(Path(args.run))
    print(
        f"genzoo: anomaly detector ({detector.method}, threshold {detector.threshold:.4g} at FPR "
        f"{detector.target_fpr}) -> {path}"
    )


def cmd_score(args: argparse.Namespace) -> None:
    import torch

    import genzoo as gz

    model = gz.load(args.run)
    detector = Detector.load(Path(args.run))
    ctx = detector.context(Path(args.run))
    if args.input:
        try:
            x = torch.from_numpy(read_one_array(args.input)).float()
        except (OSError, ValueError) as e:
            raise GenzooError(f"cannot read {args.input} as a .npy array ({e})") from None
        s = scores(model, x, detector.method, ctx=ctx)
        result: dict[str, Any] = {"n": len(s), "flagged": int((s > detector.threshold).sum())}
    else:
        name = args.data or detector.data
        if name is None:
            raise GenzooError("--data is required: the detector does not record its dataset")
        data = gz.data.load(name, split=args.split)
        anomalous = _classes(args.anomalous) or detector.anomalous
        s = scores(model, data, detector.method, ctx=ctx)
        if anomalous:
            result = report(s, split_normal(data, anomalous)[1], detector.threshold)
        else:
            result = {"n": len(s), "flagged": int((s > detector.threshold).sum())}
    result["score"] = detector.method
    result["threshold"] = detector.threshold
    if args.out:
        Path(args.out).write_text(
            "score,flagged\n" + "".join(f"{v:.6g},{int(v > detector.threshold)}\n" for v in s.tolist())
        )
        result["scores_csv"] = args.out
    print(json.dumps(result, indent=2))


def add_commands(sub: Any) -> None:
    from genzoo.cli_args import add_fit_arguments, add_model_option_argument

    p = sub.add_parser("anomaly", help="anomaly detection with any likelihood or autoencoder model")
    verbs = p.add_subparsers(dest="anomaly_command", required=True, parser_class=type(p))

    f = verbs.add_parser("fit", help="train on normal data (or reuse RUN's model) and set the threshold")
    f.add_argument("run", help="run directory (the model is trained there with --model, else loaded)")
    f.add_argument("--model", default=None, help="model to train on the normal data, e.g. maf, realnvp, vae")
    f.add_argument("--data", default=None, help="dataset name (default: the run's dataset)")
    f.add_argument("--anomalous", default=None, help="class(es) held out of training as anomalies, e.g. 5")
    f.add_argument("--fpr", type=float, default=0.05, help="target false-positive rate on normal data")
    f.add_argument("--score", "--method", dest="method", default="auto", choices=METHODS,
                   help="anomaly score: auto = latent where the model has a latent space, else complexity on "
                   "images and nll on other data")
    f.add_argument("--compressor", default="png", help=f"complexity score's compressor: {', '.join(COMPRESSORS)}")
    f.add_argument("--background", default=None, help="ratio score: a run trained on perturbed data to use")
    f.add_argument("--perturb", type=float, default=PERTURB_RATE,
                   help="ratio score: share of values replaced by noise for the background model's data")
    f.add_argument("--background-steps", type=int, default=None, help="ratio score: background training steps")
    add_model_option_argument(f)
    add_fit_arguments(f)
    f.set_defaults(func=cmd_fit)

    s = verbs.add_parser("score", help="score data; AUROC/AUPRC when anomalous classes are known")
    s.add_argument("run")
    s.add_argument("--data", default=None)
    s.add_argument("--split", default="test")
    s.add_argument("--anomalous", default=None, help="override the anomalous classes")
    s.add_argument("--input", default=None, help="a .npy array of examples to score instead of a dataset")
    s.add_argument("--out", default=None, help="write per-example scores to this CSV")
    s.set_defaults(func=cmd_score)
