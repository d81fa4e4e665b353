"""Speech benchmark: the `fastspeech` TTS (+ Griffin-Lim) against espeak-ng's own audio.

Data (`espeak_speech`): digit strings spoken by the espeak-ng voices en, en-us, en+f3, en+m3 at 150 wpm,
silence trimmed. Train: the ten single digits plus random 1-3 digit strings, 120 texts per voice.
Test: 10 three-digit strings that no training text equals (`data.speech.heldout_texts`), in each of the
four voices (40 utterances, 120 words). Voices are not held out: a TTS speaks only voices it was trained on.

Systems, all scored against the espeak-ng test clips (the ground truth):
- `genzoo`: fastspeech trained with `genzoo.fit`, its log-mel inverted by Griffin-Lim (32 iterations);
- `espeak_griffinlim`: the reference's own log-mel through the same Griffin-Lim: the vocoder ceiling;
- `espeak_other_voice`: the same text from another espeak voice (en-us, or en for en-us): the scale of
  "right words, wrong voice";
- `espeak`: the reference itself (word accuracy only: its distortion is zero by definition).
Metrics (`genzoo.metrics.speech`): `mcd` (dB, MFCC-style, DTW), `log_mel_l1` (nats, along the DTW path),
`word_accuracy` (pocketsphinx, digit grammar), and `realtime_factor` (seconds of audio per second of
compute, one thread; medians of interleaved repeats). Two WAV samples and a mel picture go beside the JSON.
Run: PYTHONPATH=src python benchmarks/speech.py   (~10 min on 2 busy CPU cores)
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, Results, interleaved_medians  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.apps.speech import speak_to_file  # noqa: E402
from genzoo.data import audio as A  # noqa: E402
from genzoo.data import speech as S  # noqa: E402
from genzoo.metrics import speech as M  # noqa: E402

STEPS, BATCH, GL_ITERS = 500, 16, 32
TASK = "espeak_digits_heldout_texts"


def score(res: Results, system: str, refs: list[np.ndarray], clips: list[torch.Tensor], texts: list[str],
          budget: str) -> None:
    pairs = np.array([M.mcd_and_l1(r, c) for r, c in zip(refs, clips, strict=True)])
    res.add(TASK, system, "mcd", pairs[:, 0].mean(), False, budget)
    res.add(TASK, system, "log_mel_l1", pairs[:, 1].mean(), False, budget)
    res.add(TASK, system, "word_accuracy", M.word_accuracy(clips, texts), True, budget)


def main() -> None:
    cores = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    res = Results("speech")
    t0 = time.perf_counter()
    train, test = S.espeak_speech("train"), S.espeak_speech("test")
    refs = [test[i][0] for i in range(len(test))]
    print(f"corpus: {len(train)} train / {len(test)} test utterances in {time.perf_counter() - t0:.0f} s")

    model = gz.create("fastspeech", data=train)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as run:  # a fresh run each time (an existing `out` would resume)
        gz.fit(model, train, max_steps=STEPS, batch_size=BATCH, out=run, progress=False, log_every=50)
    train_s = time.perf_counter() - t0
    budget = f"{STEPS} steps x batch {BATCH}, {train_s:.0f} s train, 1 thread; Griffin-Lim {GL_ITERS} it"

    syn = [model.speak(t, v, iterations=GL_ITERS) for t, v in zip(test.texts, test.voices, strict=True)]
    score(res, "genzoo", refs, syn, test.texts, budget)
    gl = [A.griffin_lim(A.log_mel(r), GL_ITERS) for r in refs]
    score(res, "espeak_griffinlim", refs, gl, test.texts, f"reference log-mel, Griffin-Lim {GL_ITERS} it")
    other = [S.trim_silence(A.espeak(t, "en" if v == "en-us" else "en-us", 150))
             for t, v in zip(test.texts, test.voices, strict=True)]
    score(res, "espeak_other_voice", refs, [torch.from_numpy(o) for o in other], test.texts,
          "same text, another espeak voice")
    res.add(TASK, "espeak", "word_accuracy", M.word_accuracy(refs, test.texts), True, "the references")

    text, voice = test.texts[0], test.voices[0]
    seconds = len(syn[0]) / A.SAMPLE_RATE
    rtf = interleaved_medians({
        "mel": lambda: seconds / _time(lambda: model.synthesize(text, voice)),
        "mel+gl": lambda: seconds / _time(lambda: model.speak(text, voice, iterations=GL_ITERS)),
    })
    res.add(TASK, "genzoo", "realtime_factor", rtf["mel+gl"], True, f"'{text}', 1 thread, median of 3")
    res.add(TASK, "genzoo_mel_only", "realtime_factor", rtf["mel"], True, f"'{text}', 1 thread, median of 3")

    speak_to_file(model, text, RESULTS / "speech_genzoo.wav", voice, iterations=64)
    import soundfile as sf

    sf.write(RESULTS / "speech_espeak.wav", refs[0], A.SAMPLE_RATE, subtype="PCM_16")
    _plot(A.log_mel(refs[0]), model.synthesize(text, voice), f"'{text}' ({voice})")
    torch.set_num_threads(cores)  # the JSON's "machine" names the machine; rows say "1 thread"
    path = res.write()
    print(f"wrote {path}")


def _time(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _plot(ref: torch.Tensor, syn: torch.Tensor, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 2.6), sharey=True)
    for ax, mel, name in zip(axes, (ref, syn), ("espeak-ng (reference)", "genzoo fastspeech"), strict=True):
        ax.imshow(mel.numpy(), origin="lower", aspect="auto", vmin=-11.5, vmax=4, cmap="magma")
        ax.set_title(f"{name}: {title}", fontsize=8)
        ax.set_xlabel("frame (16 ms)")
    axes[0].set_ylabel("mel band")
    fig.tight_layout()
    fig.savefig(RESULTS / "speech_mels.png", dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    main()
