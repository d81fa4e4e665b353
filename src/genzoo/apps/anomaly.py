"""Anomaly detection with any generative model: fit on normal data, score new data, threshold, AUROC.

The score is the negative log-likelihood where the model has one (flows, autoregressive models, the VAE's
importance-weighted bound) and otherwise the reconstruction error of encode -> decode. The threshold is
the (1 - target FPR) quantile of the scores of held-out *normal* data, so about that fraction of normal
examples are flagged. With labelled test data, AUROC and AUPRC (scikit-learn) summarise the ranking.

    genzoo anomaly fit runs/bc --model maf --data breast_cancer --anomalous 0 --max-steps 1000
    genzoo anomaly score runs/bc            # AUROC/AUPRC on the test split, flagged rates at the threshold
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genzoo.data.arrays import read_one_array
from genzoo.errors import GenzooError
from genzoo.protocols import DOING, LatentModel, Likelihood, can

if TYPE_CHECKING:  # torch is imported inside functions: the CLI imports every app at start-up
    from torch import Tensor

DETECTOR_FILE = "anomaly.json"
METHODS = ("auto", "log_prob", "recon")
CALIBRATION_FRACTION = 0.1


@dataclass
class Detector:
    """What `fit` learns besides the model: how to score and where to cut."""

    method: str
    threshold: float
    target_fpr: float
    data: str | None = None
    anomalous: tuple[int, ...] = ()

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
                d["method"],
                float(d["threshold"]),
                float(d["target_fpr"]),
                d.get("data"),
                tuple(d.get("anomalous") or ()),
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise GenzooError(f"{path} is corrupt (not a genzoo anomaly detector)") from None


def resolve_method(model: Any, method: str = "auto") -> str:
    """ "log_prob" where the model has a likelihood, else "recon" (needs encode/decode)."""
    if method not in METHODS:
        raise GenzooError(f"unknown scoring method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "auto":
        method = "log_prob" if can(model, Likelihood) else "recon"
    need = Likelihood if method == "log_prob" else LatentModel
    if not can(model, need):
        raise GenzooError(f"model {getattr(model, 'model_name', '?')!r} cannot score by {method}: "
                          f"it does not {DOING[need]}")
    return method


def _batches(data: Any, batch_size: int) -> Any:
    import torch

    if isinstance(data, torch.Tensor):
        yield from data.split(batch_size)
        return
    from torch.utils.data import DataLoader

    for batch in DataLoader(data, batch_size=batch_size, collate_fn=getattr(data, "collate", None)):
        yield batch[0] if isinstance(batch, (list, tuple)) else batch


def scores(
    model: Any, data: Any, method: str = "auto", batch_size: int = 256, **log_prob_kwargs: Any
) -> Tensor:
    """Score per example, higher = more anomalous: -log p(x) in nats, or squared reconstruction error."""
    import torch

    method = resolve_method(model, method)
    if model.num_classes:
        raise GenzooError("anomaly scores need an unconditional model (this one needs class labels)")
    model.eval()
    out = []
    with torch.no_grad():
        for x in _batches(data, batch_size):
            out.append(_score_batch(model, x, method, log_prob_kwargs))
    s = torch.cat(out)
    if not torch.isfinite(s).all():
        raise GenzooError(
            "some anomaly scores are not finite; the data may not match what the model was trained on"
        )
    return s


def _score_batch(model: Any, x: Tensor, method: str, log_prob_kwargs: dict[str, Any]) -> Tensor:
    if method == "log_prob":
        return -model.log_prob(x, **log_prob_kwargs).double().cpu()
    x = x.to(model.device).float()
    rec = model.decode_latent(model.encode_latent(x)).float().view_as(x)
    return (rec - x).pow(2).flatten(1).sum(1).double().cpu()


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
    **log_prob_kwargs: Any,
) -> Detector:
    """A detector whose threshold flags `target_fpr` of the held-out normal examples."""
    method = resolve_method(model, method)
    s = scores(model, normal_calibration, method, **log_prob_kwargs)
    name = model.data_info.name if model.data_info is not None else None
    return Detector(method, threshold_at_fpr(s, target_fpr), target_fpr, name)


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


def cmd_fit(args: argparse.Namespace) -> None:
    import genzoo as gz
    from genzoo.cli_args import fit_kwargs, parse_overrides

    anomalous = _classes(args.anomalous)
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
        gz.fit(model, fit_part, out=args.run, **fit_kwargs(args))
    detector = fit_detector(model, calib, args.fpr, args.method)
    detector.data, detector.anomalous = data_name, anomalous
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
    if args.input:
        try:
            x = torch.from_numpy(read_one_array(args.input)).float()
        except (OSError, ValueError) as e:
            raise GenzooError(f"cannot read {args.input} as a .npy array ({e})") from None
        s = scores(model, x, detector.method)
        result: dict[str, Any] = {"n": len(s), "flagged": int((s > detector.threshold).sum())}
    else:
        name = args.data or detector.data
        if name is None:
            raise GenzooError("--data is required: the detector does not record its dataset")
        data = gz.data.load(name, split=args.split)
        anomalous = _classes(args.anomalous) or detector.anomalous
        s = scores(model, data, detector.method)
        if anomalous:
            result = report(s, split_normal(data, anomalous)[1], detector.threshold)
        else:
            result = {"n": len(s), "flagged": int((s > detector.threshold).sum())}
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
    f.add_argument("--method", default="auto", choices=METHODS)
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
