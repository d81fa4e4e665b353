"""Train a VAE on offline MNIST digits, save it, load it back, and write a grid of samples.

    python examples/vae_digits.py            # ~1 minute on a laptop CPU
    python examples/vae_digits.py --smoke    # a few steps (CI)
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import genzoo as gz
from genzoo.viz import save_grid


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="a few steps, for CI")
    p.add_argument("--out", type=Path, default=None, help="run folder (default: a temporary one)")
    args = p.parse_args()
    out = args.out or Path(tempfile.mkdtemp()) / "vae"
    train = gz.data.load("mnist5k", split="train")
    model = gz.create("vae", data=train, latent_dim=16, seed=0)
    gz.fit(model, train, max_steps=5 if args.smoke else 500, out=str(out), progress=False)
    model = gz.load(out)  # config.json + model.safetensors: what a user ships
    save_grid(model.sample(16), out / "samples.png", nrow=4)
    test = gz.data.load("mnist5k", split="test")
    # the importance-weighted bound on NLL; k=100 samples per image is the paper's, 2 is a smoke test
    print(gz.evaluate(model, test, metrics=["nll"], k=2 if args.smoke else 100))
    print(f"samples: {out / 'samples.png'}")


if __name__ == "__main__":
    main()
