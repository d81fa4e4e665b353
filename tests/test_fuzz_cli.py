"""Every verb, fed bad values, bad files and bad paths, answers in one line with exit 2 and damages nothing.

The table below holds, for every verb the CLI registers, a base command line; bad values for each of its
numeric options are generated from the ranges in `genzoo.cli_ranges`, and hand-written cases add what a
range cannot say (an unconditional run asked for --label 99, a GPU that is not there, a checkpoint from
another model). Each case runs in-process through `genzoo.cli.main` and must exit 2 with exactly one line on
stderr, no traceback, and a guard run directory beside it unchanged byte for byte. A verb added without a
row here fails `test_every_verb_has_cases`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from genzoo.cli import build_parser, main
from genzoo.cli_ranges import range_of

# -- the verbs: a base command line each ({run}: the guard run, {tmp}: a scratch folder, {f}: bad files) ----
BASE: dict[str, list[str]] = {
    "list": [],
    "train": ["vae", "--data", "digits", "--out", "{tmp}/new", "--max-steps", "2", "--no-progress"],
    "sample": ["{run}", "-o", "{tmp}/s.png"],
    "eval": ["{run}", "--metrics", "nll", "-n", "10"],
    "demo": ["--out", "{tmp}/demo", "--steps", "2"],
    "animate": ["{run}", "-o", "{tmp}/c.gif"],
    "anomaly fit": ["{tmp}/afit", "--no-progress"],
    "anomaly score": ["{run}"],
    "augment": ["--data", "digits", "--steps", "1", "--seeds", "1"],
    "compress": ["{run}", "{f}/ok.png", "-o", "{tmp}/x.gzc"],
    "decompress": ["{run}", "{f}/garbage.gzc", "-o", "{tmp}/x.png"],
    "forecast train": ["--data", "airpassengers", "--out", "{tmp}/fc", "--steps", "2", "--no-progress"],
    "forecast predict": ["{run}", "--horizon", "4", "-o", "{tmp}/fc"],
    "forecast backtest": ["--data", "airpassengers", "--horizon", "4", "--steps", "1", "--folds", "1"],
    "imagine": ["{run}", "a 3", "-o", "{tmp}/i.png"],
    "img2img": ["{run}", "--image", "{f}/ok.png", "-o", "{tmp}/t.png"],
    "inpaint": ["{run}", "--image", "{f}/ok.png", "--mask", "{f}/ok.png", "-o", "{tmp}/p.png"],
    "generate": ["{run}", "--prompt", "hello"],
    "chat": ["{run}"],
    "translate": ["{run}", "hello"],
    "summarize": ["{run}", "hello"],
    "answer": ["{run}", "--question", "why?", "--context", "because"],
    "morph": ["{run}", "--a", "0", "--b", "1", "-o", "{tmp}/m.png"],
    "edit": ["{run}", "--image", "0", "--attribute", "thick", "-o", "{tmp}/e.png"],
    "neighbours": ["{run}", "--image", "0", "-o", "{tmp}/n.png"],
    "compose": ["{run}", "-o", "{tmp}/c.mid"],
    "semisup": ["--data", "digits", "--steps", "1", "--seeds", "1"],
    "speak": ["{run}", "one two", "-o", "{tmp}/s.wav"],
    "stylize": ["--content", "{f}/ok.png", "--style", "{f}/ok.png", "--steps", "1", "-o", "{tmp}/st.png"],
    "stylize-video": ["--input", "{f}/ok.png", "--run", "{run}", "-o", "{tmp}/v.gif"],
    "train-style": ["--style", "{f}/ok.png", "--out", "{tmp}/ts", "--max-steps", "1", "--no-progress"],
    "upscale": ["{run}", "--image", "{f}/ok.png", "-o", "{tmp}/u.png"],
    "export": ["{run}", "-o", "{tmp}/m.onnx"],
    "serve": ["{run}", "--port", "0"],
}

# -- what a range cannot say, verb by verb (every verb has at least one) ---------------------------------------
SEMANTIC: list[tuple[str, list[str]]] = [
    ("list", ["unexpected-argument"]),
    ("train", ["--batch-size", "0"]), ("train", ["--devices", "abc"]), ("train", ["--devices", "0"]),
    ("train", ["--accelerator", "gpu"] if not torch.cuda.is_available() else ["--accelerator", "banana"]),
    ("train", ["--accelerator", "banana"]), ("train", ["--precision", "banana"]), ("train", ["--seed", "-5"]),
    ("train", ["--num-nodes", "0"]), ("train", ["--max-epochs", "-1"]), ("train", ["--lr", "inf"]),
    ("train", ["--lr", "0"]), ("train", ["--sample-every", "0"]), ("train", ["--ema", "1.5"]),
    ("train", ["--strategy", "banana"]),
    ("train", ["-O", "hidden=-4"]), ("train", ["-o", "hidden=-4"]), ("train", ["-O", "latent_dim=[1,2]"]),
    ("train", ["-O", "latent_dim=2.5"]), ("train", ["-O", "latent_dim=abc"]), ("train", ["-O", "beta=nan"]),
    ("train", ["-O", "beta=-1"]), ("train", ["-O", "hidden=1000000000"]), ("train", ["-O", "latent_dim=1000000000"]),
    ("train", ["-O", "image_shape=[1,8]"]), ("train", ["-O", "bogus=1"]), ("train", ["-O", "nokeyvalue"]),
    ("train", ["-O", "hidden=" + "[" * 5000 + "]" * 5000]),
    ("train", ["-d", "size=100000"]), ("train", ["-d", "bogus=1"]),
    ("train", ["--model-that-is-not", "x"]),
    ("sample", ["--label", "99"]), ("sample", ["--label", "3"]), ("sample", ["-s", "steps=3"]),
    ("sample", ["-s", "temperature"]), ("sample", ["-o", "{tmp}/s.xyz"]), ("sample", ["-o", "{tmp}/noext"]),
    ("sample", ["-o", "{tmp}"]), ("sample", ["-o", "{f}/ok.png/inside.png"]), ("sample", ["-o", "{run}/config.json"]),
    ("sample", ["-o", "{run}/model.safetensors"]),
    ("eval", ["--metrics", "nosuchmetric"]), ("eval", ["--data", "nodata"]), ("eval", ["--data", "{f}/string.npy"]),
    ("demo", ["--out", "{f}/ok.png"]),
    ("animate", ["--first-frames", "{f}/missing.gif"]),
    ("anomaly fit", ["--model", "nosuchmodel"]), ("anomaly fit", ["--fpr", "0"]),
    ("anomaly score", ["--input", "{f}/string.npy"]), ("anomaly score", ["--input", "{f}/huge_header.npy"]),
    ("augment", ["--generator", "{f}/missing"]), ("augment", ["--json", "{f}/ok.png/x.json"]),
    ("compress", ["--output", "{tmp}"]), ("compress", ["{f}/garbage.png"]),
    ("decompress", ["{f}/empty.png"]),
    ("forecast train", ["--data", "nosuchseries"]), ("forecast train", ["--out", "{f}/ok.png"]),
    ("forecast predict", ["--horizon", "0"]),
    ("forecast backtest", ["--csv", "{f}/missing.csv"]),
    ("imagine", ["--top-p", "2"]),
    ("img2img", ["--image", "{f}/missing.png"]),
    ("inpaint", ["--mask", "{f}/garbage.png"]), ("inpaint", ["--image", "{f}/string.npy"]),
    ("generate", ["--top-p", "1.5"]),
    ("chat", ["--temperature", "0"]),
    ("translate", ["--file", "{f}/missing.txt"]),
    ("summarize", ["--file", "{f}/binary.txt"]),
    ("answer", ["--context-file", "{f}/missing.txt"]),
    ("morph", ["--steps", "0"]), ("morph", ["--a", "99999999"]), ("morph", ["--a", "{f}/garbage.png"]),
    ("edit", ["--attribute", "nosuchattribute"]), ("edit", ["--image", "{f}/dir.png"]),
    ("neighbours", ["-k", "-2"]), ("neighbours", ["--image", "{f}/empty.png"]),
    ("compose", ["--prime", "{f}/garbage.mid"]),
    ("semisup", ["--data", "nodata"]),
    ("speak", ["--voice", "nobody"]),
    ("stylize", ["--size", "-3"]), ("stylize", ["--content", "{f}/garbage.png"]),
    ("stylize", ["--style-weights", "1", "nan"]), ("stylize", ["--method", "fast"]),
    ("stylize-video", ["--input", "{f}/missing.gif"]),
    ("train-style", ["--style", "{f}/empty.png"]), ("train-style", ["--out", "{f}/ok.png"]),
    ("upscale", ["--image", "{f}/zero.npy"]),
    ("export", ["--forward", "logits"]), ("export", ["--format", "pickle"]),
    ("serve", ["{f}/missing"]),
]

# -- bad data files for `train --data` -----------------------------------------------------------------------
DATA_FILES = ["zero.npy", "string.npy", "object.npy", "empty_array.npy", "huge_header.npy", "junk.npy",
              "empty.npz", "corrupt.npz", "nan.npy", "wrong_ndim.npy", "missing.npy", "dir.png", "ok.png"]

# -- broken copies of the guard run, for every verb that reads a run ------------------------------------------
RUN_DAMAGE = ["missing", "a_file", "empty_dir", "config_not_json", "config_deeply_nested", "config_foreign",
              "config_unknown_model", "config_model_is_list", "config_huge_latent", "config_negative_size",
              "config_float_size", "config_string_size", "config_bad_data_info", "weights_missing",
              "weights_zero_bytes", "weights_missing_tensor", "weights_extra_tensor", "weights_int64",
              "weights_wrong_shape", "config_is_a_directory"]

# -- damaged checkpoints and reused run directories for `train --out` ----------------------------------------
CKPT_DAMAGE = ["ckpt_garbage", "ckpt_bad_metadata", "ckpt_missing_tensor", "ckpt_wrong_shape", "ckpt_int64",
               "ckpt_no_state_dict", "ckpt_is_a_directory", "checkpoints_symlink_out", "other_model",
               "other_options", "other_dataset", "out_is_a_file"]


# -- fixtures ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The guard run (a tiny VAE, two steps, with its checkpoint) and a folder of bad files."""
    root = tmp_path_factory.mktemp("fuzz")
    run = root / "guard"
    assert main(["train", "vae", "--data", "digits", "--max-steps", "2", "--out", str(run), "--no-progress",
                 "-O", "latent_dim=4", "-O", "hidden=8"]) == 0
    f = root / "files"
    f.mkdir()
    from PIL import Image

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(f / "ok.png")
    (f / "empty.png").write_bytes(b"")
    (f / "garbage.png").write_bytes(b"\x89PNG not really" * 10)
    (f / "garbage.gzc").write_bytes(b"not a gzc file")
    (f / "garbage.mid").write_bytes(b"MThd garbage")
    (f / "dir.png").mkdir()
    (f / "binary.txt").write_bytes(b"\xff\xfe\x00\x81" * 10)
    (f / "zero.npy").write_bytes(b"")
    np.save(f / "string.npy", np.array(["a", "b"]))
    np.save(f / "object.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.save(f / "empty_array.npy", np.zeros((0, 8, 8), np.float32))
    np.save(f / "nan.npy", np.full((6, 8, 8), np.nan, np.float32))
    np.save(f / "wrong_ndim.npy", np.zeros((6,), np.float32))
    with open(f / "huge_header.npy", "wb") as fh:  # a header that claims 23 TiB, 100 bytes of data
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (6_000_000, 1_000_000)})
        fh.write(b"\0" * 100)
    (f / "junk.npy").write_bytes(b"\x93NUMPY garbage")
    import zipfile

    zipfile.ZipFile(f / "empty.npz", "w").close()
    (f / "corrupt.npz").write_bytes(b"PK\x03\x04" + b"\0" * 50)
    return {"root": root, "run": run, "files": f, "guard_hash": _tree_hash(run)}


