"""Runs saved by earlier code still load and compute the same numbers.

`tests/data/saved_runs/` holds tiny models (random weights, so zero-initialised branches such as the U-Net's
attention projections are exercised) saved by the code before the shared attention / KV cache / decoding
core, with their outputs then: logits with and without a KV cache, encoder features, U-Net and video U-Net
outputs, forecaster states, and decodes (greedy, seeded sampling, beam search, sliding past the context).
Each test loads one with today's code and checks it gives the same numbers (tokens exactly).

The fixtures were written by `python tests/test_saved_runs.py DIR` run with that older genzoo on the path;
each case below uses only API both versions have.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

import genzoo as gz
from genzoo.generation import GenerationConfig, generate

FIXTURES = Path(__file__).parent / "data" / "saved_runs"
Outputs = dict[str, torch.Tensor]


def _ids(shape: tuple[int, ...], low: int, high: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(low, high, shape, generator=torch.Generator().manual_seed(seed))


def _randomise(module: torch.nn.Module, seed: int = 0, std: float = 0.3) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return module.eval()


def _decodes(model: Any, prompt: torch.Tensor, beams: bool = True) -> Outputs:
    out = {
        "greedy": generate(model, prompt, GenerationConfig(max_new_tokens=12, do_sample=False)),
        "sampled": generate(
            model,
            prompt,
            GenerationConfig(max_new_tokens=12, seed=0, temperature=1.5, top_k=40, top_p=0.95, repetition_penalty=1.2),
        ),
    }
    if beams:
        out["beams"] = generate(model, prompt, GenerationConfig(max_new_tokens=8, num_beams=3, eos_token_id=5))
    return {k: v.cpu() for k, v in out.items()}


def _cached(model: Any, ids: torch.Tensor, cache: Any) -> torch.Tensor:
    """Logits fed in three pieces through one cache: a prefill, one token, then several after a past."""
    return _thin(torch.cat([model.forward_tokens(ids[:, :5], cache), model.forward_tokens(ids[:, 5:6], cache),
                            model.forward_tokens(ids[:, 6:], cache)], 1))


def _thin(logits: torch.Tensor) -> torch.Tensor:
    """Every 4th vocabulary entry: enough to compare, a quarter of the fixture's size."""
    return logits[..., ::4]


# -- the cases: build (old code only) and check (both) ---------------------------------------------------
def _gpt(positions: str) -> tuple[Callable[[], Any], Callable[[Any], Outputs]]:
    def build() -> Any:
        torch.manual_seed(0)
        return _randomise(gz.create("gpt", context_length=16, n_layer=2, n_head=2, d_model=16, positions=positions),
                          std=0.15)

    def check(m: Any) -> Outputs:
        ids = _ids((2, 12), 5, m.vocab_size)
        out = {"logits": _thin(m.forward_tokens(ids)), "cached": _cached(m, ids, m.new_cache(2))}
        out |= _decodes(m, ids[:, :4])
        out["slid"] = generate(m, ids[:, :4], GenerationConfig(max_new_tokens=30, do_sample=False)).cpu()
        return out

    return build, check


def _char_rnn() -> Any:
    torch.manual_seed(0)
    return _randomise(gz.create("char_rnn", d_embed=8, hidden=16, n_layer=2))


def _check_char_rnn(m: Any) -> Outputs:
    ids = _ids((2, 12), 5, m.vocab_size)
    return {"logits": _thin(m.forward_tokens(ids)), "cached": _cached(m, ids, m.new_cache(2)),
            **_decodes(m, ids[:, :4])}


def _seq2seq() -> Any:
    torch.manual_seed(0)
    return _randomise(gz.create("seq2seq", d_model=16, n_head=2, enc_layers=1, dec_layers=2, max_len=24), std=0.15)


def _check_seq2seq(m: Any) -> Outputs:
    src = _ids((2, 7), 5, m.vocab_size)
    src[1, 5:] = 0  # padding
    tgt = torch.cat([torch.ones(2, 1, dtype=torch.long), _ids((2, 9), 5, m.vocab_size, seed=1)], 1)
    memory, _ = m.encode_tokens(src)
    out = {"memory": memory, "cached": _cached(m, tgt, m.new_cache_for(src)(2)),
           "nll": m.loss({"src": src, "tgt": tgt})["nll"]}
    for name, config in (("greedy", GenerationConfig(do_sample=False, max_new_tokens=10)),
                         ("beams", GenerationConfig(do_sample=False, max_new_tokens=10, num_beams=3))):
        rows = m.generate_ids(src, config)
        out[name] = torch.nn.utils.rnn.pad_sequence([torch.tensor(r + [-1]) for r in rows], batch_first=True,
                                                    padding_value=-1)
    return out


