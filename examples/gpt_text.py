"""Train a small GPT on the offline Python documentation text and stream a continuation.

    python examples/gpt_text.py              # a few minutes on a laptop CPU
    python examples/gpt_text.py --smoke      # a few steps (CI)
"""

from __future__ import annotations

import argparse

import genzoo as gz


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="a few steps, for CI")
    p.add_argument("--prompt", default="def ")
    args = p.parse_args()
    train = gz.data.load("pydoc", split="train", block_size=64)
    size = {"n_layer": 1, "d_model": 32, "n_head": 2} if args.smoke else {"n_layer": 4, "d_model": 128}
    model = gz.create("gpt", data=train, context_length=64, seed=0, **size)
    gz.fit(model, train, max_steps=5 if args.smoke else 1500, progress=False)
    for piece in model.stream_text(args.prompt, max_new_tokens=20 if args.smoke else 200, temperature=0.8):
        print(piece, end="", flush=True)
    print()


if __name__ == "__main__":
    main()