def _tree_hash(path: Path) -> str:
    """Every file's path and bytes under `path` (symlinks by target), in one digest."""
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        h.update(str(p.relative_to(path)).encode())
        if p.is_symlink():
            h.update(os.readlink(p).encode())
        elif p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def _expand(argv: list[str], world: dict[str, Path], tmp: Path, run: Path | None = None) -> list[str]:
    ctx = {"run": str(run or world["run"]), "tmp": str(tmp), "f": str(world["files"])}
    return [a.format(**ctx) if "{" in a and not a.startswith("[") else a for a in argv]


def _refused(argv: list[str], world: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp: Path,
             *also_unchanged: Path) -> str:
    """Run `argv`; assert exit 2, one stderr line, no traceback, the guard (and `also_unchanged`) intact."""
    before = [_tree_hash(p) for p in also_unchanged]
    cwd = os.getcwd()
    os.chdir(tmp)  # nothing a case writes by default lands in the repository
    try:
        code = main(argv)
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, f"{argv}: exit {code}, stderr: {err[-2000:]}"
    assert len(lines) == 1 and lines[0].startswith("genzoo: error: "), f"{argv}: {err[-2000:]}"
    assert "Traceback" not in err
    assert _tree_hash(world["run"]) == world["guard_hash"], f"{argv} changed the guard run"
    for p, h in zip(also_unchanged, before):
        assert _tree_hash(p) == h, f"{argv} changed {p}"
    return lines[0]


