"""Image manipulation in latent space, for any model with encode/decode (vae, cvae, vqvae, ssvae).

    genzoo morph RUN --a 3 --b 17 -o strip.png            # test-split indices, or image files
    genzoo edit RUN --image 5 --attribute thick --strength 2 -o edit.png
    genzoo neighbours RUN --image 5 -k 8 -o nn.png

Attributes are vectors in latent space (White 2016, "Sampling generative networks"): the mean latent of
training images that have the attribute minus the mean of those that do not. `thick` compares the quarter
of images with most ink (a stroke-thickness statistic) with the quarter with least; a class name of the
dataset (`face` on `faces`, `7` on mnist5k) compares that class with all others.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genzoo.errors import GenzooError
from genzoo.protocols import LatentModel


def attribute_names(info: Any) -> list[str]:
    return ["thick", *(info.classes or [])]


def attribute_sets(train: Any, name: str) -> tuple[Tensor, Tensor]:
    """Training images with and without attribute `name`."""
    from genzoo.latent import ink

    x = train.images
    if name == "thick":
        s = ink(x)
        lo, hi = torch.quantile(s, 0.25), torch.quantile(s, 0.75)
        return x[s >= hi], x[s <= lo]
    classes = list(train.info.classes or [])
    if name in classes:
        c = classes.index(name)
        return x[train.labels == c], x[train.labels != c]
    raise GenzooError(
        f"unknown attribute {name!r} for {train.info.name!r}; choose one of "
        f"{', '.join(attribute_names(train.info))}"
    )


def attribute_for(model: Any, name: str) -> Tensor:
    """The latent direction of attribute `name`, from the dataset the model was trained on."""
    import genzoo as gz
    from genzoo.latent import attribute_vector

    train = gz.data.load(_dataset_name(model), split="train")
    with_a, without_a = attribute_sets(train, name)
    return attribute_vector(model, with_a, without_a)


def _dataset_name(model: Any) -> str:
    if model.data_info is None:
        raise GenzooError("this model does not record its dataset; latent manipulation needs it")
    return model.data_info.name


def resolve_image(model: Any, spec: str) -> Tensor:
    """An image from a test-split index (`12`) or a file path, as (C, H, W) of the model's shape."""
    import genzoo as gz
    from genzoo.apps.compress import read_image

    shape = tuple(model.data_info.shape) if model.data_info and model.data_info.shape else None
    if spec.isdigit():
        test = gz.data.load(_dataset_name(model), split="test")
        i = int(spec)
        if i >= len(test):
            raise GenzooError(f"image index {i} is out of range: the test split has {len(test)} images")
        return test[i][0]
    if shape is None:
        raise GenzooError("this model does not record its image shape")
    img = read_image(spec, shape[0])
    if tuple(img.shape) != shape:
        raise GenzooError(
            f"{spec} is {img.shape[2]}x{img.shape[1]} px but the model works on "
            f"{shape[2]}x{shape[1]} px images"
        )
    return img


def _load(run: str) -> Any:
    import genzoo as gz

    return gz.load(run, needs=LatentModel)


def cmd_morph(args: argparse.Namespace) -> None:
    from genzoo.latent import interpolate
    from genzoo.viz import save_grid

    model = _load(args.run)
    strip = interpolate(
        model,
        resolve_image(model, args.a),
        resolve_image(model, args.b),
        steps=args.steps,
        spherical=args.spherical,
    )
    save_grid(strip, args.output, nrow=args.steps, scale=args.scale)
    print(f"genzoo: wrote {args.output}")


def cmd_edit(args: argparse.Namespace) -> None:
    from genzoo.latent import apply_attribute
    from genzoo.viz import save_grid

    model = _load(args.run)
    x = resolve_image(model, args.image)
    vec = attribute_for(model, args.attribute)
    strengths = torch.linspace(0, args.strength, args.steps)
    edits = apply_attribute(model, x[None], vec, strengths)
    save_grid(torch.cat([x[None].cpu(), edits]), args.output, nrow=args.steps + 1, scale=args.scale)
    print(
        f"genzoo: wrote {args.output} (original, then strengths {', '.join(f'{s:.2g}' for s in strengths)})"
    )


def cmd_neighbours(args: argparse.Namespace) -> None:
    import genzoo as gz
    from genzoo.latent import nearest_neighbours
    from genzoo.viz import save_grid

    model = _load(args.run)
    x = resolve_image(model, args.image)
    train = gz.data.load(_dataset_name(model), split="train")
    idx, _ = nearest_neighbours(model, x[None], train.images, k=args.k)
    save_grid(
        torch.cat([x[None].cpu(), train.images[idx[0]]]), args.output, nrow=args.k + 1, scale=args.scale
    )
    print(f"genzoo: wrote {args.output} (query, then its {args.k} nearest training images in latent space)")


def add_commands(sub: Any) -> None:
    p = sub.add_parser("morph", help="interpolate between two images in a model's latent space")
    p.add_argument("run")
    p.add_argument("--a", required=True, help="test-split index or image file")
    p.add_argument("--b", required=True, help="test-split index or image file")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--spherical", action="store_true", help="slerp instead of a straight line")
    p.add_argument("-o", "--output", type=Path, default=Path("strip.png"))
    p.add_argument("--scale", type=int, default=3)
    p.set_defaults(func=cmd_morph)

    p = sub.add_parser("edit", help="move an image along an attribute direction in latent space")
    p.add_argument("run")
    p.add_argument("--image", required=True, help="test-split index or image file")
    p.add_argument("--attribute", required=True, help="thick, or a class name of the dataset")
    p.add_argument("--strength", type=float, default=2.0)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("-o", "--output", type=Path, default=Path("edit.png"))
    p.add_argument("--scale", type=int, default=3)
    p.set_defaults(func=cmd_edit)

    p = sub.add_parser("neighbours", help="nearest training images in a model's latent space")
    p.add_argument("run")
    p.add_argument("--image", required=True, help="test-split index or image file")
    p.add_argument("-k", type=int, default=8)
    p.add_argument("-o", "--output", type=Path, default=Path("neighbours.png"))
    p.add_argument("--scale", type=int, default=3)
    p.set_defaults(func=cmd_neighbours)
