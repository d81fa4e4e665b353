"""music_gpt: the GPT over chorale events learns, samples valid events through the generation core (also past
its context), composes MIDI that music21 parses, continues a prime, and saves/reloads to the same samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import genzoo as gz
from genzoo.apps.music import compose
from genzoo.cli import main
from genzoo.data import music as mu
from genzoo.errors import GenzooError


@pytest.fixture(scope="module")
def data() -> mu.ChoraleEvents:
    """Windows of the first train chorales (`limit` keeps music21 parsing to a few files)."""
    return gz.data.load("chorales", limit=4, seq_len=48)


def _tiny(data: mu.ChoraleEvents) -> torch.nn.Module:
    torch.manual_seed(0)
    return gz.create("music_gpt", data=data, context_length=32, n_layer=2, n_head=2, d_model=32, dropout=0.0)


def test_music_gpt_learns_and_samples_valid_events(data: mu.ChoraleEvents) -> None:
    model = _tiny(data)
    assert model.vocab_size == mu.VOCAB_SIZE and model.context_length == 32
    batch = torch.stack([data[i] for i in range(min(len(data), 16))])[:, :33]
    before = model.loss(batch)["loss"].item()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(40):
        loss = model.loss(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    after = model.loss(batch)["loss"].item()
    assert after < before - 1.5, (before, after)
    padded = batch.clone()
    padded[:, 20:] = mu.PAD  # PAD targets are ignored, not scored
    assert torch.isfinite(model.loss(padded)["loss"])
    # log_prob past the context (strided windows) scores every event once; PAD targets count zero
    seq = torch.as_tensor(data.sequences[0][:90])[None]
    short = model.log_prob(seq[:, :30])
    manual = torch.log_softmax(model.forward_tokens(seq[:, :29]), -1).gather(-1, seq[:, 1:30, None]).sum()
    assert torch.allclose(short, manual, atol=1e-4)
    assert torch.allclose(model.log_prob(torch.cat([seq[:, :30], torch.zeros(1, 5, dtype=torch.long)], 1)), short)
    assert torch.isfinite(model.log_prob(seq)) and model.log_prob(seq) < short
    # 100 new events with a 32-token context: the generation core slides the window
    tokens = model.sample(3, steps=100, top_k=20, top_p=0.95, temperature=0.9)
    assert tokens.shape[0] == 3 and (tokens[:, 0] == mu.BOS).all()
    assert int(tokens.min()) >= 0 and int(tokens.max()) < mu.VOCAB_SIZE
    assert not (tokens[:, 1:] == mu.BOS).any()
    for row in tokens.tolist():
        body = row[1 : row.index(mu.EOS)] if mu.EOS in row else row[1:]
        assert mu.PAD not in body  # PAD only after EOS
    with pytest.raises(GenzooError, match="temperature"):
        model.sample(1, steps=4, temperature=0.0)


def test_music_gpt_composes_with_prime_and_reloads(data: mu.ChoraleEvents, tmp_path: Path) -> None:
    from music21 import converter

    model = _tiny(data)
    notes = compose(model, bars=2, seed=1)[0]
    assert len(notes) > 0 and notes[:, 2].max() <= 2 * 16 + 16
    gz.save(model, tmp_path / "run")
    again = gz.load(tmp_path / "run")
    assert again.model_name == "music_gpt"
    assert np.array_equal(compose(again, bars=2, seed=1)[0], notes)
    assert main(["compose", str(tmp_path / "run"), "--bars", "2", "--no-wav", "-o", str(tmp_path / "o.mid")]) == 0
    assert len(converter.parse(str(tmp_path / "o.mid")).flatten().notes) > 0
    first = data.pieces[0][1]
    mu.write_midi(first[:8], tmp_path / "prime.mid")
    primed = compose(model, bars=1, prime=tmp_path / "prime.mid")[0]
    kept = mu.merge_unisons(first[:8])
    assert np.array_equal(primed[: len(kept)][:, :2], kept[:, :2])


def test_music_gpt_refuses_non_event_data() -> None:
    rolls = mu.ChoraleRolls([("c", np.array([[60, 0, 4]]))], seq_len=4)
    with pytest.raises(GenzooError, match="event tokens"):
        gz.create("music_gpt", data=rolls)
