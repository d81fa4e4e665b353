"""Speech data: mel -> Griffin-Lim -> mel is close; no espeak-ng, empty text, bad voice: one clear line."""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from genzoo.data import audio as A
from genzoo.errors import GenzooError


def vowel(seconds: float = 1.0) -> torch.Tensor:
    """A sung 'ah': harmonics of a 140 Hz voice with vibrato under a formant envelope."""
    t = torch.arange(int(A.SAMPLE_RATE * seconds)) / A.SAMPLE_RATE
    phase = 2 * math.pi * torch.cumsum(140 * (1 + 0.05 * torch.sin(2 * math.pi * 5 * t)), 0) / A.SAMPLE_RATE
    x = sum(math.exp(-(((k * 140 - 700) / 400) ** 2)) / k * torch.sin(k * phase) for k in range(1, 30))
    return 0.5 * x / x.abs().max() * torch.hann_window(len(t))


def test_mel_griffin_lim_mel_error_is_small() -> None:
    x = vowel()
    m = A.log_mel(x)
    assert m.shape[0] == A.N_MELS
    rebuilt = A.griffin_lim(m, iterations=32)
    err = A.log_mel_l1(x, rebuilt)
    assert err < 0.95 * A.log_mel_l1(x, A.griffin_lim(m, iterations=0))  # phase retrieval helps
    assert err < 0.1 * A.log_mel_l1(x, 0.1 * torch.randn_like(x))


def test_espeak_errors_are_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(GenzooError, match="empty"):
        A.espeak("   ")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(GenzooError, match="espeak-ng is not installed"):
        A.espeak("seven")


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="needs Debian's espeak-ng (apt-get install espeak-ng)"
)
def test_espeak_clip_survives_griffin_lim() -> None:
    clip = A.espeak("seven")
    assert 0.2 < len(clip) / A.SAMPLE_RATE < 2.0 and 0.05 < abs(clip).max() <= 1.0
    m = A.log_mel(clip)
    assert A.log_mel_l1(clip, A.griffin_lim(m, 32)) < 0.6 * A.log_mel_l1(clip, A.griffin_lim(m, 0))
    with pytest.raises(GenzooError, match="unknown espeak-ng voice"):
        A.espeak("seven", voice="no-such-voice")
