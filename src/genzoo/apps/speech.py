"""Text to speech: write a WAV file from a trained `fastspeech` run.

    genzoo train fastspeech --data espeak_speech --out runs/tts --max-steps 1500 --batch-size 16
    genzoo speak runs/tts "three one four" -o out.wav [--voice en+f3] [--pace 1.2] [--iterations 64]

Python: `speak_to_file(model, text, path, voice=None)`; the model's `speak(text, voice)` returns the audio.
Digits in the text are spelled out ("314" -> "three one four"); characters the model never saw, an empty
text or a voice it was not trained with are refused in one line.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from genzoo.errors import GenzooError
from genzoo.protocols import Speaker
from genzoo.registry import check_model


def speak_to_file(model: Any, text: str, path: str | Path, voice: str | None = None, pace: float = 1.0,
                  iterations: int = 64) -> Path:
    """Synthesise `text` with `model` and write a 16-bit PCM WAV at the model's sample rate."""
    import soundfile as sf

    check_model(model, Speaker)
    if iterations < 0:
        raise GenzooError(f"--iterations must be >= 0, got {iterations}")
    path = Path(path)
    if path.suffix.lower() != ".wav":
        raise GenzooError(f"output must be a .wav file, got {path.name!r}")
    audio = model.speak(text, voice, pace=pace, iterations=iterations)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio.numpy(), model.config.sample_rate, subtype="PCM_16")
    return path


def cmd_speak(args: argparse.Namespace) -> None:
    import genzoo as gz

    if not args.text.strip():
        raise GenzooError("the text to speak is empty")
    model = gz.load(args.run, needs=Speaker)
    out = speak_to_file(model, args.text, args.output, args.voice, args.pace, args.iterations)
    print(f"genzoo: wrote {out}")


def add_commands(sub: Any) -> None:
    p = sub.add_parser("speak", help="synthesise speech from text with a trained fastspeech run (writes WAV)")
    p.add_argument("run", help="run directory of a fastspeech model")
    p.add_argument("text", help='what to say, e.g. "three one four"')
    p.add_argument("-o", "--output", default="speech.wav", help="output .wav file")
    p.add_argument("--voice", default=None, help="one of the voices the model was trained with (default: first)")
    p.add_argument("--pace", type=float, default=1.0, help="duration factor: >1 slower, <1 faster")
    p.add_argument("--iterations", type=int, default=64, help="Griffin-Lim iterations")
    p.set_defaults(func=cmd_speak)
