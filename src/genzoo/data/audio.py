"""Audio for speech models: an offline espeak-ng corpus, log-mel spectrograms and Griffin-Lim inversion.

The corpus is synthesised on the spot by Debian's `espeak-ng` (apt-get install espeak-ng): the words
"zero".."nine" (or any texts) spoken by several voices, speeds and pitches, resampled to 16 kHz. Without
the program the loader says so in one line. The mel filterbank (HTK formula) and Griffin-Lim (Griffin &
Lim 1984, with the "fast" momentum of Perraudin et al. 2013) are written here in torch, so no audio
package is needed.
"""

from __future__ import annotations

import functools
import io
import math
import shutil
import subprocess
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from genzoo.data.info import DataInfo
from genzoo.data.registry import register_dataset
from genzoo.errors import GenzooError

SAMPLE_RATE = 16000
N_FFT, HOP, N_MELS = 1024, 256, 80
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
VOICES = ("en", "en-us", "en+f3", "en+m3")


def espeak_program() -> str:
    exe = shutil.which("espeak-ng") or shutil.which("espeak")
    if exe is None:
        raise GenzooError("espeak-ng is not installed (on Debian/Ubuntu: apt-get install espeak-ng)")
    return exe


@functools.lru_cache(maxsize=2)
def known_voices(exe: str) -> frozenset[str]:
    """Language codes and voice names espeak-ng knows (it silently falls back to English otherwise)."""
    out = subprocess.run([exe, "--voices"], capture_output=True, text=True, timeout=60, check=False).stdout  # noqa: S603
    names: set[str] = set()
    for line in out.splitlines()[1:]:  # Pty Language Age/Gender VoiceName File [Other languages]
        cols = line.split()
        if len(cols) >= 5:
            names.update({cols[1], cols[3].lower(), cols[4].split("/")[-1]})
    return frozenset(names)


def espeak(text: str, voice: str = "en", speed: int = 160, pitch: int = 50) -> np.ndarray:
    """`text` spoken by espeak-ng as float32 audio at SAMPLE_RATE; voice = language[+variant]."""
    import soundfile as sf

    if not text or not text.strip():
        raise GenzooError("the text to speak is empty")
    exe = espeak_program()
    if voice.split("+")[0] not in known_voices(exe):
        raise GenzooError(
            f"unknown espeak-ng voice {voice!r}; see `espeak-ng --voices` (e.g. en, en-us, en+f3)"
        )
    proc = subprocess.run(
        [exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],  # noqa: S603
        capture_output=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        raise GenzooError(f"espeak-ng failed for voice {voice!r}: {msg[0] if msg else 'no audio'}")
    audio, rate = sf.read(io.BytesIO(proc.stdout), dtype="float32")
    return resample(audio, rate, SAMPLE_RATE)


def resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Polyphase resampling (scipy) from `rate` to `target` Hz."""
    if rate == target:
        return audio.astype(np.float32)
    from scipy.signal import resample_poly

    g = math.gcd(rate, target)
    return resample_poly(audio, target // g, rate // g).astype(np.float32)


@functools.lru_cache(maxsize=8)
def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, rate: int = SAMPLE_RATE) -> Tensor:
    """(n_mels, n_fft // 2 + 1) triangular filters evenly spaced on the HTK mel scale, 0..rate/2."""

    def mel(f: np.ndarray) -> np.ndarray:
        return 2595 * np.log10(1 + f / 700)

    def hz(m: np.ndarray) -> np.ndarray:
        return 700 * (10 ** (m / 2595) - 1)

    freqs = np.linspace(0, rate / 2, n_fft // 2 + 1)
    edges = hz(np.linspace(mel(np.array(0.0)), mel(np.array(rate / 2)), n_mels + 2))
    lower = (freqs[None] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None])
    upper = (edges[2:, None] - freqs[None]) / (edges[2:, None] - edges[1:-1, None])
    return torch.from_numpy(np.maximum(0, np.minimum(lower, upper))).float()


def stft(audio: Tensor) -> Tensor:
    return torch.stft(audio, N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True)


def log_mel(audio: Tensor | np.ndarray) -> Tensor:
    """Log-mel spectrogram (..., N_MELS, frames) of audio at SAMPLE_RATE (natural log, floor 1e-5)."""
    audio = torch.as_tensor(audio, dtype=torch.float32)
    power = stft(audio).abs() ** 2
    return torch.log(torch.clamp(mel_filterbank() @ power, min=1e-5))


def griffin_lim(log_mel_spec: Tensor, iterations: int = 64, momentum: float = 0.99, seed: int = 0) -> Tensor:
    """Audio from a log-mel spectrogram: pseudo-invert the filterbank, then iterate phase estimates."""
    power = (torch.linalg.pinv(mel_filterbank()) @ torch.exp(log_mel_spec)).clamp_min(0)
    magnitude = power.sqrt()
    gen = torch.Generator().manual_seed(seed)
    angles = torch.exp(2j * math.pi * torch.rand(magnitude.shape, generator=gen))
    window = torch.hann_window(N_FFT)
    previous = torch.zeros_like(angles)
    for _ in range(iterations):
        audio = torch.istft(magnitude * angles, N_FFT, HOP, window=window)
        rebuilt = stft(audio)
        accelerated = rebuilt - (momentum / (1 + momentum)) * previous
        previous = rebuilt
        angles = accelerated / accelerated.abs().clamp_min(1e-8)
    return torch.istft(magnitude * angles, N_FFT, HOP, window=window)


def log_mel_l1(a: Tensor | np.ndarray, b: Tensor | np.ndarray) -> float:
    """Mean |log-mel(a) - log-mel(b)| over the common frames (nats of power)."""
    ma, mb = log_mel(a), log_mel(b)
    t = min(ma.shape[-1], mb.shape[-1])
    return float((ma[..., :t] - mb[..., :t]).abs().mean())


class SpokenDigits(Dataset):
    """Fixed-length clips (zero-padded) of espeak-ng digits: (audio (T,), label)."""

    def __init__(self, clips: list[np.ndarray], labels: list[int], length: int) -> None:
        self.audio = torch.zeros(len(clips), length)
        for i, c in enumerate(clips):
            c = c[:length]
            self.audio[i, : len(c)] = torch.from_numpy(c)
        self.labels = torch.tensor(labels)
        self.info = DataInfo(
            "spoken_digits", "audio", (length,), list(DIGITS), (-1.0, 1.0), {"sample_rate": SAMPLE_RATE}
        )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.audio[i], self.labels[i]


@register_dataset("spoken_digits", "the digits zero..nine spoken by espeak-ng voices/speeds/pitches, 16 kHz")
def spoken_digits(
    split: str = "train",
    speeds: tuple[int, ...] = (130, 170),
    pitches: tuple[int, ...] = (35, 65),
    length: int = 12000,
    **_: Any,
) -> SpokenDigits:
    """Voices en/en-us/en+f3/en+m3 x speeds x pitches; the en+m3 voice is held out as the test split."""
    voices = [v for v in VOICES if (v == "en+m3") == (split == "test")] if split != "all" else list(VOICES)
    clips, labels = [], []
    for voice in voices:
        for speed in speeds:
            for pitch in pitches:
                for k, word in enumerate(DIGITS):
                    clips.append(espeak(word, voice, speed, pitch))
                    labels.append(k)
    return SpokenDigits(clips, labels, length)