def _bert() -> Any:
    torch.manual_seed(0)
    return _randomise(gz.create("bert", max_len=16, n_layer=2, n_head=2, d_model=16), std=0.15)


def _check_bert(m: Any) -> Outputs:
    ids = _ids((2, 10), 5, m.config.vocab_size)
    ids[0, 7:] = 0
    return {"encoded": m.encode(ids)}


def _music_gpt() -> Any:
    torch.manual_seed(0)
    return _randomise(gz.create("music_gpt", context_length=16, n_layer=2, n_head=2, d_model=16), std=0.15)


def _check_music_gpt(m: Any) -> Outputs:
    ids = _ids((2, 12), 3, m.vocab_size)
    return {"logits": _thin(m.forward_tokens(ids)), "cached": _cached(m, ids, m.new_cache(2)),
            "log_prob": m.log_prob(ids)}


def _music_lstm() -> Any:
    torch.manual_seed(0)
    return _randomise(gz.create("music_lstm", embed=8, hidden=16, layers=2))


def _check_music_lstm(m: Any) -> Outputs:
    ids = _ids((2, 12), 3, m.config.vocab_size)
    return {"logits": _thin(m.logits(ids)[0]), "log_prob": m.log_prob(ids)}


def _wavenet() -> Any:
    torch.manual_seed(0)
    return _randomise(gz.create("wavenet", channels=8, skip_channels=8, layers_per_stack=3, stacks=2), std=0.2)


def _check_wavenet(m: Any) -> Outputs:
    audio = torch.sin(torch.arange(64) / 3.0)[None].repeat(2, 1) * torch.tensor([[0.5], [0.2]])
    from genzoo.models.autoregressive.wavenet import mu_law_encode

    torch.manual_seed(1)
    return {"logits": m.logits(mu_law_encode(audio))[:, ::4, -16:], "log_prob": m.log_prob(audio),
            "sample": m.sample(2, 40)}


def _vqvae() -> Any:
    torch.manual_seed(0)
    m = gz.create("vqvae", image_shape=(1, 8, 8), hidden=8, codebook_size=16, code_dim=4, downsamples=1)
    with torch.no_grad():  # a prior with some structure, so sampling is not uniform noise
        g = torch.Generator().manual_seed(3)
        for p in m.prior_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 2.0)
    return m.eval()


def _check_vqvae(m: Any) -> Outputs:
    idx = _ids((2, 4, 4), 0, 16)
    torch.manual_seed(2)
    return {"prior_logits": m.prior_logits(idx), "decoded": m.decode(idx), "sample": m.sample(3)}


def _forecaster() -> Any:
    torch.manual_seed(0)
    return _randomise(gz.create("transformer_forecaster", hidden=8, heads=2, feedforward=16, layers=2), std=0.2)


def _check_forecaster(m: Any) -> Outputs:
    x = torch.randn(2, 10, 9, generator=torch.Generator().manual_seed(0))
    whole, _ = m.core(x)
    head, state = m.core(x[:, :4])
    parts = [head]
    for t in range(4, 10):
        o, state = m.core(x[:, t : t + 1], state)
        parts.append(o)
    return {"whole": whole, "stepwise": torch.cat(parts, 1)}


UNET = dict(in_channels=1, out_channels=1, image_size=8, base_channels=4, channel_mults=(1, 2),
            attn_resolutions=(8, 4), heads=2, context_dim=6)
VIDEO = dict(in_channels=1, out_channels=1, image_size=8, max_frames=4, base_channels=4, channel_mults=(1, 2),
             attn_resolutions=(4,), temporal_attn_resolutions=(8, 4), heads=2)
TEXT = dict(vocab=20, length=6, dim=16, layers=2, heads=2)


def _unet() -> Any:
    from genzoo.nn.unet import UNet

    return _randomise(UNet(**UNET), std=0.2)