# -- the cases -----------------------------------------------------------------------------------------------
def _verbs() -> dict[str, argparse.ArgumentParser]:
    out: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            out[" ".join(path)] = parser
        for a in subs:
            for name, sp in a.choices.items():
                walk(sp, [*path, name])

    walk(build_parser(), [])
    return out


VERBS = _verbs()


def _bad_numbers() -> list[tuple[str, str, str]]:
    """(verb, option, bad value) for every numeric option of every verb: not a number, out of range, NaN."""
    cases = []
    for verb, parser in VERBS.items():
        for action in parser._actions:
            kind = getattr(action.type, "kind", None)
            if kind is None:
                continue
            flag = action.option_strings[-1]
            rule = range_of(parser.prog, action.dest)
            bad = ["abc", "nan", "inf"] if kind is float else ["abc", "1.5", "99999999999999999999"]
            if rule.lo is not None:
                bad.append(str(rule.lo if rule.lo_open else (rule.lo - 1 if kind is int else rule.lo - 0.5)))
            if rule.hi is not None:
                bad.append(str(rule.hi * 10 + 1 if kind is int else rule.hi + 0.5))
            cases += [(verb, flag, v) for v in dict.fromkeys(bad)]
    return cases


def test_every_verb_has_cases():
    assert set(VERBS) == set(BASE), f"verbs without a row in BASE: {sorted(set(VERBS) - set(BASE))}"
    assert set(VERBS) == {v for v, _ in SEMANTIC}, sorted(set(VERBS) - {v for v, _ in SEMANTIC})


