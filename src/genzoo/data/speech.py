"""Speech corpora for text-to-speech: (audio, text, voice) triples at 16 kHz.

- `espeak_speech`: offline. Digit strings ("three one four") spoken by espeak-ng voices (`data.audio`),
  leading/trailing silence trimmed. The test split holds out *texts*, not voices: a TTS model can only speak
  with voices it was trained on, so the held-out references are unseen digit strings in the trained voices.
- `ljspeech`: LJSpeech 1.1 (keithito.com; 13,100 clips of one reader, 22.05 kHz, sha256-checked tar.bz2).
  It has no official split; every 20th clip (in metadata.csv order) is the test split.
- `fsdd`: Free Spoken Digit Dataset v1.0.9 (the tag TensorFlow Datasets pins; sha256-checked tar.gz),
  8 kHz recordings named `{digit}_{speaker}_{index}.wav`; the official test split is indices 0-4.

Downloads go through `data.cache.fetch` (cache, checksum, one-line offline error naming where to put the
file). Texts are normalised by `normalize_text`: lower case, digits spelled out, punctuation dropped.
"""

from __future__ import annotations

import csv
import io
import random
import re
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from genzoo.data import audio as A
from genzoo.data.cache import fetch
from genzoo.data.info import DataInfo
from genzoo.data.registry import register_dataset
from genzoo.errors import GenzooError

LJSPEECH_URL = "https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2"
LJSPEECH_SHA256 = "sha256:be1a30453f28eb8dd26af4101ae40cbf2c50413b1bb21936cbcdc6fae3de8aa5"
FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/v1.0.9.tar.gz"
FSDD_SHA256 = "sha256:8bc44cde129d505cbbb6b365c09f80c663f2aa77578afc634e6141a2f87100c0"
TTS_VOICES = ("en", "en-us", "en+f3", "en+m3")


def normalize_text(text: str) -> str:
    """Lower case, each digit spelled out as a word, punctuation dropped, single spaces."""
    text = re.sub(r"\d", lambda m: f" {A.DIGITS[int(m.group())]} ", text.lower())
    text = re.sub(r"[.,;:!?\"()\-]", " ", text)
    return " ".join(text.split())


def trim_silence(audio: np.ndarray, threshold: float = 0.01, margin: int = 400) -> np.ndarray:
    """Cut leading/trailing samples quieter than `threshold`, keeping `margin` samples on each side."""
    loud = np.flatnonzero(np.abs(audio) > threshold)
    if len(loud) == 0:
        return audio
    return audio[max(0, loud[0] - margin) : loud[-1] + margin + 1]


class SpeechCorpus(Dataset):
    """Utterances as (audio float32 (T,) in [-1, 1] at 16 kHz, normalised text, voice name).

    `info.extra` carries `symbols` (every character of the texts) and `voices` so a TTS model can size its
    vocabulary and speaker table from the data."""

    def __init__(self, name: str, audio: list[Any], texts: list[str], voices: list[str],
                 read: Any = None) -> None:
        self.audio, self.texts, self.voices, self._read = audio, texts, voices, read
        symbols = "".join(sorted(set("".join(texts)) | {" "}))
        self.info = DataInfo(name, "audio", None, None, (-1.0, 1.0),
                             {"sample_rate": A.SAMPLE_RATE, "symbols": symbols,
                              "voices": sorted(set(voices))})

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i: int) -> tuple[np.ndarray, str, str]:
        clip = self.audio[i] if self._read is None else self._read(self.audio[i])
        return clip, self.texts[i], self.voices[i]


def digit_texts(n: int, seed: int, max_words: int = 3) -> list[str]:
    """`n` distinct random digit strings of 1..max_words words (deterministic in `seed`)."""
    rng = random.Random(seed)
    out: dict[str, None] = {}
    while len(out) < n:
        k = rng.randint(1, max_words)
        out[" ".join(rng.choice(A.DIGITS) for _ in range(k))] = None
    return list(out)


def heldout_texts(n: int = 10) -> list[str]:
    """The test texts of `espeak_speech`: three-digit strings that no training text equals."""
    return [t for t in digit_texts(4 * n + 40, seed=1234, max_words=3) if len(t.split()) == 3][:n]


