import json

import numpy as np
from PIL import Image

import genzoo as gz
from genzoo.cli import main


def test_train_sample_eval_round_trip(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "vae", "--data", "digits", "--max-steps", "30", "--out", str(run), "--no-progress",
                 "-O", "latent_dim=4", "-O", "hidden=8"]) == 0
    assert main(["sample", str(run), "-n", "16", "-o", str(tmp_path / "g.png")]) == 0
    grid = np.asarray(Image.open(tmp_path / "g.png"))
    assert grid.ndim == 3 and grid.shape[0] > 16
    assert main(["sample", str(run), "--interpolate", "-o", str(tmp_path / "i.png")]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--metrics", "nll", "-n", "50"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["nll_nats"] > 0 and metrics["bits_per_dim"] > 0


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    cases = [
        (["train", "vaee", "--data", "digits", "--out", str(tmp_path / "x")], "unknown model 'vaee'"),
        (["train", "vae", "--data", "nodata", "--out", str(tmp_path / "x")], "unknown dataset 'nodata'"),
        (["sample", str(tmp_path / "missing")], "no saved model"),
        (["train", "vae", "--data", "digits", "--out", str(tmp_path / "x"), "-O", "bogus=1"], "unknown 'vae' option"),
        (["sample"], "the following arguments are required"),
        (["eval", str(tmp_path), "--metrics", "nll"], "is not a genzoo run"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err


def test_old_model_option_spelling_still_works_with_a_deprecation_line(tmp_path, capsys):
    argv = ["train", "vae", "--data", "digits", "--max-steps", "1", "--out", str(tmp_path / "r"), "--no-progress"]
    assert main([*argv, "-o", "latent_dim=3"]) == 0
    assert "deprecated; use -O key=value" in capsys.readouterr().err
    assert gz.load(tmp_path / "r").config.latent_dim == 3


def test_corrupt_checkpoint_through_the_cli(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "vae", "--data", "digits", "--max-steps", "2", "--out", str(run), "--no-progress"]) == 0
    (run / "model.safetensors").write_bytes(b"\x00" * 10)
    assert main(["sample", str(run)]) == 2
    assert "corrupt" in capsys.readouterr().err


def test_list_shows_models_and_datasets(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "vae" in out and "cvae" in out and "mnist5k" in out


def test_sampler_options_reach_the_model_or_fail_in_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "vae", "--data", "digits", "--max-steps", "2", "--out", str(run), "--no-progress"]) == 0
    assert main(["sample", str(run), "-n", "4", "-s", "temperature=0.5", "-o", str(tmp_path / "a.npy")]) == 0
    arr = np.load(tmp_path / "a.npy")
    assert arr.shape == (4, 1, 8, 8) and 0 <= arr.min() and arr.max() <= 1
    assert main(["sample", str(run), "-s", "steps=3"]) == 2
    assert "does not take these sampler options" in capsys.readouterr().err


def test_dataset_options_reach_the_loader(tmp_path, capsys):
    run = tmp_path / "small"
    assert main(["train", "made", "--data", "mnist5k", "-d", "size=14", "--max-steps", "2", "--out", str(run),
                 "--no-progress", "-O", "hidden=[16]"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["data_info"]["shape"] == [1, 14, 14]
    capsys.readouterr()
    assert main(["train", "made", "--data", "photos", "-d", "bogus=1", "--max-steps", "2",
                 "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not take option(s) bogus" in err[0]


def test_scalar_for_a_list_option_is_one_line(tmp_path, capsys):
    assert main(["train", "made", "--data", "digits", "--max-steps", "2", "--out", str(tmp_path / "r"),
                 "-O", "hidden=16"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "hidden=[64,64]" in err[0]