@pytest.mark.parametrize(("verb", "flag", "value"), _bad_numbers(), ids=lambda x: str(x)[:40])
def test_bad_numbers_are_one_line(world, capsys, tmp_path, verb, flag, value):
    argv = [*verb.split(), *_expand(BASE[verb], world, tmp_path), flag, value]
    line = _refused(argv, world, capsys, tmp_path)
    assert flag in line or "argument" in line


@pytest.mark.parametrize(("verb", "extra"), SEMANTIC, ids=lambda x: " ".join(x) if isinstance(x, list) else x)
def test_bad_use_of_each_verb_is_one_line(world, capsys, tmp_path, verb, extra):
    _refused([*verb.split(), *_expand(BASE[verb], world, tmp_path), *_expand(extra, world, tmp_path)],
             world, capsys, tmp_path)


@pytest.mark.parametrize("name", DATA_FILES)
def test_bad_data_files_are_one_line(world, capsys, tmp_path, name):
    argv = ["train", "vae", "--data", str(world["files"] / name), "--out", str(tmp_path / "r"), "--max-steps",
            "1", "--no-progress", "-O", "hidden=1000000000"]
    if name == "ok.png":  # a single image file is not a dataset
        argv = argv[:-2]
    line = _refused(argv, world, capsys, tmp_path)
    if name.endswith(".npy") and name != "missing.npy":
        assert name in line


