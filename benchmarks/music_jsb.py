"""JSB Chorales benchmark: the piano-roll LSTM on Boulanger-Lewandowski's split, scored like the TCN paper.

Data: `jsb_chorales` (229 train / 76 valid / 77 test chorales, 88-key piano-rolls, one frame per quarter
note), the split and resolution of the published tables (Bai, Kolter & Koltun 2018: LSTM 8.45, TCN 8.10
nats per frame). Metric: test NLL per frame, summed over the 88 keys, frames 2..T of each piece predicted
from their past (the first frame is context only, as in the TCN code's x[:-1] -> x[1:]). Baseline: an
independent Bernoulli per key fitted on the training frames. The genzoo model trains for a wall-clock
budget and keeps the state with the best validation NLL (checked every EVAL_EVERY steps).
Run: PYTHONPATH=src python benchmarks/music_jsb.py   (~8 min on 2 busy CPU cores; needs the JSB file,
downloaded once, or placed by hand where the loader's error says)
"""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Results  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.apps.forecast import torch_threads  # noqa: E402
from genzoo.data import music as mu  # noqa: E402

TRAIN_SECONDS = 420
EVAL_EVERY = 50
BATCH = 16


@torch.no_grad()
def nll_per_frame(model: torch.nn.Module, pieces: list) -> float:
    model.eval()
    total, count = 0.0, 0
    for _, notes in pieces:
        roll = torch.from_numpy(mu.notes_to_roll(notes))[None]
        total -= model.log_prob(roll).item()
        count += roll.shape[1] - 1
    return total / count


def bernoulli_nll(train: list, test: list) -> float:
    rolls = np.concatenate([mu.notes_to_roll(n) for _, n in train])
    p = (rolls.sum(0) + 1) / (len(rolls) + 2)
    nll = [-(r[1:] * np.log(p) + (1 - r[1:]) * np.log(1 - p)).sum() for r in (mu.notes_to_roll(n) for _, n in test)]
    return float(np.sum(nll) / sum(len(mu.notes_to_roll(n)) - 1 for _, n in test))


def main() -> None:
    torch.manual_seed(0)
    res = Results("music_jsb")
    data = {s: gz.data.load("jsb_chorales", split=s, seq_len=64) for s in ("train", "val", "test")}
    split = f"{len(data['train'].pieces)}/{len(data['val'].pieces)}/{len(data['test'].pieces)} chorales"
    model = gz.create("pianoroll_lstm", data=data["train"], hidden=256, layers=1, dropout=0.3)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    loader = torch.utils.data.DataLoader(data["train"], batch_size=BATCH, shuffle=True, drop_last=True)
    best, best_state, steps, best_step = float("inf"), None, 0, 0
    start = time.perf_counter()
    with torch_threads(1):
        while time.perf_counter() - start < TRAIN_SECONDS:
            for batch in loader:
                model.train()
                loss = model.loss(batch)["loss"]
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                steps += 1
                if steps % EVAL_EVERY == 0:
                    val = nll_per_frame(model, data["val"].pieces)
                    print(f"step {steps} val nll/frame {val:.3f}", flush=True)
                    if val < best:
                        best, best_state, best_step = val, copy.deepcopy(model.state_dict()), steps
                if time.perf_counter() - start >= TRAIN_SECONDS:
                    break
        model.load_state_dict(best_state)
        test = nll_per_frame(model, data["test"].pieces)
    budget = (
        f"{TRAIN_SECONDS}s wall ({steps} steps x batch {BATCH} x 64 frames, best val at step {best_step}), "
        f"1 thread, LSTM 256 hidden; {split}"
    )
    res.add("jsb_chorales", "genzoo", "nll_per_frame", test, False, budget)
    res.add("jsb_chorales", "genzoo", "val_nll_per_frame", best, False, budget)
    res.add(
        "jsb_chorales",
        "bernoulli_per_key",
        "nll_per_frame",
        bernoulli_nll(data["train"].pieces, data["test"].pieces),
        False,
        split,
    )


if __name__ == "__main__":
    main()
