"""Speech metrics: mel-cepstral distortion and log-mel L1 after DTW alignment, and digit word accuracy.

- `mcd`: mel-cepstral distortion in dB, (10 / ln 10) * sqrt(2 * sum_d (c_d - c'_d)^2) averaged over the
  frames of a DTW path (Kubichek 1993). Cepstra here are the DCT-II (orthonormal) of our 80-band HTK
  log-mel spectrum, halved to turn log *power* into log *amplitude*, coefficients 1..13 (c0, the energy,
  is left out as usual). That is an MFCC-style MCD, not SPTK's mel-generalised cepstrum, so compare its
  values with other rows of the same table, not with published figures.
- `aligned_log_mel_l1`: mean |log-mel difference| (nats of power) along the same DTW path, so a synthesis
  that speaks at another speed is not punished frame by frame.
- `word_accuracy`: pocketsphinx (CMU Sphinx, its bundled US-English acoustic model) decodes each clip with a
  JSGF grammar that allows only digit words; accuracy = 1 - (substitutions + deletions + insertions) / words.
  Pocketsphinx mishears espeak-ng's own six/seven/eight often, so the espeak references themselves set the
  ceiling that a TTS trained on espeak can be expected to reach.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genzoo.data import audio as A
from genzoo.errors import GenzooError

MCD_COEFFS = 13
_DB = 10.0 / math.log(10.0)


def mel_cepstrum(log_mel_spec: Tensor, coeffs: int = MCD_COEFFS) -> np.ndarray:
    """(n_mels, T) natural-log power mel spectrum -> (T, coeffs) cepstra c1..c_coeffs (log amplitude)."""
    from scipy.fft import dct

    c = dct(0.5 * np.asarray(log_mel_spec, dtype=np.float64), type=2, norm="ortho", axis=0)
    return c[1 : coeffs + 1].T


def dtw_path(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (i, j) of the cheapest monotonic path from (0, 0) to the last cell of `cost` (N, M)."""
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        row, prev = acc[i], acc[i - 1]
        diag_up = np.minimum(prev[:-1], prev[1:]) + cost[i - 1]
        for j in range(1, m + 1):  # the left neighbour makes this row sequential
            row[j] = min(diag_up[j - 1], row[j - 1] + cost[i - 1, j - 1])
    i, j, path = n, m, []
    while i > 0 and j > 0:
        path.append((i - 1, j - 1))
        step = int(np.argmin((acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])))
        i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
    idx = np.array(path[::-1])
    return idx[:, 0], idx[:, 1]


def _mels(reference: Any, synthesis: Any) -> tuple[Tensor, Tensor]:
    ref, syn = A.log_mel(reference), A.log_mel(synthesis)
    if ref.ndim != 2 or syn.ndim != 2:
        raise GenzooError("speech metrics compare one clip with one clip (1-D audio each)")
    return ref, syn


def mcd_and_l1(reference: Any, synthesis: Any) -> tuple[float, float]:
    """(MCD in dB, log-mel L1 in nats) of `synthesis` against `reference` (1-D audio at 16 kHz), both
    along the DTW path that minimises the cepstral distance."""
    ref, syn = _mels(reference, synthesis)
    cr, cs = mel_cepstrum(ref), mel_cepstrum(syn)
    cost = np.sqrt(((cr[:, None] - cs[None]) ** 2).sum(-1))
    i, j = dtw_path(cost)
    mcd = _DB * math.sqrt(2.0) * float(cost[i, j].mean())
    l1 = float((ref[:, i] - syn[:, j]).abs().mean())
    return mcd, l1


def mcd(reference: Any, synthesis: Any) -> float:
    """Mel-cepstral distortion (dB, lower is better) after DTW alignment; see the module docstring."""
    return mcd_and_l1(reference, synthesis)[0]


def aligned_log_mel_l1(reference: Any, synthesis: Any) -> float:
    """Mean absolute log-mel difference (nats of power) along the DTW path."""
    return mcd_and_l1(reference, synthesis)[1]


@functools.lru_cache(maxsize=1)
def _digit_decoder() -> Any:
    try:
        from pocketsphinx import Decoder
    except ImportError:
        raise GenzooError("word accuracy needs pocketsphinx (pip install pocketsphinx)") from None
    grammar = ("#JSGF V1.0;\ngrammar digits;\npublic <utterance> = <digit>+;\n<digit> = "
               + " | ".join(A.DIGITS) + ";\n")
    # bestpath=False keeps the Viterbi result: the lattice rescoring dropped 6-8 of 20 espeak digits to "no
    # hypothesis" here, while the Viterbi hypothesis heard 15 of them
    decoder = Decoder(samprate=A.SAMPLE_RATE, loglevel="FATAL", bestpath=False)
    decoder.add_jsgf_string("digits", grammar)
    decoder.activate_search("digits")
    return decoder


def recognize_digits(audio: Any, pad_seconds: float = 0.0) -> list[str]:
    """Digit words pocketsphinx hears in `audio` (1-D, 16 kHz, [-1, 1]), optionally padded with silence."""
    x = np.asarray(torch.as_tensor(audio, dtype=torch.float32).cpu(), dtype=np.float32)
    pad = np.zeros(int(pad_seconds * A.SAMPLE_RATE), dtype=np.float32)
    pcm = (np.clip(np.concatenate([pad, x, pad]), -1, 1) * 32767).astype(np.int16).tobytes()
    decoder = _digit_decoder()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return hyp.hypstr.split() if hyp is not None else []


def edit_distance(a: list[str], b: list[str]) -> int:
    """Levenshtein distance between word lists (substitutions + deletions + insertions)."""
    row = list(range(len(b) + 1))
    for i, wa in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, wb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (wa != wb))
    return row[-1]


def word_accuracy(clips: list[Any], texts: list[str]) -> float:
    """1 - WER of pocketsphinx's digit transcriptions of `clips` against `texts` (pooled over clips)."""
    if len(clips) != len(texts) or not texts:
        raise GenzooError(f"word_accuracy needs one text per clip (got {len(clips)} clips, {len(texts)} texts)")
    errors = sum(edit_distance(t.split(), recognize_digits(c)) for c, t in zip(clips, texts, strict=True))
    return 1.0 - errors / sum(len(t.split()) for t in texts)