def _damage(run: Path, how: str) -> None:
    """Break a copy of the guard run the way `how` says."""
    cfg, weights = run / "config.json", run / "model.safetensors"
    meta = json.loads(cfg.read_text())

    def config(**changes: object) -> None:
        meta["config"].update(changes)
        cfg.write_text(json.dumps(meta))

    def tensors(change: object) -> None:
        t = load_file(weights)
        change(t)  # type: ignore[operator]
        save_file(t, weights)

    if how == "missing":
        shutil.rmtree(run)
    elif how == "a_file":
        shutil.rmtree(run)
        run.write_text("hello")
    elif how == "empty_dir":
        shutil.rmtree(run)
        run.mkdir()
    elif how == "config_not_json":
        cfg.write_text("{not json")
    elif how == "config_deeply_nested":
        cfg.write_text("[" * 100_000 + "]" * 100_000)
    elif how == "config_foreign":
        cfg.write_text(json.dumps({"hello": "world"}))
    elif how == "config_unknown_model":
        cfg.write_text(json.dumps({**meta, "model": "nosuchmodel"}))
    elif how == "config_model_is_list":
        cfg.write_text(json.dumps({**meta, "model": ["vae"]}))
    elif how == "config_huge_latent":
        config(latent_dim=10**9)
    elif how == "config_negative_size":
        config(hidden=-4)
    elif how == "config_float_size":
        config(latent_dim=2.5)
    elif how == "config_string_size":
        config(latent_dim="big")
    elif how == "config_bad_data_info":
        cfg.write_text(json.dumps({**meta, "data_info": {"nope": 1}}))
    elif how == "config_is_a_directory":
        cfg.unlink()
        cfg.mkdir()
    elif how == "weights_missing":
        weights.unlink()
    elif how == "weights_zero_bytes":
        weights.write_bytes(b"")
    elif how == "weights_missing_tensor":
        tensors(lambda t: t.pop(sorted(t)[0]))
    elif how == "weights_extra_tensor":
        tensors(lambda t: t.update(extra=torch.zeros(3)))
    elif how == "weights_int64":
        tensors(lambda t: t.update({k: t[k].long() for k in list(t)[:1]}))
    elif how == "weights_wrong_shape":
        tensors(lambda t: t.update({k: torch.zeros(*t[k].shape, 2) for k in list(t)[:1]}))
    else:
        raise AssertionError(how)


RUN_VERBS = [v for v, argv in BASE.items() if argv[:1] == ["{run}"]]


@pytest.mark.parametrize("how", RUN_DAMAGE)
def test_damaged_runs_are_one_line_for_sample(world, capsys, tmp_path, how):
    run = tmp_path / "run"
    shutil.copytree(world["run"], run)
    _damage(run, how)
    exists = run.exists()
    _refused(["sample", str(run), "-o", str(tmp_path / "s.png")], world, capsys, tmp_path,
             *([run] if exists else []))


@pytest.mark.parametrize("verb", RUN_VERBS)
@pytest.mark.parametrize("how", ["config_huge_latent", "weights_int64", "config_deeply_nested"])
def test_damaged_runs_are_one_line_for_every_verb_that_reads_one(world, capsys, tmp_path, verb, how):
    run = tmp_path / "run"
    shutil.copytree(world["run"], run)
    _damage(run, how)
    _refused([*verb.split(), *_expand(BASE[verb], world, tmp_path, run=run)], world, capsys, tmp_path, run)


