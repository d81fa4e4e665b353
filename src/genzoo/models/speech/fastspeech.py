"""A small non-autoregressive text-to-speech model: characters -> log-mel spectrogram (FastSpeech-style).

Why this design: FastSpeech (Ren et al. 2019) needs per-character durations, which it distils from an
autoregressive teacher; we have no teacher and espeak-ng does not report its timings for ordinary voices.
So durations are found the way Glow-TTS / Grad-TTS do it (Kim et al. 2020; Popov et al. 2021): the encoder
predicts for every character a mean mel frame `mu`, and Monotonic Alignment Search (a Viterbi pass, no
gradient) finds the monotonic, surjective character->frame alignment that maximises the Gaussian
likelihood of the real frames under those means. That alignment (a) trains `mu` (the "prior" loss),
(b) gives the targets of a duration predictor (MSE on log(1 + frames)), and (c) expands the encoder
states to frame rate for a convolution + self-attention decoder trained with L1 on normalised log-mels.
At synthesis the predicted durations replace the alignment, so one forward pass produces the whole mel.
Waveforms come from Griffin-Lim (`data.audio.griffin_lim`).

Batches are dicts made by `TTSFeatures.collate`: text ids (B, L), lengths, voice ids (B,), log-mels
(B, n_mels, T) and frame counts. Voices are a learned embedding per espeak-ng voice (or corpus speaker).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import Dataset

from genzoo.base import GenerativeModel, Recipe
from genzoo.data import audio as A
from genzoo.data.info import DataInfo
from genzoo.data.speech import normalize_text
from genzoo.errors import GenzooError
from genzoo.protocols import Sampler, Speaker
from genzoo.registry import register_model

MEL_CENTER, MEL_SCALE = -2.0, 4.0  # log-mel (natural log power) -> roughly zero mean, unit spread


@dataclass
class FastSpeechConfig:
    symbols: str = " efghinorstuvwxz"  # characters of the digit words; filled from the data
    voices: tuple[str, ...] = ("en",)
    n_mels: int = A.N_MELS
    channels: int = 128
    encoder_convs: int = 3
    decoder_convs: int = 3
    attention_layers: int = 1
    kernel: int = 5
    dropout: float = 0.1
    prior_weight: float = 1.0
    duration_weight: float = 1.0
    sample_rate: int = A.SAMPLE_RATE


class ConvBlock(nn.Module):
    """Residual conv -> ReLU -> LayerNorm over channels; padded positions are zeroed."""

    def __init__(self, channels: int, kernel: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel, padding=kernel // 2)
        self.norm = nn.LayerNorm(channels)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:  # x (B, T, C), mask (B, T) True = real
        h = F.relu(self.conv((x * mask[..., None]).transpose(1, 2))).transpose(1, 2)
        return self.norm(x + self.drop(h)) * mask[..., None]


class Stack(nn.Module):
    """Conv blocks (local context) then Transformer layers (whole-utterance context)."""

    def __init__(self, c: FastSpeechConfig, convs: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(ConvBlock(c.channels, c.kernel, c.dropout) for _ in range(convs))
        self.attn = nn.ModuleList(
            nn.TransformerEncoderLayer(c.channels, 2, 2 * c.channels, c.dropout, batch_first=True, norm_first=True)
            for _ in range(c.attention_layers)
        )

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        for block in self.convs:
            x = block(x, mask)
        for layer in self.attn:
            x = layer(x, src_key_padding_mask=~mask) * mask[..., None]
        return x


@torch.no_grad()
def monotonic_alignment(logp: Tensor, text_len: Tensor, mel_len: Tensor) -> Tensor:
    """Most likely monotonic alignment (B, L, T) in {0, 1}: each frame to one character, every character
    at least one frame, in order. Viterbi over frames, vectorised over batch and characters."""
    b, l, t = logp.shape
    neg = torch.finfo(logp.dtype).min / 4
    q = torch.full_like(logp, neg)
    q[:, 0, 0] = logp[:, 0, 0]
    for j in range(1, t):
        stay, move = q[:, :, j - 1], F.pad(q[:, :-1, j - 1], (1, 0), value=neg)
        q[:, :, j] = torch.maximum(stay, move) + logp[:, :, j]
    path = torch.zeros_like(logp)
    rows = torch.arange(b, device=logp.device)
    k = text_len - 1
    for j in range(t - 1, -1, -1):
        active = j < mel_len
        path[rows[active], k[active], j] = 1
        if j > 0:
            prev_k = (k - 1).clamp_min(0)
            move = (k > 0) & ((k == j) | (q[rows, prev_k, j - 1] > q[rows, k, j - 1]))
            k = torch.where(active & move, k - 1, k)
    return path


def durations_to_path(durations: Tensor, frames: int) -> Tensor:
    """Integer durations (B, L) -> alignment (B, L, frames): character i covers its run of frames."""
    ends = durations.cumsum(1)
    starts = ends - durations
    t = torch.arange(frames, device=durations.device)[None, None]
    return ((t >= starts[..., None]) & (t < ends[..., None])).float()


@register_model(
    "fastspeech", "non-autoregressive TTS: characters -> log-mel (MAS durations, conv+attention), Griffin-Lim audio"
)
class FastSpeech(GenerativeModel, Sampler, Speaker):
    """Characters (+ voice) -> log-mel spectrogram; `speak` adds Griffin-Lim for the waveform."""

    quick = Recipe("espeak_speech", {"channels": 16, "encoder_convs": 1, "decoder_convs": 1, "attention_layers": 1},
                   {"n_texts": 12, "voices": ["en"], "n_test": 2})

    Config = FastSpeechConfig
    default_lr = 1e-3
    default_precision = "32-true"

    def __init__(self, config: FastSpeechConfig, data_info: DataInfo | None = None) -> None:
        super().__init__(config, data_info)
        c = config
        self.symbol_index = {ch: i + 1 for i, ch in enumerate(c.symbols)}  # 0 = padding
        self.embed = nn.Embedding(len(c.symbols) + 1, c.channels, padding_idx=0)
        self.voice_embed = nn.Embedding(len(c.voices), c.channels)
        self.encoder = Stack(c, c.encoder_convs)
        self.to_mu = nn.Linear(c.channels, c.n_mels)
        self.duration = nn.Sequential(
            nn.Conv1d(c.channels, c.channels, 3, padding=1), nn.ReLU(),
            nn.Conv1d(c.channels, c.channels, 3, padding=1), nn.ReLU(),
            nn.Conv1d(c.channels, 1, 1),
        )
        self.position = nn.Linear(2, c.channels)  # where in its character a frame is
        self.decoder = Stack(c, c.decoder_convs)
        self.to_mel = nn.Linear(c.channels, c.n_mels)

    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        if info.kind != "audio" or "symbols" not in info.extra:
            raise GenzooError(f"model {cls.model_name!r} needs a speech corpus with texts (e.g. espeak_speech); "
                              f"{info.name!r} is not one")
        return {"symbols": info.extra["symbols"], "voices": tuple(info.extra.get("voices") or ("en",)),
                "sample_rate": int(info.extra.get("sample_rate", A.SAMPLE_RATE))}

    # -- text and voices -----------------------------------------------------------------------------------
    def encode_text(self, text: str) -> Tensor:
        """Normalised text wrapped in spaces (they absorb leading/trailing silence) -> ids (L,)."""
        norm = normalize_text(text)
        if not norm:
            raise GenzooError("the text to speak is empty")
        bad = sorted({ch for ch in norm if ch not in self.symbol_index})
        if bad:
            raise GenzooError(f"the text has characters {''.join(bad)!r} outside this model's vocabulary "
                              f"{self.config.symbols.strip()!r}")
        return torch.tensor([self.symbol_index[ch] for ch in f" {norm} "])

    def voice_id(self, voice: str | None) -> int:
        voices = list(self.config.voices)
        if voice is None:
            return 0
        if voice not in voices:
            raise GenzooError(f"unknown voice {voice!r}; this model knows {', '.join(voices)}")
        return voices.index(voice)

    # -- training --------------------------------------------------------------------------------------------
    def training_data(self, data: Any) -> Dataset:
        return data if isinstance(data, TTSFeatures) else TTSFeatures(data, self)

    def _encode(self, text: Tensor, voice: Tensor) -> tuple[Tensor, Tensor]:
        mask = text > 0
        h = self.encoder(self.embed(text) + self.voice_embed(voice)[:, None], mask)
        return h, mask

    def _decode(self, h: Tensor, voice: Tensor, path: Tensor, frame_mask: Tensor) -> Tensor:
        """Expand character states to frames along `path` (B, L, T) and decode normalised mels (B, T, M)."""
        durations = path.sum(2, keepdim=True).clamp_min(1)  # (B, L, 1)
        within = (path.cumsum(2) - 0.5) * path / durations  # position inside each character, 0..1
        frac = within.sum(1)  # (B, T)
        x = path.transpose(1, 2) @ h + self.voice_embed(voice)[:, None]
        x = x + self.position(torch.stack([frac, 1 - frac], -1))
        return self.to_mel(self.decoder(x * frame_mask[..., None], frame_mask))

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        text, voice, mel = batch["text"], batch["voice"], batch["mel"]
        text_len, mel_len = batch["text_len"], batch["mel_len"]
        y = ((mel - MEL_CENTER) / MEL_SCALE).transpose(1, 2)  # (B, T, M)
        frame_mask = torch.arange(y.shape[1], device=y.device)[None] < mel_len[:, None]
        h, text_mask = self._encode(text, voice)
        mu = self.to_mu(h)  # (B, L, M)
        logp = -0.5 * ((y.pow(2).sum(-1)[:, None]) - 2 * mu @ y.transpose(1, 2) + mu.pow(2).sum(-1)[..., None])
        path = monotonic_alignment(logp.detach(), text_len, mel_len)
        frames = frame_mask.sum() * self.config.n_mels
        prior = ((path.transpose(1, 2) @ mu - y).pow(2) * frame_mask[..., None]).sum() / frames
        log_dur = self.duration((h.detach() * text_mask[..., None]).transpose(1, 2)).squeeze(1)
        target = torch.log1p(path.sum(2))
        dur = ((log_dur - target).pow(2) * text_mask).sum() / text_mask.sum()
        pred = self._decode(h, voice, path, frame_mask)
        l1 = ((pred - y).abs() * frame_mask[..., None]).sum() / frames
        total = l1 + self.config.prior_weight * prior + self.config.duration_weight * dur
        return {"loss": total, "mel_l1": l1.detach(), "prior": prior.detach(), "duration": dur.detach()}

    # -- synthesis -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def synthesize(self, text: str, voice: str | None = None, pace: float = 1.0) -> Tensor:
        """Log-mel spectrogram (n_mels, frames) of `text` in `voice`; pace > 1 speaks slower."""
        if pace <= 0:
            raise GenzooError(f"pace must be positive, got {pace}")
        self.eval()
        ids = self.encode_text(text)[None].to(self.device)
        v = torch.tensor([self.voice_id(voice)], device=self.device)
        h, mask = self._encode(ids, v)
        log_dur = self.duration((h * mask[..., None]).transpose(1, 2)).squeeze(1)
        durations = torch.clamp(torch.round(torch.expm1(log_dur) * pace), min=1).long()
        frames = int(durations.sum())
        path = durations_to_path(durations, frames)
        pred = self._decode(h, v, path, torch.ones(1, frames, dtype=torch.bool, device=self.device))
        return (pred[0] * MEL_SCALE + MEL_CENTER).transpose(0, 1).cpu()

    def speak(self, text: str, voice: str | None = None, pace: float = 1.0, iterations: int = 64) -> Tensor:
        """Audio (T,) in [-1, 1] at `sample_rate`: `synthesize`, then Griffin-Lim phase recovery."""
        return A.griffin_lim(self.synthesize(text, voice, pace), iterations).clamp(-1, 1)

    @torch.no_grad()
    def sample(self, n: int, text: str | list[str] | None = None, voice: str | None = None,
               iterations: int = 32) -> Tensor:
        """`n` clips (n, T) zero-padded to the longest: the given text(s), else random digit strings."""
        if n < 1:
            raise GenzooError("sample needs n >= 1")
        if text is None:
            words = [w for w in ("zero one two three four five six seven eight nine").split()
                     if all(ch in self.symbol_index for ch in w)] or [self.config.symbols.strip()[:1]]
            picks = torch.randint(len(words), (n, 3)).tolist()  # follows torch.manual_seed
            texts = [" ".join(words[k] for k in row) for row in picks]
        else:
            texts = [text] * n if isinstance(text, str) else list(text)
        clips = [self.speak(t, voice, iterations=iterations) for t in texts[:n]]
        out = torch.zeros(len(clips), max(len(c) for c in clips))
        for i, c in enumerate(clips):
            out[i, : len(c)] = c
        return out


class TTSFeatures(Dataset):
    """A `SpeechCorpus` as model inputs: character ids, voice id, log-mel; computed once per utterance."""

    def __init__(self, corpus: Any, model: FastSpeech) -> None:
        self.corpus, self.info = corpus, corpus.info
        voices = list(model.config.voices)
        self._text = [model.encode_text(corpus.texts[i]) for i in range(len(corpus))]
        unknown = sorted(set(corpus.voices) - set(voices))
        if unknown:
            raise GenzooError(f"voices {unknown} of {corpus.info.name!r} are not in the model's {voices}")
        self._voice = [voices.index(v) for v in corpus.voices]
        self._mel: dict[int, Tensor] = {}

    def __len__(self) -> int:
        return len(self._text)

    def __getitem__(self, i: int) -> tuple[Tensor, int, Tensor]:
        if i not in self._mel:
            mel = A.log_mel(self.corpus[i][0])
            if mel.shape[1] < len(self._text[i]):
                raise GenzooError(f"utterance {i} ({self.corpus.texts[i]!r}) has fewer frames than characters")
            self._mel[i] = mel
        return self._text[i], self._voice[i], self._mel[i]

    @staticmethod
    def collate(items: list[tuple[Tensor, int, Tensor]]) -> dict[str, Tensor]:
        texts, voices, mels = zip(*items, strict=True)
        text_len = torch.tensor([len(t) for t in texts])
        mel_len = torch.tensor([m.shape[1] for m in mels])
        text = torch.zeros(len(items), int(text_len.max()), dtype=torch.long)
        mel = torch.full((len(items), mels[0].shape[0], int(mel_len.max())), MEL_CENTER)
        for i, (t, m) in enumerate(zip(texts, mels, strict=True)):
            text[i, : len(t)] = t
            mel[i, :, : m.shape[1]] = m
        return {"text": text, "text_len": text_len, "voice": torch.tensor(voices), "mel": mel, "mel_len": mel_len}
