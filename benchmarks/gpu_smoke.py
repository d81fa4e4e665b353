"""Every registered model, trained a few steps on a GPU through `genzoo.fit`, then sampled.

Run on a CUDA machine (this project's CI has none): `python benchmarks/gpu_smoke.py`. For each model it
picks the first offline dataset the model accepts, trains STEPS steps with precision "auto" (bf16-mixed on
GPUs that support it), samples, and records steps/s or the one-line error. It catches device-placement
bugs (a tensor made on the CPU inside a GPU model) that CPU-only tests cannot.
"""

from __future__ import annotations

import re
import sys
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Results  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.engine.precision import auto_precision  # noqa: E402

STEPS = 30
CANDIDATES = [("digits", {}), ("mnist5k", {"size": 32}), ("photos", {"patch": 32, "n": 512}), ("moons", {}),
              ("breast_cancer", {}), ("pydoc", {}), ("translation_en_fr", {}), ("co2", {}), ("chorales", {})]


def first_fit(name: str) -> tuple[str, object, object] | None:
    for data_name, opts in CANDIDATES:
        try:
            data = gz.data.load(data_name, split="train", **opts)
            return data_name, data, gz.create(name, data=data)
        except Exception:  # noqa: BLE001 - try the next dataset; a model accepts only some kinds
            continue
    return None


def main() -> None:
    if not torch.cuda.is_available():
        raise SystemExit("gpu_smoke.py needs a CUDA GPU")
    res = Results("gpu_smoke")
    precision = auto_precision("gpu")
    for entry in gz.list_models():
        name = entry["name"]
        picked = first_fit(name)
        if picked is None:
            res.add(name, "genzoo", "ran_on_gpu", 0, True, "no offline dataset fits without options")
            continue
        data_name, data, model = picked
        budget = f"{STEPS} steps on {data_name}, batch 32, precision {precision}"
        try:
            t = time.perf_counter()
            gz.fit(model, data, max_steps=STEPS, batch_size=32, accelerator="gpu", devices=1, progress=False)
            secs = time.perf_counter() - t
            caps = entry["capabilities"]
            if "sample" in caps and "image_condition" not in caps:  # sr3/fast_style need an input image
                model.to("cuda")
                conditional = getattr(model.config, "num_classes", 0) > 0
                out = model.sample(4, labels=torch.arange(4) % 2) if conditional else model.sample(4)
                if isinstance(out, torch.Tensor) and out.is_floating_point() and not torch.isfinite(out).all():
                    raise RuntimeError("non-finite samples")
            res.add(name, "genzoo", "train_steps_per_s", STEPS / secs, True, budget + " (incl. Trainer start)")
        except Exception as e:  # noqa: BLE001 - record and go on to the next model
            tb = [re.sub(r'File "[^"]*?/((?:src|site-packages)/[^"]+)"', r'File "\1"', line)  # no machine paths
                  for line in traceback.format_exception(e)[-3:]]
            res.add(name, "genzoo", "ran_on_gpu", 0, True, budget, error=f"{type(e).__name__}: {e}"[:300],
                    where="".join(tb)[-600:])


if __name__ == "__main__":
    main()
