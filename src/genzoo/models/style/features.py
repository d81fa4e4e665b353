"""Feature networks whose activations define the content and style losses.

Three kinds, one interface (`extractor(images_01, layers) -> {layer: activation}`):

* `vgg16` / `vgg19` — our own VGG definition (Simonyan & Zisserman 2015) laid out exactly like torchvision's
  `features` module, so the ImageNet state-dict files torchvision publishes (`vgg16-397923af.pth`,
  `vgg19-dcbb9e9d.pth`) load by key with no torchvision import. Files are read with
  `torch.load(weights_only=True)` (tensors only, no code runs) or as `.safetensors`. These give the
  classic Gatys/Johnson results and are the ones to use when you can get the file.
* `random` — a random multi-scale filter bank (Ustyuzhaninov et al. 2016, "Texture synthesis using
  shallow convolutional networks with random filters"): Gram matrices of random ReLU features at several
  scales already capture texture well, so style losses work fully offline. `build_features("random")`
  is the wide zero-mean bank (`offline_random_features`); `RandomFeatures()` alone is the old 64-filter
  one. Content is kept less abstractly than with VGG (there are no learned object features), so results
  look like recoloured, re-textured photos rather than painterly re-drawings.
* `trained` — a small VGG-shaped network genzoo trains itself (self-supervised rotation prediction on the
  `photos` patches, ~1 min, cached). Its features sit between the two: learned edges and textures but
  none of ImageNet's semantics.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genzoo.errors import GenzooError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: torchvision's layer plans: numbers are conv widths, "M" is a 2x2 pool (configs "D" and "E").
VGG_PLANS: dict[str, tuple[int | str, ...]] = {
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        512,
        "M",
    ),
}
#: the file names torchvision's model zoo uses (what `torch.hub` leaves in its checkpoints cache).
VGG_FILES = {"vgg16": "vgg16-397923af.pth", "vgg19": "vgg19-dcbb9e9d.pth"}
VGG_URLS = {k: f"https://download.pytorch.org/models/{v}" for k, v in VGG_FILES.items()}
FEATURE_KINDS = ("auto", "vgg16", "vgg19", "random", "trained")


class FeatureExtractor(nn.Module):
    """Images in [0, 1] -> named activations. Subclasses list their `layers` and sensible defaults."""

    kind: str = ""  # the name build_features knows it by
    layers: tuple[str, ...] = ()
    content_layers: tuple[str, ...] = ()
    style_layers: tuple[str, ...] = ()

    def check_layers(self, names: Sequence[str]) -> None:
        bad = [n for n in names if n not in self.layers]
        if bad:
            raise GenzooError(
                f"unknown feature layer(s) {bad} for {type(self).__name__}; known: {', '.join(self.layers)}"
            )

    def forward(self, x: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
        raise NotImplementedError


class VGGFeatures(FeatureExtractor):
    """The convolutional part of VGG with torchvision's module indices (`features.<i>.weight`).

    Layers are named conv{b}_{k}, relu{b}_{k}, pool{b}. `pool="avg"` swaps max for average pooling, as
    Gatys et al. suggest for image synthesis; it has no parameters, so the same weights load either way.
    A 1-channel image is repeated to 3 channels. The plan may be any widths (the `trained` net uses a
    small one); only the 3-channel input is fixed.
    """

    def __init__(
        self,
        plan: Sequence[int | str] = VGG_PLANS["vgg19"],
        pool: str = "avg",
        normalize: tuple[tuple[float, ...], tuple[float, ...]] = (IMAGENET_MEAN, IMAGENET_STD),
    ) -> None:
        super().__init__()
        if pool not in ("avg", "max"):
            raise GenzooError(f"pool must be 'avg' or 'max', got {pool!r}")
        modules: list[nn.Module] = []
        names: list[str] = []
        ch, block, k = 3, 1, 1
        for item in plan:
            if item == "M":
                modules.append(nn.AvgPool2d(2) if pool == "avg" else nn.MaxPool2d(2))
                names.append(f"pool{block}")
                block, k = block + 1, 1
            else:
                modules += [nn.Conv2d(ch, int(item), 3, padding=1), nn.ReLU()]
                names += [f"conv{block}_{k}", f"relu{block}_{k}"]
                ch, k = int(item), k + 1
        self.features = nn.Sequential(*modules)
        self.layers = tuple(names)
        self.out_channels = ch
        self.kind = "vgg"
        relus = [n for n in names if n.startswith("relu")]
        firsts = [n for n in relus if n.endswith("_1")]
        self.style_layers = tuple(firsts[:5])
        self.content_layers = ("relu4_2",) if "relu4_2" in names else (relus[len(relus) // 2],)
        self.register_buffer("mean", torch.tensor(normalize[0]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(normalize[1]).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
        self.check_layers(layers)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        h = (x - self.mean) / self.std
        wanted = set(layers)
        last = max(self.layers.index(n) for n in layers)
        out: dict[str, Tensor] = {}
        for i, (name, module) in enumerate(zip(self.layers, self.features, strict=True)):
            h = module(h)
            if name in wanted:
                out[name] = h
            if i == last:
                break
        return out


class RandomFeatures(FeatureExtractor):
    """Random multi-scale ReLU filters: a fixed, seeded filter bank applied to an image pyramid.

    At each scale s the image is downsampled by s (antialiased) and convolved with `filters` random unit-norm
    `kernel`x`kernel` filters, so receptive fields span kernel*s pixels (7..56 by default) at the cost of a
    single small convolution per scale. Layers are named s1, s2, s4, s8.

    `zero_mean` removes each filter's spatial mean (per input channel), so the filters see structure, not
    flat colour: with plain Gaussian filters the DC part of a 7x7x3 filter dominates its response, the Gram
    matrices then mostly record colour, and a transfer paints colour noise. The colour statistics are then
    kept by their own layer `rgb` (the normalised pixels, ReLU'd in both signs), so colour still transfers.
    """

    def __init__(
        self,
        filters: int = 64,
        kernel: int = 7,
        scales: Sequence[int] = (1, 2, 4, 8),
        seed: int = 0,
        zero_mean: bool = False,
    ) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.kind = "random"
        self.scales = tuple(int(s) for s in scales)
        self.kernel = kernel
        self.zero_mean = zero_mean
        self.layers = tuple(f"s{s}" for s in self.scales) + (("rgb",) if zero_mean else ())
        self.style_layers = self.layers
        self.content_layers = (self.layers[min(1, len(self.scales) - 1)],)
        for s in self.scales:
            w = torch.randn(filters, 3, kernel, kernel, generator=g)
            if zero_mean:
                w = w - w.mean(dim=(2, 3), keepdim=True)
            w = w / w.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            self.register_buffer(f"w{s}", w, persistent=False)
            self.register_buffer(f"b{s}", 0.05 * torch.randn(filters, generator=g), persistent=False)

    def forward(self, x: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
        self.check_layers(layers)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = (x - 0.45) / 0.25
        out: dict[str, Tensor] = {}
        if "rgb" in layers:
            out["rgb"] = F.relu(torch.cat([x, -x], 1))
        for s in self.scales:
            name = f"s{s}"
            if name not in layers:
                continue
            # a triangle (antialiased bilinear) downsample: box pooling with stride s would make the
            # gradient piecewise constant on s x s blocks and paint blocky artefacts into the result
            h = F.interpolate(x, scale_factor=1 / s, mode="bilinear", antialias=True) if s > 1 else x
            if min(h.shape[-2:]) < self.kernel:  # only tiny images are padded: padding over-weights borders
                h = F.pad(h, [self.kernel // 2] * 4, mode="replicate")
            out[name] = F.relu(F.conv2d(h, getattr(self, f"w{s}"), getattr(self, f"b{s}")))
        return out


# -- loading the published VGG weights --------------------------------------------------------------------
def hub_checkpoint_dir() -> Path:
    """Where `torch.hub` (and so torchvision) caches model-zoo files: $TORCH_HOME/hub/checkpoints."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_vgg_weights(arch: str) -> Path | None:
    """The torchvision file for `arch` in the torch hub cache, if someone has downloaded it."""
    path = hub_checkpoint_dir() / VGG_FILES[arch]
    return path if path.is_file() else None


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """A state dict from `.pth/.pt` (tensors only: weights_only=True) or `.safetensors`."""
    path = Path(path)
    if not path.is_file():
        raise GenzooError(f"weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure to parse is a bad file from the user's point of view
        raise GenzooError(f"cannot read weights {path}: {str(e).splitlines()[0]}") from None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise GenzooError(f"{path} is not a state dict of tensors")
    return state


def map_vgg_state_dict(state: dict[str, Tensor], model: VGGFeatures) -> dict[str, Tensor]:
    """torchvision VGG keys -> our keys, checked: every conv of `model` must be present with its shape.

    torchvision keeps the convolutions under `features.<index>` with the same indices as ours and the
    fully-connected head under `classifier.*`, which style transfer never uses and is dropped. A
    batch-norm variant (vgg16_bn) has running statistics and different indices, and is refused.
    """
    if any(k.endswith("running_mean") for k in state):
        raise GenzooError(
            "batch-norm VGG weights (vgg*_bn) are not supported; use the plain vgg16/vgg19 file"
        )
    own = model.state_dict()
    mapped: dict[str, Tensor] = {}
    for key, target in own.items():
        if key not in state:
            raise GenzooError(
                f"VGG weights lack {key}: not a torchvision VGG with {len(own) // 2} convolutions "
                "(vgg16 has 13, vgg19 has 16)"
            )
        value = state[key]
        if tuple(value.shape) != tuple(target.shape):
            raise GenzooError(
                f"VGG weight {key} has shape {tuple(value.shape)}, expected {tuple(target.shape)} "
                "(wrong architecture: vgg16 vs vgg19?)"
            )
        mapped[key] = value.float()
    extra = [k for k in state if k not in own and not k.startswith("classifier.")]
    if extra:
        raise GenzooError(f"VGG weights have unexpected tensors such as {extra[0]}; wrong architecture?")
    return mapped


def load_vgg(
    arch: str = "vgg19", weights: str | os.PathLike[str] | None = None, pool: str = "avg"
) -> VGGFeatures:
    """VGG features with ImageNet weights from `weights` or the torch hub cache; a clear error if neither."""
    if arch not in VGG_PLANS:
        raise GenzooError(f"unknown VGG {arch!r}; choose vgg16 or vgg19")
    path = Path(weights) if weights else find_vgg_weights(arch)
    if path is None:
        raise GenzooError(
            f"no {arch} weights: download {VGG_URLS[arch]} into {hub_checkpoint_dir()} "
            f"(or pass --weights PATH), or use --features random / trained offline"
        )
    model = VGGFeatures(VGG_PLANS[arch], pool=pool)
    model.kind = arch
    model.load_state_dict(map_vgg_state_dict(read_state_dict(path), model))
    return model.eval().requires_grad_(False)


# -- a feature network genzoo trains itself ------------------------------------------------------------------
TRAINED_PLAN: tuple[int | str, ...] = (32, 32, "M", 64, 64, "M", 128, 128, "M", 128, "M")


def trained_features(steps: int = 400, seed: int = 0) -> VGGFeatures:
    """A small VGG trained by rotation prediction on `photos` patches, cached under $GENZOO_CACHE/style."""
    from safetensors.torch import load_file, save_file

    from genzoo.atomic import atomic_write
    from genzoo.data.cache import cache_dir

    net = VGGFeatures(TRAINED_PLAN, pool="avg", normalize=((0.45,) * 3, (0.25,) * 3))
    net.kind = "trained"
    path = cache_dir() / "style" / f"trained-features-s{steps}-seed{seed}.safetensors"
    if path.is_file():
        net.load_state_dict(load_file(str(path)))
        return net.eval().requires_grad_(False)
    _train_rotation(net, steps, seed)
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    atomic_write(path, lambda p: save_file(state, p))
    return net.eval().requires_grad_(False)


@torch.enable_grad()
def _train_rotation(net: VGGFeatures, steps: int, seed: int) -> None:
    """Self-supervised: predict which of 0/90/180/270 degrees a photo patch was rotated by."""
    from genzoo.data import load

    torch.manual_seed(seed)
    data = load("photos", split="train", patch=48, n=4096, seed=seed).images
    head = nn.Linear(net.out_channels, 4)
    params = list(net.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    last = net.layers[-1]
    net.train()
    for _ in range(steps):
        x = data[torch.randint(0, len(data), (32,))]
        k = torch.randint(0, 4, (len(x),))
        x = torch.stack([torch.rot90(xi, int(ki), dims=(1, 2)) for xi, ki in zip(x, k, strict=True)])
        h = net(x, [last])[last].mean(dim=(2, 3))
        loss = F.cross_entropy(head(h), k)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()


def build_features(
    kind: str = "auto", weights: str | os.PathLike[str] | None = None, pool: str = "avg"
) -> FeatureExtractor:
    """The feature network by name. `auto`: VGG-19 (then VGG-16) if its file is at hand, else `random`."""
    if kind not in FEATURE_KINDS:
        raise GenzooError(f"unknown feature network {kind!r}; choose one of {', '.join(FEATURE_KINDS)}")
    if kind == "auto":
        if weights:
            state = read_state_dict(weights)
            kind = "vgg19" if "features.34.weight" in state else "vgg16"
        else:
            found = [a for a in ("vgg19", "vgg16") if find_vgg_weights(a) is not None]
            if not found:
                warnings.warn(
                    "no VGG weights in the torch hub cache; using random multi-scale features "
                    f"(put {VGG_FILES['vgg19']} in {hub_checkpoint_dir()} for classic results)",
                    stacklevel=2,
                )
                kind = "random"
            else:
                kind = found[0]
    if kind in VGG_PLANS:
        return load_vgg(kind, weights, pool)
    if kind == "trained":
        return trained_features()
    return offline_random_features()


def offline_random_features() -> RandomFeatures:
    """The `random` network: 256 zero-mean 7x7 filters per scale plus the colour layer.

    Measured in benchmarks/results/style_textures.json: synthesising brick, gravel and grass from noise,
    it reaches 1.5-5x lower Gram distances than the old 64-filter Gaussian bank under a judge network
    neither optimised, with visibly less colour speckle (style_textures_synthesis.png); ~4x the compute.
    """
    return RandomFeatures(filters=256, zero_mean=True).eval()
