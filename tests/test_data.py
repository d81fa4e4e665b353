import gzip
import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

import genzoo as gz
from genzoo.data import cache, image_downloads
from genzoo.errors import GenzooError


def test_mnist5k_is_a_stratified_disjoint_split():
    train, test = gz.data.load("mnist5k", split="train"), gz.data.load("mnist5k", split="test")
    assert len(train) == 4000 and len(test) == 1000
    assert torch.bincount(train.labels).tolist() == [400] * 10
    assert torch.bincount(test.labels).tolist() == [100] * 10
    assert train.info.shape == (1, 28, 28) and 0 <= float(train.images.min()) and float(train.images.max()) <= 1
    # no test image appears in train
    tr = {hash(x.numpy().tobytes()) for x in train.images}
    assert sum(hash(x.numpy().tobytes()) in tr for x in test.images) < 5  # MNIST has a few exact duplicates
    padded = gz.data.load("mnist5k", split="test", size=32)
    assert padded.info.shape == (1, 32, 32) and torch.equal(padded.images[:, :, 2:30, 2:30], test.images)


def test_small_offline_sets(digits_train):
    assert digits_train.info.shape == (1, 8, 8) and digits_train.images.max() <= 1
    faces = gz.data.load("faces", split="test")
    assert faces.info.shape == (1, 25, 25) and set(faces.labels.tolist()) == {0, 1}
    photos = gz.data.load("photos", split="test", patch=16, n=10)
    assert photos.images.shape == (10, 3, 16, 16)


def test_photos_test_patches_come_only_from_held_out_photos():
    from genzoo.data.images import photo_arrays

    train_names = {n for n, _ in photo_arrays("train")}
    test_names = {n for n, _ in photo_arrays("test")}
    assert test_names and train_names and not train_names & test_names


def test_unknown_dataset_and_split():
    with pytest.raises(GenzooError, match="unknown dataset 'mnist6k' \\(did you mean 'mnist5k'\\?\\)"):
        gz.data.load("mnist6k")
    with pytest.raises(GenzooError, match="unknown split"):
        gz.data.load("digits", split="dev")


def test_image_folder_with_classes_and_bad_files(tmp_path):
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(5):
            Image.fromarray(np.full((12, 10, 3), 40 * i, dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    ds = gz.data.load(str(tmp_path), split="all")
    assert ds.images.shape == (10, 3, 12, 10) and ds.info.classes == ["cats", "dogs"]
    (tmp_path / "dogs" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(GenzooError, match="cannot read image .*broken.png"):
        gz.data.load(str(tmp_path))


def test_npy_and_npz(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, (20, 6, 6)).astype(np.uint8)
    np.save(tmp_path / "a.npy", arr)
    ds = gz.data.load(str(tmp_path / "a.npy"), split="all")
    assert ds.images.shape == (20, 1, 6, 6) and float(ds.images.max()) <= 1.0
    np.savez(tmp_path / "b.npz", x=arr, y=np.arange(20) % 2)
    assert gz.data.load(str(tmp_path / "b.npz"), split="all").info.classes == ["0", "1"]
    np.save(tmp_path / "bad.npy", np.zeros((3, 4)))
    with pytest.raises(GenzooError, match="expected images"):
        gz.data.load(str(tmp_path / "bad.npy"))


def _write_idx(path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_parser_reads_the_real_format(tmp_path):
    imgs = np.random.default_rng(0).integers(0, 256, (7, 28, 28)).astype(np.uint8)
    _write_idx(tmp_path / "x.gz", imgs)
    assert np.array_equal(image_downloads.read_idx(tmp_path / "x.gz"), imgs)
    (tmp_path / "bad.gz").write_bytes(gzip.compress(b"\x01\x02\x03\x04junk"))
    with pytest.raises(GenzooError, match="not an IDX file"):
        image_downloads.read_idx(tmp_path / "bad.gz")


def test_mnist_loader_uses_verified_cache_and_fails_clearly_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path))
    monkeypatch.setattr(image_downloads, "_MNIST_FILES", {"mnist": (["http://127.0.0.1:9/"], {
        f"{p}-{k}-ubyte.gz": "sha256:" + "0" * 64 for p in ("train", "t10k") for k in ("images-idx3", "labels-idx1")})})
    with pytest.raises(GenzooError, match=r"could not download t10k-images-idx3-ubyte.gz .*place the file by hand"):
        gz.data.load("mnist", split="test")
    # place files by hand: they are checksum-verified and parsed
    (tmp_path / "mnist").mkdir(exist_ok=True)
    imgs, labels = np.zeros((3, 28, 28), np.uint8), np.array([1, 2, 3], np.uint8)
    _write_idx(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz", imgs)
    _write_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz", labels)
    files = {n: "sha256:" + cache.file_digest(tmp_path / "mnist" / n, "sha256")
             for n in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
    monkeypatch.setattr(image_downloads, "_MNIST_FILES", {"mnist": (["http://127.0.0.1:9/"], files)})
    ds = gz.data.load("mnist", split="test")
    assert ds.labels.tolist() == [1, 2, 3] and ds.info.shape == (1, 28, 28)
    files["t10k-images-idx3-ubyte.gz"] = "sha256:" + "0" * 64
    with pytest.raises(GenzooError, match="fails its sha256 check"):
        gz.data.load("mnist", split="test")


def test_cifar_batches_parse_and_refuse_code():
    data = np.random.default_rng(0).integers(0, 256, (4, 3072)).astype(np.uint8)
    raw = pickle.dumps({b"data": data, b"labels": [0, 1, 2, 3]})
    x, y = image_downloads.read_cifar_batch(raw)
    assert x.shape == (4, 32, 32, 3) and y.tolist() == [0, 1, 2, 3]
    assert np.array_equal(x[0, :, :, 0].reshape(-1), data[0, :1024])

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with pytest.raises(GenzooError, match="refusing to load builtins.print"):
        image_downloads.read_cifar_batch(pickle.dumps({b"data": Evil(), b"labels": []}))