def _check_unet(m: Any) -> Outputs:
    g = torch.Generator().manual_seed(0)
    x, ctx = torch.randn(2, 1, 8, 8, generator=g), torch.randn(2, 5, 6, generator=g)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    return {"out": m(x, torch.tensor([3, 40]), context=ctx, context_mask=mask),
            "no_context": m(x, torch.tensor([7, 9]))}


def _video(causal: bool) -> Callable[[], Any]:
    def build() -> Any:
        from genzoo.nn.video_unet import VideoUNet

        return _randomise(VideoUNet(**VIDEO, causal=causal), std=0.2)

    return build


def _check_video(m: Any) -> Outputs:
    x = torch.randn(2, 1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    return {"out": m(x, torch.tensor([5, 50]))}


def _text_encoder() -> Any:
    from genzoo.models.text2image.common import TextEncoder

    return _randomise(TextEncoder(**TEXT), std=0.2)


def _check_text_encoder(m: Any) -> Outputs:
    ids = _ids((2, 6), 1, 20)
    ids[1, 3:] = 0
    features, mask = m(ids)
    return {"features": features, "mask": mask}


CASES: dict[str, tuple[Callable[[], Any], Callable[[Any], Outputs], dict[str, Any] | None]] = {
    "gpt_rope": (*_gpt("rope"), None),
    "gpt_learned": (*_gpt("learned"), None),
    "char_rnn": (_char_rnn, _check_char_rnn, None),
    "seq2seq": (_seq2seq, _check_seq2seq, None),
    "bert": (_bert, _check_bert, None),
    "music_gpt": (_music_gpt, _check_music_gpt, None),
    "music_lstm": (_music_lstm, _check_music_lstm, None),
    "wavenet": (_wavenet, _check_wavenet, None),
    "vqvae": (_vqvae, _check_vqvae, None),
    "transformer_forecaster": (_forecaster, _check_forecaster, None),
    "unet": (_unet, _check_unet, UNET),
    "video_unet": (_video(False), _check_video, VIDEO),
    "video_unet_causal": (_video(True), _check_video, {**VIDEO, "causal": True}),
    "text_encoder": (_text_encoder, _check_text_encoder, TEXT),
}


def _load(name: str) -> Any:
    _, _, kwargs = CASES[name]
    directory = FIXTURES / name
    if kwargs is None:
        return gz.load(directory).eval()
    from genzoo.models.text2image.common import TextEncoder
    from genzoo.nn.unet import UNet
    from genzoo.nn.video_unet import VideoUNet

    cls = {"unet": UNet, "text_encoder": TextEncoder}.get(name, VideoUNet)
    module = cls(**json.loads((directory / "kwargs.json").read_text()))
    module.load_state_dict(load_file(directory / "weights.safetensors"))
    return module.eval()


@pytest.mark.parametrize("name", sorted(CASES))
def test_run_saved_before_loads_and_computes_the_same(name: str) -> None:
    expected = load_file(FIXTURES / name / "expected.safetensors")
    with torch.no_grad():
        got = {k: v.detach().cpu() for k, v in CASES[name][1](_load(name)).items()}
    assert set(got) == set(expected)
    for key, want in expected.items():
        if want.dtype.is_floating_point:
            torch.testing.assert_close(got[key], want, atol=2e-5, rtol=1e-4, msg=f"{name}: {key}")
        else:
            assert torch.equal(got[key], want), f"{name}: {key}\n{got[key]}\n{want}"


def write(directory: Path) -> None:
    """Save every case and its outputs (run with the older code on the path)."""
    torch.set_num_threads(1)
    for name, (build, check, kwargs) in CASES.items():
        out = directory / name
        out.mkdir(parents=True, exist_ok=True)
        module = build()
        if kwargs is None:
            gz.save(module, out)
        else:
            (out / "kwargs.json").write_text(json.dumps(kwargs))
            save_file({k: v.contiguous() for k, v in module.state_dict().items()}, out / "weights.safetensors")
        with torch.no_grad():
            outputs = {k: v.detach().cpu().contiguous() for k, v in check(module).items()}
        save_file(outputs, out / "expected.safetensors")
        print(name, {k: tuple(v.shape) for k, v in outputs.items()})


if __name__ == "__main__":
    write(Path(sys.argv[1]))