@register_dataset("espeak_speech", "digit strings spoken by 4 espeak-ng voices, with texts (TTS); test = unseen texts")
def espeak_speech(
    split: str = "train",
    n_texts: int = 120,
    voices: tuple[str, ...] = TTS_VOICES,
    speed: int = 150,
    n_test: int = 10,
    **_: Any,
) -> SpeechCorpus:
    """Train: `n_texts` random digit strings (1-3 words, all single digits included) per voice, minus the
    held-out ones; test: `n_test` unseen three-digit strings per voice. One speed (`speed` wpm), pitch 50."""
    test = heldout_texts(n_test)
    if split == "test":
        texts = test
    else:
        held = set(test)
        texts = list(dict.fromkeys([*A.DIGITS, *(t for t in digit_texts(n_texts, seed=0) if t not in held)]))
        texts = texts[:n_texts]
        if split == "all":
            texts += test
    from concurrent.futures import ThreadPoolExecutor

    jobs = [(text, voice) for voice in voices for text in texts]
    with ThreadPoolExecutor(4) as pool:  # espeak-ng runs as a subprocess: threads overlap its runs
        clips = list(pool.map(lambda job: trim_silence(A.espeak(job[0], job[1], speed)), jobs))
    return SpeechCorpus("espeak_speech", clips, [t for t, _ in jobs], [v for _, v in jobs])


def _read_wav(data: bytes) -> np.ndarray:
    """WAV bytes -> mono float32 at SAMPLE_RATE."""
    import soundfile as sf

    try:
        audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as e:
        raise GenzooError(f"not a readable WAV file: {e}") from None
    return A.resample(audio.mean(1), rate, A.SAMPLE_RATE)


def _extract(archive: Path, mode: str, marker: str) -> Path:
    """Unpack `archive` once next to itself (tar's "data" filter: no absolute paths, links or devices)."""
    root = archive.parent / "extracted"
    if not (root / marker).exists():
        root.mkdir(parents=True, exist_ok=True)
        try:
            with tarfile.open(archive, mode) as tar:
                tar.extractall(root, filter="data")
        except (tarfile.TarError, EOFError, OSError) as e:
            raise GenzooError(f"{archive} is not a readable archive ({e}); delete it and retry") from None
    return root


@register_dataset("ljspeech", "LJSpeech 1.1, one reader, 13,100 clips (download 2.6 GB, sha256-checked)")
def ljspeech(split: str = "train", **_: Any) -> SpeechCorpus:
    """(audio at 16 kHz, normalised transcript, "lj"); test = every 20th clip of metadata.csv."""
    archive = fetch([LJSPEECH_URL], "LJSpeech-1.1.tar.bz2", LJSPEECH_SHA256, "ljspeech")
    root = _extract(archive, "r:bz2", "LJSpeech-1.1/metadata.csv") / "LJSpeech-1.1"
    rows = list(csv.reader((root / "metadata.csv").open(encoding="utf-8"), delimiter="|",
                           quoting=csv.QUOTE_NONE))
    keep = [r for i, r in enumerate(rows) if len(r) >= 2 and ((i % 20 == 19) == (split == "test") or split == "all")]
    paths = [root / "wavs" / f"{r[0]}.wav" for r in keep]
    texts = [normalize_text(r[2] if len(r) > 2 and r[2] else r[1]) for r in keep]
    return SpeechCorpus("ljspeech", paths, texts, ["lj"] * len(keep), read=lambda p: _read_wav(p.read_bytes()))


_FSDD_NAME = re.compile(r"(?:^|/)recordings/(\d)_([A-Za-z]+)_(\d+)\.wav$")


@register_dataset("fsdd", "Free Spoken Digit Dataset v1.0.9, 8 kHz digits (download, sha256-checked)")
def fsdd(split: str = "train", **_: Any) -> SpeechCorpus:
    """(audio at 16 kHz, digit word, speaker); official split: recordings 0-4 of each digit/speaker are test."""
    archive = fetch([FSDD_URL], "free-spoken-digit-dataset-1.0.9.tar.gz", FSDD_SHA256, "fsdd")
    clips, texts, speakers = [], [], []
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                m = _FSDD_NAME.search(member.name)
                if m is None or not member.isfile():
                    continue
                digit, speaker, index = int(m.group(1)), m.group(2), int(m.group(3))
                if split != "all" and (index < 5) != (split == "test"):
                    continue
                fobj = tar.extractfile(member)
                if fobj is not None:
                    clips.append(_read_wav(fobj.read()))
                    texts.append(A.DIGITS[digit])
                    speakers.append(speaker)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise GenzooError(f"{archive} is not a readable archive ({e}); delete it and retry") from None
    if not clips:
        raise GenzooError(f"{archive} holds no recordings/{{digit}}_{{speaker}}_{{index}}.wav files")
    return SpeechCorpus("fsdd", clips, texts, speakers)
