"""Speech synthesis: Griffin-Lim on a real espeak clip, alignment search, a TTS that learns, the `speak` CLI,
speech metrics, and the LJSpeech / FSDD loaders on small archives written here in the real formats."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import genzoo as gz
from genzoo.cli import main
from genzoo.data import audio as A
from genzoo.data import speech as S
from genzoo.errors import GenzooError
from genzoo.metrics import speech as M
from genzoo.models.speech.fastspeech import FastSpeech, FastSpeechConfig, durations_to_path, monotonic_alignment

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="needs Debian's espeak-ng (apt-get install espeak-ng)")
TINY = {"channels": 32, "encoder_convs": 2, "decoder_convs": 2, "attention_layers": 1, "dropout": 0.0}


@pytest.fixture(scope="module")
def corpus() -> S.SpeechCorpus:
    if shutil.which("espeak-ng") is None:
        pytest.skip("needs Debian's espeak-ng (apt-get install espeak-ng)")
    return S.espeak_speech("train", n_texts=12, voices=("en", "en+f3"))


@pytest.fixture(scope="module")
def trained(corpus: S.SpeechCorpus) -> tuple[FastSpeech, list[float]]:
    torch.manual_seed(0)
    model = gz.create("fastspeech", data=corpus, **TINY)
    data = model.training_data(corpus)
    batch = data.collate([data[i] for i in range(len(data))])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        parts = model.loss(batch)
        opt.zero_grad()
        parts["loss"].backward()
        opt.step()
        losses.append(float(parts["loss"].detach()))
    return model, losses


@needs_espeak
def test_mel_griffin_lim_mel_error_is_small_on_espeak_speech() -> None:
    clip = S.trim_silence(A.espeak("three one four", "en", 150))
    mel = A.log_mel(clip)
    rebuilt = A.griffin_lim(mel, iterations=32)
    err = float((A.log_mel(rebuilt)[:, : mel.shape[1]] - mel).abs().mean())
    assert abs(len(rebuilt) - len(clip)) < A.N_FFT
    assert err < 0.5 * float((A.log_mel(A.griffin_lim(mel, 0))[:, : mel.shape[1]] - mel).abs().mean())
    assert err < 1.0, err  # nats of power, on a spectrogram that spans ~20 nats


def test_monotonic_alignment_finds_the_best_path() -> None:
    # three characters whose best frames are 0-1, 2-4, 5-6: a path must follow them, in order, ending on time
    target = torch.tensor([0, 0, 1, 1, 1, 2, 2])
    logp = torch.full((1, 3, 7), -5.0)
    logp[0, target, torch.arange(7)] = 0.0
    path = monotonic_alignment(logp, torch.tensor([3]), torch.tensor([7]))
    assert torch.equal(path[0].argmax(0), target) and torch.equal(path[0].sum(1), torch.tensor([2.0, 3.0, 2.0]))
    # even when the likelihood prefers skipping a character, every character keeps at least one frame
    logp[0, 1] = -50.0
    path = monotonic_alignment(logp, torch.tensor([3]), torch.tensor([7]))
    assert (path[0].sum(1) >= 1).all() and (path[0].sum(0) == 1).all()
    assert torch.equal(durations_to_path(path[0].sum(1, keepdim=True).T.long(), 7)[0], path[0])


def test_tts_loss_falls_and_durations_are_learned(trained: tuple[FastSpeech, list[float]]) -> None:
    model, losses = trained
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:3]), (losses[:3], losses[-5:])
    mel = model.synthesize("one", "en")
    assert mel.shape[0] == A.N_MELS and 8 < mel.shape[1] < 60  # espeak's "one": ~25 frames
    assert model.synthesize("one two three", "en").shape[1] > 1.5 * mel.shape[1]  # longer text, longer speech


def test_speak_writes_a_wav_and_the_run_reloads(trained: tuple[FastSpeech, list[float]], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    model, _ = trained
    gz.save(model, tmp_path / "tts")
    again = gz.load(tmp_path / "tts")
    assert torch.allclose(again.synthesize("two one", "en+f3"), model.synthesize("two one", "en+f3"), atol=1e-5)
    out = tmp_path / "out.wav"
    assert main(["speak", str(tmp_path / "tts"), "2 1", "-o", str(out), "--voice", "en+f3",
                 "--iterations", "8"]) in (0, None)
    audio, rate = sf.read(out)
    frames = model.synthesize("two one", "en+f3").shape[1]
    assert rate == A.SAMPLE_RATE and len(audio) == (frames - 1) * A.HOP
    assert 0.01 < np.abs(audio).max() <= 1.0
    samples = model.sample(2, iterations=4)
    assert samples.shape[0] == 2 and samples.abs().max() <= 1


@pytest.mark.parametrize(("text", "extra", "message"), [
    ("   ", [], "empty"),
    ("one two", ["--voice", "klingon"], "unknown voice"),
    ("hello", [], "outside this model's vocabulary"),
])
def test_speak_cli_refuses_bad_input_in_one_line(text: str, extra: list[str], message: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    gz.save(FastSpeech(FastSpeechConfig(voices=("en", "en+f3"), **TINY)), tmp_path / "tts")
    assert main(["speak", str(tmp_path / "tts"), text, "-o", str(tmp_path / "x.wav"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "x.wav").exists()


@needs_espeak
def test_metrics_rank_a_clip_itself_a_slower_take_and_another_word() -> None:
    seven = S.trim_silence(A.espeak("seven", "en", 150))
    slower = S.trim_silence(A.espeak("seven", "en", 110))
    other = S.trim_silence(A.espeak("three", "en", 150))
    assert M.mcd(seven, seven) == pytest.approx(0.0, abs=1e-9)
    assert M.mcd(seven, slower) < 0.7 * M.mcd(seven, other)
    assert M.aligned_log_mel_l1(seven, slower) < M.aligned_log_mel_l1(seven, other)
    assert M.edit_distance("one two three".split(), "one three three four".split()) == 2


@needs_espeak
def test_pocketsphinx_hears_espeak_digits_and_not_noise() -> None:
    pytest.importorskip("pocketsphinx")
    texts = ["one", "three", "four", "two"]
    clips = [A.espeak(t, "en-us", 150) for t in texts]
    assert M.word_accuracy(clips, texts) >= 0.75
    noise = [0.05 * np.random.default_rng(0).standard_normal(8000).astype(np.float32)] * 4
    assert M.word_accuracy(noise, texts) <= 0.25


# -- download loaders on fake archives in the real formats -------------------------------------------------
def _wav_bytes(seconds: float, rate: int, freq: float = 220.0) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    buf = io.BytesIO()
    sf.write(buf, 0.3 * np.sin(2 * np.pi * freq * t), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _place(path: Path, monkeypatch: pytest.MonkeyPatch, attr: str) -> None:
    """Make the loader accept our fake archive: its checksum replaces the published one."""
    monkeypatch.setattr(S, attr, "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest())


def test_ljspeech_loader_reads_the_release_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path))
    archive = tmp_path / "ljspeech" / "LJSpeech-1.1.tar.bz2"
    archive.parent.mkdir()
    words = ["zero", *A.DIGITS[1:], *(f"x{i}" for i in range(10, 20)), "twenty", "twenty-one"]
    rows = [f"LJ001-{i:04d}|Text {i}, as printed.|Text number {words[i]}, as read." for i in range(1, 22)]
    with tarfile.open(archive, "w:bz2") as tar:
        _add(tar, "LJSpeech-1.1/metadata.csv", "\n".join(rows).encode())
        for i in range(1, 22):
            _add(tar, f"LJSpeech-1.1/wavs/LJ001-{i:04d}.wav", _wav_bytes(0.1, 22050))
    _place(archive, monkeypatch, "LJSPEECH_SHA256")
    train, test = gz.data.load("ljspeech", split="train"), gz.data.load("ljspeech", split="test")
    assert (len(train), len(test)) == (20, 1)
    audio, text, voice = test[0]
    assert text == "text number twenty as read" and voice == "lj"
    assert audio.dtype == np.float32 and abs(len(audio) - 1600) <= 1  # 0.1 s resampled 22.05 -> 16 kHz


def test_fsdd_loader_uses_the_official_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path))
    archive = tmp_path / "fsdd" / "free-spoken-digit-dataset-1.0.9.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        _add(tar, "free-spoken-digit-dataset-1.0.9/README.md", b"FSDD")
        for digit, index in [(7, 0), (7, 5), (3, 4), (3, 49)]:
            _add(tar, f"free-spoken-digit-dataset-1.0.9/recordings/{digit}_jackson_{index}.wav",
                 _wav_bytes(0.2, 8000))
    _place(archive, monkeypatch, "FSDD_SHA256")
    test = gz.data.load("fsdd", split="test")
    assert sorted(test.texts) == ["seven", "three"] and test.info.extra["voices"] == ["jackson"]
    assert len(gz.data.load("fsdd", split="train")) == 2 and len(test[0][0]) == 3200  # 8 -> 16 kHz


def test_loaders_offline_say_where_to_put_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path))
    monkeypatch.setattr(S, "FSDD_URL", (tmp_path / "no-such-server.tar.gz").as_uri())
    with pytest.raises(GenzooError, match=r"offline\? place the file by hand at .*fsdd"):
        S.fsdd("train")
    bad = tmp_path / "fsdd" / "free-spoken-digit-dataset-1.0.9.tar.gz"
    bad.write_bytes(b"not the archive")
    with pytest.raises(GenzooError, match="fails its sha256 check"):
        S.fsdd("train")
