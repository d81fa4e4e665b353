"""Hugging Face interop, offline: a randomly initialised tiny GPT-2 that `transformers` writes here converts into
genzoo's `gpt` and back with equal logits, with its BPE tokenizer; `hf:` reads the local hub cache."""

from __future__ import annotations

import shutil

import pytest
import torch

import genzoo as gz
from genzoo.errors import GenzooError

transformers = pytest.importorskip("transformers", reason="transformers is not installed (pip install genzoo[hf])")

TEXT = "the quick brown fox jumps over the lazy dog. def f(x): return x + 1\n" * 20


def tiny_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([TEXT], trainer=trainer)
    return transformers.GPT2TokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>",
                                          bos_token="<|endoftext|>", unk_token="<|endoftext|>")


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory):
    """A GPT-2 folder as `save_pretrained` writes it; biases randomised so that they count."""
    torch.manual_seed(0)
    tokenizer = tiny_tokenizer()
    eos = tokenizer.eos_token_id
    config = transformers.GPT2Config(vocab_size=len(tokenizer), n_positions=24, n_embd=32, n_layer=2, n_head=2,
                                     bos_token_id=eos, eos_token_id=eos)
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
    folder = tmp_path_factory.mktemp("gpt2")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, model, tokenizer


def hf_logits(model, ids):
    with torch.no_grad():
        return model(ids).logits


def gz_logits(model, ids):
    with torch.no_grad():
        return model.forward_tokens(ids)


def test_transformers_gpt2_loads_with_equal_logits(gpt2_folder):
    folder, reference, tokenizer = gpt2_folder
    model = gz.load(str(folder))
    assert model.model_name == "gpt" and model.config.activation == "gelu_tanh"
    ids = torch.randint(0, reference.config.vocab_size, (3, 24))
    diff = (gz_logits(model, ids) - hf_logits(reference, ids)).abs().max().item()
    assert diff < 1e-5, diff
    text = "the lazy fox: return x"
    assert model.tokenizer.encode(text) == tokenizer.encode(text)
    assert model.tokenizer.decode(tokenizer.encode(text)) == text
    assert isinstance(model.generate_text("the quick", max_new_tokens=5, do_sample=False), str)


def test_genzoo_gpt_saves_a_folder_transformers_loads(tmp_path):
    from genzoo.data.tokenizers import BPETokenizer

    torch.manual_seed(1)
    tok = BPETokenizer.train(TEXT, vocab_size=300)
    model = gz.create("gpt", vocab_size=tok.vocab_size, tokenizer=tok.to_json(), context_length=16, n_layer=2,
                      d_model=32, n_head=2, positions="learned").eval()  # no biases, erf GELU: still GPT-2
    gz.save(model, str(tmp_path / "hf"), format="hf")
    reference = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    ids = torch.randint(0, tok.vocab_size, (2, 16))
    assert (gz_logits(model, ids) - hf_logits(reference, ids)).abs().max().item() < 1e-5
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert hf_tok.encode("def f(x)") == tok.encode("def f(x)")
    back = gz.load(str(tmp_path / "hf"))  # and round again: genzoo -> transformers -> genzoo
    assert (gz_logits(back, ids) - gz_logits(model, ids)).abs().max().item() < 1e-5


def test_what_has_no_gpt2_form_is_refused(gpt2_folder, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(gpt2_folder[0] / name, bare / name)
    with pytest.raises(GenzooError, match="has no tokenizer"):
        gz.load(str(bare))
    rope = gz.create("gpt", context_length=16, n_layer=1, d_model=32, n_head=2)
    with pytest.raises(GenzooError, match="rotary"):
        gz.save(rope, str(tmp_path / "x"), format="hf")
    with pytest.raises(GenzooError, match="format must be"):
        gz.save(rope, str(tmp_path / "y"), format="onnx")
    byte_level = gz.create("gpt", context_length=16, n_layer=1, d_model=32, n_head=2, positions="learned")
    gz.save(byte_level, str(tmp_path / "bytes"), format="hf")  # a char tokenizer rides along in config.json
    assert gz.load(str(tmp_path / "bytes")).tokenizer.encode("hé") == byte_level.tokenizer.encode("hé")


def test_hf_ids_come_from_the_local_cache_offline(gpt2_folder, tmp_path, monkeypatch):
    """`hf:owner/name` with HF_HUB_OFFLINE=1 reads huggingface_hub's cache layout; a miss is one line."""
    import huggingface_hub.constants

    folder, reference, _ = gpt2_folder
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--someone--tiny-gpt2"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(folder, repo / "snapshots" / commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = gz.load("hf:someone/tiny-gpt2")
    ids = torch.randint(0, reference.config.vocab_size, (1, 10))
    assert (gz_logits(model, ids) - hf_logits(reference, ids)).abs().max().item() < 1e-5
    with pytest.raises(GenzooError, match="not in the local Hugging Face cache"):
        gz.load("hf:someone/not-cached")


def test_push_to_hub_uploads_a_loadable_folder(monkeypatch, tmp_path):
    import huggingface_hub

    uploaded = {}

    class FakeApi:
        def create_repo(self, repo, private=False, exist_ok=False):
            uploaded["repo"] = repo

        def upload_folder(self, repo_id, folder_path):
            shutil.copytree(folder_path, tmp_path / "pushed")
            return f"https://huggingface.co/{repo_id}/commit/1"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    model = gz.create("gpt", context_length=16, n_layer=1, d_model=32, n_head=2)
    assert gz.push_to_hub(model, "me/tiny").endswith("/commit/1") and uploaded["repo"] == "me/tiny"
    assert gz.load(str(tmp_path / "pushed")).config.d_model == 32
