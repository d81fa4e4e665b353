"""Download loaders for the standard image sets: real URLs, checksums, a cache, a clear offline error.

Files are fetched into the cache by `genzoo.data.cache.fetch`; checksums are the ones the datasets'
maintainers and torchvision publish (md5).
"""

from __future__ import annotations

import gzip
import pickle  # noqa: S403 - only through the restricted unpickler below, for CIFAR's official format
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genzoo.data.cache import fetch
from genzoo.data.images import ImageDataset
from genzoo.data.info import DataInfo
from genzoo.data.registry import register_dataset
from genzoo.errors import GenzooError

# -- IDX (MNIST, Fashion-MNIST) -------------------------------------------------------------------------
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (optionally gzipped): magic 0x0000TTDD, then DD big-endian dims, then data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise GenzooError(f"{path} is not an IDX file (bad magic number)")
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">i4", count=ndim, offset=4)
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    offset = 4 + 4 * ndim
    if len(data) - offset != expected:
        raise GenzooError(f"{path} is truncated: expected {expected} data bytes, found {len(data) - offset}")
    return np.frombuffer(data, dtype=dtype, offset=offset).reshape(tuple(int(d) for d in dims))


_MNIST_FILES = {
    "mnist": (
        ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
        {
            "train-images-idx3-ubyte.gz": "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "md5:d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "md5:9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "md5:ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
    "fashion_mnist": (
        ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        {
            "train-images-idx3-ubyte.gz": "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "md5:25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "md5:bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "md5:bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
}
_FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                    "Ankle boot"]


def _idx_dataset(name: str, split: str) -> ImageDataset:
    bases, files = _MNIST_FILES[name]
    prefix = "t10k" if split in ("test", "val") else "train"
    paths = {}
    for kind in ("images-idx3", "labels-idx1"):
        fname = f"{prefix}-{kind}-ubyte.gz"
        paths[kind] = fetch([b + fname for b in bases], fname, files[fname], name)
    x = read_idx(paths["images-idx3"])
    y = read_idx(paths["labels-idx1"])
    if len(x) != len(y):
        raise GenzooError(f"{name}: {len(x)} images but {len(y)} labels")
    classes = _FASHION_CLASSES if name == "fashion_mnist" else [str(i) for i in range(10)]
    info = DataInfo(name, "image", (1, 28, 28), classes, (0.0, 1.0), {"bits": 8})
    images = torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)
    return ImageDataset(images, torch.from_numpy(y.astype(np.int64)), info)


@register_dataset("mnist", "full MNIST, 60k/10k (download, md5-checked)")
def mnist(split: str = "train", **_: Any) -> ImageDataset:
    return _idx_dataset("mnist", split)


@register_dataset("fashion_mnist", "Fashion-MNIST, 60k/10k (download, md5-checked)")
def fashion_mnist(split: str = "train", **_: Any) -> ImageDataset:
    return _idx_dataset("fashion_mnist", split)


# -- CIFAR-10 ---------------------------------------------------------------------------------------------
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_CIFAR_MD5 = "md5:c58f30108f718f92721af3b95e74349a"
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class _PlainDataUnpickler(pickle.Unpickler):
    """CIFAR batches are pickles of plain dicts/lists/bytes and numpy arrays; refuse every other global."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")


def read_cifar_batch(raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch -> (N, 32, 32, 3) uint8 images and int64 labels."""
    import io

    try:
        d = _PlainDataUnpickler(io.BytesIO(raw), encoding="bytes").load()
        data = np.asarray(d[b"data"], dtype=np.uint8)
        labels = np.asarray(d[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, KeyError, EOFError, TypeError, ValueError) as e:
        raise GenzooError(f"not a CIFAR-10 batch: {e}") from None
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


@register_dataset("cifar10", "CIFAR-10, 50k/10k 32x32 colour (download, md5-checked)")
def cifar10(split: str = "train", **_: Any) -> ImageDataset:
    path = fetch([_CIFAR_URL], "cifar-10-python.tar.gz", _CIFAR_MD5, "cifar10")
    names = ["test_batch"] if split in ("test", "val") else [f"data_batch_{i}" for i in range(1, 6)]
    xs, ys = [], []
    with tarfile.open(path, "r:gz") as tar:
        for n in names:
            member = tar.extractfile(f"cifar-10-batches-py/{n}")
            if member is None:
                raise GenzooError(f"{path} lacks cifar-10-batches-py/{n}")
            x, y = read_cifar_batch(member.read())
            xs.append(x)
            ys.append(y)
    images = torch.from_numpy(np.concatenate(xs).astype(np.float32) / 255.0).permute(0, 3, 1, 2).contiguous()
    info = DataInfo("cifar10", "image", (3, 32, 32), CIFAR_CLASSES, (0.0, 1.0), {"bits": 8})
    return ImageDataset(images, torch.from_numpy(np.concatenate(ys)), info)
