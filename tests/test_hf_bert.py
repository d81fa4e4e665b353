"""BERT interop, offline: a randomly initialised tiny `BertForMaskedLM` that `transformers` writes here converts
into genzoo's `bert` (post-norm, embedding LayerNorm, segments, biases, the MLM transform) and back with equal
logits, with its WordPiece tokenizer; a genzoo bert built BERT-style saves a folder `transformers` loads."""

from __future__ import annotations

import shutil

import pytest
import torch

import genzoo as gz
from genzoo.errors import GenzooError

transformers = pytest.importorskip("transformers", reason="transformers is not installed (pip install genzoo[hf])")

WORDS = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "def",
    "return",
    "##s",
    "##ed",
    "x",
    "f",
    "(",
    ")",
    ":",
    "+",
    "1",
    ".",
    *"abcdefghijklmnopqrstuvwxyz",
]
BERT_STYLE = {
    "post_norm": True,
    "embed_norm": True,
    "type_vocab_size": 2,
    "bias": True,
    "norm_eps": 1e-12,
    "mlm_transform": True,
}


def tiny_tokenizer(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(WORDS) + "\n")
    return transformers.BertTokenizer(vocab_file=str(vocab))


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory):
    """A BertForMaskedLM folder as `save_pretrained` writes it; biases and norms randomised so that they count."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("bert")
    tokenizer = tiny_tokenizer(tmp_path_factory.mktemp("vocab"))
    config = transformers.BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=24,
    )
    model = transformers.BertForMaskedLM(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name:
                p.add_(0.1 * torch.randn_like(p))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, model, tokenizer


def random_ids(vocab_size: int, shape: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token ids with padding at the end of the second row, their attention mask and random segments."""
    ids = torch.randint(1, vocab_size, shape)
    ids[1, -5:] = 0
    return ids, (ids != 0).long(), torch.randint(0, 2, shape)


def hf_logits(model, ids, mask, types):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits


def gz_logits(model, ids, types):
    with torch.no_grad():
        return model.mlm_logits(model.encode(ids, token_types=types))


def max_diff(a, b, mask):
    """Largest difference over the positions that are not padding (padding's outputs are nobody's business)."""
    return (a - b).abs()[mask.bool()].max().item()


def test_transformers_bert_loads_with_equal_logits(bert_folder):
    folder, reference, tokenizer = bert_folder
    model = gz.load(str(folder))
    c = model.config
    assert model.model_name == "bert" and c.post_norm and c.mlm_transform and c.norm_eps == 1e-12
    assert c.mask_id == tokenizer.mask_token_id and c.pad_id == tokenizer.pad_token_id
    ids, mask, types = random_ids(reference.config.vocab_size, (3, 24))
    diff = max_diff(gz_logits(model, ids, types), hf_logits(reference, ids, mask, types), mask)
    assert diff < 1e-5, diff
    text = "the quick fox jumped over the lazy dogs"
    assert model.tokenizer.encode(text) == tokenizer.encode(text, add_special_tokens=False)
    assert isinstance(model.fill_mask("the quick <mask> fox"), str)


def test_a_bert_model_folder_gives_the_same_encoder(bert_folder, tmp_path):
    folder, reference, _ = bert_folder
    encoder = transformers.BertModel(reference.config).eval()
    encoder.load_state_dict(reference.bert.state_dict(), strict=False)  # the MLM's encoder, with a pooler
    encoder.save_pretrained(tmp_path / "encoder")
    shutil.copy(folder / "tokenizer.json", tmp_path / "encoder" / "tokenizer.json")
    model = gz.load(str(tmp_path / "encoder"))
    assert not model.config.mlm_transform
    ids, mask, types = random_ids(reference.config.vocab_size, (2, 16))
    with torch.no_grad():
        want = encoder(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
        diff = max_diff(model.encode(ids, token_types=types), want, mask)
    assert diff < 1e-5, diff
    gz.save(model, str(tmp_path / "back"), format="hf")  # and back, as a BertModel
    again = transformers.AutoModel.from_pretrained(tmp_path / "back").eval()
    with torch.no_grad():
        got = again(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
    assert type(again).__name__ == "BertModel" and max_diff(got, want, mask) < 1e-5


def test_genzoo_bert_saves_a_folder_transformers_loads(bert_folder, tmp_path):
    folder, reference, tokenizer = bert_folder
    torch.manual_seed(1)
    native = gz.create(
        "bert", vocab_size=len(tokenizer), max_len=24, n_layer=2, d_model=32, n_head=2, **BERT_STYLE
    ).eval()
    with torch.no_grad():  # biases that are not zero, so that a dropped one shows
        for name, p in native.named_parameters():
            if name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    gz.save(native, str(tmp_path / "hf"), format="hf")
    loaded = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "hf").eval()
    ids, mask, types = random_ids(len(tokenizer), (2, 24))
    assert max_diff(gz_logits(native, ids, types), hf_logits(loaded, ids, mask, types), mask) < 1e-5
    # a converted checkpoint round-trips: transformers -> genzoo -> transformers, with its tokenizer
    gz.save(gz.load(str(folder)), str(tmp_path / "round"), format="hf")
    again = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "round").eval()
    assert max_diff(hf_logits(again, ids, mask, types), hf_logits(reference, ids, mask, types), mask) < 1e-5
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "round")
    assert hf_tok.mask_token == "[MASK]" and hf_tok.encode("the fox", add_special_tokens=False) == tokenizer.encode(
        "the fox", add_special_tokens=False
    )


def test_bias_free_bert_without_segments_writes_zeros(tmp_path):
    """A genzoo bert without biases or segment embeddings is still BERT: zero biases, one zero segment row."""
    torch.manual_seed(2)
    model = gz.create(
        "bert", max_len=16, n_layer=1, d_model=32, n_head=2, post_norm=True, embed_norm=True, mlm_transform=True
    ).eval()
    gz.save(model, str(tmp_path / "hf"), format="hf")
    loaded = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "hf").eval()
    ids = torch.randint(5, model.config.vocab_size, (2, 16))
    mask = torch.ones_like(ids)
    with torch.no_grad():
        got = loaded(input_ids=ids, attention_mask=mask).logits
    assert max_diff(gz_logits(model, ids, None), got, mask) < 1e-5
    assert gz.load(str(tmp_path / "hf")).tokenizer.encode("hé") == model.tokenizer.encode("hé")


def test_what_has_no_bert_form_is_refused(bert_folder, tmp_path):
    pre_norm = gz.create("bert", max_len=16, n_layer=1, d_model=32, n_head=2)
    with pytest.raises(GenzooError, match="pre-norm"):
        gz.save(pre_norm, str(tmp_path / "x"), format="hf")
    with pytest.raises(GenzooError, match="has no transformers form"):
        seq2seq = gz.create("seq2seq", enc_layers=1, dec_layers=1, d_model=32, n_head=2)
        gz.save(seq2seq, str(tmp_path / "y"), format="hf")
    odd = tmp_path / "odd"
    shutil.copytree(bert_folder[0], odd)
    import json

    cfg = json.loads((odd / "config.json").read_text())
    (odd / "config.json").write_text(json.dumps({**cfg, "position_embedding_type": "relative_key"}))
    with pytest.raises(GenzooError, match="relative_key"):
        gz.load(str(odd))
    (odd / "config.json").write_text(json.dumps(cfg))
    (odd / "model.safetensors").unlink()
    with pytest.raises(GenzooError, match="has no model.safetensors"):
        gz.load(str(odd))