def _damage_checkpoint(run: Path, how: str, outside: Path) -> list[str]:
    """Break a copy of the guard run's training state; returns the extra train arguments the case needs."""
    from safetensors import safe_open

    ckpt = run / "checkpoints" / "last.ckpt"

    def rewrite(change_meta: object = None, change_tensors: object = None) -> None:
        with safe_open(str(ckpt), framework="pt") as f:
            meta = dict(f.metadata())
            t = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        if change_meta:
            meta["genzoo_checkpoint"] = change_meta(meta["genzoo_checkpoint"])  # type: ignore[operator]
        if change_tensors:
            change_tensors(t)  # type: ignore[operator]
        save_file(t, ckpt, metadata=meta)

    with safe_open(str(ckpt), framework="pt") as f:
        skeleton = json.loads(f.metadata()["genzoo_checkpoint"])
    state_dict = dict(dict(skeleton["__dict__"])["state_dict"]["__dict__"])
    key = next(iter(state_dict.values()))["__tensor__"]  # the tensor of the model's first weight
    if how == "ckpt_garbage":
        ckpt.write_bytes(b"\x80\x04 not a checkpoint")
    elif how == "ckpt_bad_metadata":
        rewrite(change_meta=lambda m: m[: len(m) // 2])
    elif how == "ckpt_missing_tensor":
        rewrite(change_tensors=lambda t: t.pop(key))
    elif how == "ckpt_wrong_shape":
        rewrite(change_tensors=lambda t: t.update({key: torch.zeros(*t[key].shape, 2)}))
    elif how == "ckpt_int64":
        rewrite(change_tensors=lambda t: t.update({key: t[key].long()}))
    elif how == "ckpt_no_state_dict":
        rewrite(change_meta=lambda m: json.dumps({"__dict__": [["global_step", 2]]}))
    elif how == "ckpt_is_a_directory":
        ckpt.unlink()
        ckpt.mkdir()
    elif how == "checkpoints_symlink_out":
        shutil.rmtree(run / "checkpoints")
        (run / "checkpoints").symlink_to(outside, target_is_directory=True)
    elif how == "other_model":
        return ["--model-swap", "made"]
    elif how == "other_options":
        return ["-O", "latent_dim=5"]
    elif how == "other_dataset":
        return ["--data-swap", str(run.parent / "files8.npy")]
    elif how == "out_is_a_file":
        shutil.rmtree(run)
        run.write_text("a file")
    else:
        raise AssertionError(how)
    return []


@pytest.mark.parametrize("how", CKPT_DAMAGE)
def test_damaged_or_other_run_directories_are_refused_by_train(world, capsys, tmp_path, how):
    run, outside = tmp_path / "run", tmp_path / "outside"
    shutil.copytree(world["run"], run)
    outside.mkdir()
    np.save(tmp_path / "files8.npy", np.random.rand(20, 8, 8).astype(np.float32))
    extra = _damage_checkpoint(run, how, outside)
    model, data = "vae", "digits"
    if extra[:1] == ["--model-swap"]:
        model, extra = extra[1], []
    if extra[:1] == ["--data-swap"]:
        data, extra = extra[1], []
    argv = ["train", model, "--data", data, "--out", str(run), "--max-steps", "4", "--no-progress",
            "-O", "latent_dim=4", "-O", "hidden=8", *extra]
    if model == "made":
        argv = argv[:-4] + ["-O", "hidden=[8]"]
    line = _refused(argv, world, capsys, tmp_path, run, outside)
    if how.startswith("other_"):
        assert "holds another run" in line


def test_a_killed_write_leaves_no_temp_file_behind_on_resume(world, capsys, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(world["run"], run)
    stale = [run / ".model.safetensors.abc123.tmp", run / "checkpoints" / ".last.ckpt.def456.tmp"]
    for p in stale:
        p.write_bytes(b"half a file")
    assert main(["train", "vae", "--data", "digits", "--out", str(run), "--max-steps", "3", "--no-progress",
                 "-O", "latent_dim=4", "-O", "hidden=8"]) == 0
    assert not any(p.exists() for p in stale)
    assert not list(run.rglob("*.tmp"))


def test_an_internal_error_is_one_line_with_exit_1(world, capsys, monkeypatch):
    import genzoo.cli as cli

    def boom(args: argparse.Namespace) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "cmd_list", boom)
    assert main(["list"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "GENZOO_DEBUG=1" in lines[0] and "ZeroDivisionError" in lines[0]


def test_read_only_output_directory_is_one_line(world, capsys, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only directories")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        _refused(["sample", str(world["run"]), "-o", str(ro / "s.png")], world, capsys, tmp_path)
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize(("options", "message"), [
    ({"hidden": -4}, "hidden must be at least 1"), ({"latent_dim": 2.5}, "latent_dim expects a whole number"),
    ({"beta": float("nan")}, "beta must be a finite number"), ({"latent_dim": 10**9}, "GENZOO_ALLOW_LARGE"),
])
def test_the_python_api_refuses_the_same_configs(digits_train, options, message):
    import genzoo as gz
    from genzoo.errors import GenzooError

    with pytest.raises(GenzooError, match=message):
        gz.create("vae", data=digits_train, **options)


@pytest.mark.parametrize(("options", "message"), [
    ({"lr": float("inf")}, "lr must be positive and finite"), ({"batch_size": 0}, "batch_size must be at least 1"),
    ({"seed": -5}, "seed must be"), ({"precision": "banana"}, "unknown precision"),
    ({"devices": "abc"}, "devices must be"), ({"sample_every": 0}, "sample_every must be at least 1"),
    ({"max_epochs": -1}, "max_epochs must be at least 1"), ({"num_nodes": 0}, "num_nodes must be at least 1"),
])
def test_fit_refuses_the_same_options(digits_train, options, message):
    import genzoo as gz
    from genzoo.errors import GenzooError

    model = gz.create("vae", data=digits_train, latent_dim=4, hidden=8)
    with pytest.raises(GenzooError, match=message):
        gz.fit(model, digits_train, **{"max_steps": 1, **options})
