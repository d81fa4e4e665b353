"""Music composition: write MIDI from a trained event or piano-roll model, and judge it against Bach.

    genzoo train music_lstm --data chorales --out runs/bach --max-steps 2000
    genzoo train music_gpt --data chorales --out runs/bach_gpt --max-steps 2000
    genzoo train pianoroll_lstm --data chorales_roll --out runs/bach_roll --max-steps 2000
    genzoo compose runs/bach --bars 8 -o out.mid [--prime start.mid] [--temperature 0.9]   # + out.wav

`render_wav` renders the MIDI with fluidsynth when it and a General MIDI soundfont are installed, else with
`synthesize`, a small additive synthesizer (harmonic partials under an ADSR envelope) in numpy.

Python: `compose(model, bars=8, prime=None)` returns notes (pitch, start, end) in 16th-note steps;
`genzoo.data.music.write_midi(notes, path)` writes them; `genzoo.metrics.music` compares the
pitch-class histogram, note density, polyphony and pitch range of samples with real chorales.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from genzoo.errors import GenzooError
from genzoo.protocols import Composer
from genzoo.registry import check_model


def compose(
    model: Any, bars: int = 8, prime: Any = None, temperature: float = 1.0, n: int = 1, seed: int = 0
) -> list[Any]:
    """`n` pieces of exactly `bars` new bars (notes arrays; bars of the training corpus's meter), optionally
    continuing `prime` (a MIDI path; its notes are kept at the start of each piece)."""
    import torch

    from genzoo.data import music as mu

    if bars < 1:
        raise GenzooError(f"--bars must be at least 1, got {bars}")
    check_model(model, Composer)
    torch.manual_seed(seed)
    prime_notes = mu.read_midi(prime) if prime is not None else None
    return model.compose(n, bars, prime_notes, temperature)


# -- audio rendering ----------------------------------------------------------------------------------------
SAMPLE_RATE = 22050
SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2")
HARMONICS = (1.0, 0.5, 0.3, 0.15, 0.08)  # amplitudes of partials 1..5: a soft, organ-like timbre
ATTACK, DECAY, SUSTAIN, RELEASE = 0.01, 0.08, 0.7, 0.12  # seconds, seconds, level, seconds


def synthesize(
    notes: Any, tempo_bpm: float = 80.0, steps_per_quarter: int = 4, rate: int = SAMPLE_RATE
) -> Any:
    """Mono float32 audio of the notes from a small additive synthesizer: each note is a sum of
    `HARMONICS` partials under an ADSR envelope (its release rings past the note's end, so repeated
    notes stay audible as separate onsets). Peak-normalised to 0.9; the fallback when fluidsynth is absent."""
    import numpy as np

    notes = np.asarray(notes).reshape(-1, 3)
    if not len(notes):
        raise GenzooError("no notes to render")
    step = 60.0 / tempo_bpm / steps_per_quarter
    audio = np.zeros(int((notes[:, 2].max() * step + RELEASE) * rate) + 1, dtype=np.float64)
    for pitch, start, end in notes.tolist():
        hold = max((end - start) * step, ATTACK + DECAY)
        t = np.arange(int((hold + RELEASE) * rate)) / rate
        env = np.interp(t, [0, ATTACK, ATTACK + DECAY, hold, hold + RELEASE], [0, 1, SUSTAIN, SUSTAIN, 0])
        freq = 440.0 * 2 ** ((pitch - 69) / 12)
        tone = sum(a * np.sin(2 * np.pi * k * freq * t) for k, a in enumerate(HARMONICS, 1) if k * freq < rate / 2)
        first = int(start * step * rate)
        audio[first : first + len(t)] += (env * tone)[: len(audio) - first]
    return (0.9 * audio / max(np.abs(audio).max(), 1e-9)).astype(np.float32)


def render_wav(
    midi_path: str | Path, wav_path: str | Path, tempo_bpm: float = 80.0, rate: int = SAMPLE_RATE
) -> tuple[Path, str]:
    """Render a MIDI file to WAV with fluidsynth and a General MIDI soundfont when both are installed,
    else with `synthesize`. Returns the path and the name of the renderer used."""
    import shutil
    import subprocess

    import soundfile

    from genzoo.data import music as mu

    wav_path = Path(wav_path)
    font = next((f for f in SOUNDFONTS if Path(f).is_file()), None)
    if shutil.which("fluidsynth") and font:
        subprocess.run(
            ["fluidsynth", "-ni", "-F", str(wav_path), "-r", str(rate), font, str(midi_path)],
            check=True,
            capture_output=True,
        )
        return wav_path, "fluidsynth"
    audio = synthesize(mu.read_midi(midi_path), tempo_bpm, mu.STEPS_PER_QUARTER, rate)
    soundfile.write(wav_path, audio, rate, subtype="PCM_16")
    return wav_path, "genzoo additive synthesizer"


def cmd_compose(args: argparse.Namespace) -> None:
    import numpy as np

    import genzoo as gz
    from genzoo.data import music as mu
    from genzoo.data.music import write_midi

    if args.bars < 1:
        raise GenzooError(f"--bars must be at least 1, got {args.bars}")
    if args.prime is not None and not Path(args.prime).is_file():
        raise GenzooError(f"no MIDI file at {args.prime}")
    model = gz.load(args.run, needs=Composer)
    notes = compose(model, args.bars, args.prime, args.temperature, seed=args.seed)[0]
    if len(notes) == 0:
        raise GenzooError("the model produced no notes; try a higher --temperature or a longer-trained run")
    prime = mu.read_midi(args.prime) if args.prime is not None else np.zeros((0, 3), dtype=np.int64)
    length = (int(prime[:, 2].max()) if len(prime) else 0) + args.bars * mu.bar_steps(model.data_info)
    meter = mu.time_signature(model.data_info)
    out = write_midi(notes, args.output, tempo_bpm=args.tempo, length=length, time_signature=meter)
    print(f"genzoo: wrote {out} ({len(notes)} notes, {args.bars} bars of {meter[0]}/{meter[1]})")
    if not args.no_wav:
        wav, renderer = render_wav(out, out.with_suffix(".wav"), args.tempo)
        print(f"genzoo: wrote {wav} ({renderer})")


def add_commands(sub: Any) -> None:
    p = sub.add_parser("compose", help="write a MIDI file from a trained music model")
    p.add_argument("run", help="run directory of a music_lstm, music_gpt or pianoroll_lstm model")
    p.add_argument("--bars", type=int, default=8)
    p.add_argument("--prime", default=None, help="a MIDI file to continue")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--tempo", type=float, default=80.0, help="beats per minute of the MIDI file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", default="composition.mid")
    p.add_argument(
        "--no-wav", action="store_true", help="skip the WAV rendering written beside the MIDI file"
    )
    p.set_defaults(func=cmd_compose)
