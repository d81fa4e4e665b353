"""Language verbs: `genzoo generate`, `genzoo chat`, `genzoo translate`, `genzoo summarize`, `genzoo answer`.

genzoo train gpt --data pydoc --out runs/gpt --max-steps 2000
genzoo generate runs/gpt --prompt "The for statement" --top-p 0.9 --stream
genzoo chat runs/gpt                       # type lines; empty line or /quit ends, /reset clears history
genzoo train seq2seq --data translation_en_fr --out runs/fr --max-steps 3000
genzoo translate runs/fr "United Kingdom" "Greek"
genzoo summarize runs/doc "Return the number of items in a container. ..."
genzoo answer runs/qa --context "isleap(year): Return True for leap years." --question "What does isleap return?"
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from genzoo.data.tokenizers import EOS
from genzoo.errors import GenzooError
from genzoo.protocols import QuestionAnswerer, TextToText, TokenModel


def _add_generation_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--min-p", type=float, default=None)
    p.add_argument("--repetition-penalty", type=float, default=None)
    p.add_argument("--num-beams", type=int, default=None)
    p.add_argument("--length-penalty", type=float, default=None)
    p.add_argument("--greedy", action="store_true", help="argmax decoding instead of sampling")
    p.add_argument(
        "--prompt-lookup",
        type=int,
        default=None,
        metavar="N",
        help="with --greedy: draft up to N tokens copied from earlier in the text and check them in one pass "
        "(same output, fewer passes when the text repeats itself)",
    )
    p.add_argument("--stop", action="append", default=None, help="stop string (repeatable)")
    p.add_argument("--seed", type=int, default=None)


def _generation_config(args: argparse.Namespace, **defaults: Any) -> Any:
    from genzoo.generation import GenerationConfig

    base = GenerationConfig(**defaults)
    return base.updated(
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        min_p=args.min_p,
        repetition_penalty=args.repetition_penalty,
        num_beams=args.num_beams,
        length_penalty=args.length_penalty,
        do_sample=False if args.greedy else None,
        stop_strings=tuple(args.stop) if args.stop else None,
        seed=args.seed,
        prompt_lookup_num_tokens=args.prompt_lookup,
    )


def cmd_generate(args: argparse.Namespace) -> None:
    import genzoo as gz

    model = gz.load(args.run, needs=TokenModel)
    config = _generation_config(args, max_new_tokens=200)
    if args.stream and config.num_beams == 1:
        for piece in model.stream_text(args.prompt, config):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
    else:
        print(model.generate_text(args.prompt, config))


#: chat decoding: an instruction-tuned run ends its turn with <eos>; others at a stop string
CHAT_DEFAULTS: dict[str, Any] = {"max_new_tokens": 120, "top_p": 0.9, "temperature": 0.8,
                                 "stop_strings": ("\nUser:", "\n\n"), "eos_token_id": EOS}


def chat_prompt(model: Any, history: str, message: str, max_new_tokens: int) -> str:
    """The transcript `history` ('User: ...\\nBot: ...' turns) with `message` as the next user turn, awaiting
    the bot's reply; trimmed to the most recent tokens that leave room to answer within the model's context.
    One function for `genzoo chat` and the playground's chat panel, so both talk to a run the same way."""
    prompt = f"{history}User: {message}\nBot:"
    if model.context_length is not None:
        ids = model.tokenizer.encode(prompt)
        room = max(1, model.context_length - min(max_new_tokens, model.context_length // 2))
        prompt = model.tokenizer.decode(ids[-room:])
    return prompt


def cmd_chat(args: argparse.Namespace) -> None:
    """A read-eval-print loop: history is 'User: ...\\nBot: ...' turns, trimmed to the model's context."""
    import genzoo as gz

    model = gz.load(args.run, needs=TokenModel)
    config = _generation_config(args, **CHAT_DEFAULTS)
    history = args.system + "\n" if args.system else ""
    interactive = sys.stdin.isatty()
    print("genzoo chat: type a message; an empty line or /quit ends, /reset clears the history", flush=True)
    while True:
        if interactive:
            sys.stdout.write("you> ")
            sys.stdout.flush()
        line = sys.stdin.readline()
        if not line or line.strip() in ("", "/quit", "/exit"):
            break
        if line.strip() == "/reset":
            history = args.system + "\n" if args.system else ""
            print("(history cleared)", flush=True)
            continue
        history = chat_prompt(model, history, line.strip(), config.max_new_tokens)
        sys.stdout.write("bot>")
        reply = []
        for piece in model.stream_text(history, config):
            reply.append(piece)
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        sys.stdout.flush()
        history += "".join(reply) + "\n"


def _texts(args: argparse.Namespace) -> list[str]:
    texts = list(args.text)
    if args.file:
        from genzoo.data.text import read_text_file

        texts += [line for line in read_text_file(args.file).splitlines() if line.strip()]
    if not texts:
        texts = [line.strip() for line in sys.stdin if line.strip()]
    if not texts:
        raise GenzooError("no text given: pass texts as arguments, --file FILE, or lines on stdin")
    return texts


def cmd_transform(args: argparse.Namespace) -> None:
    import genzoo as gz

    model = gz.load(args.run, needs=TextToText)
    config = _generation_config(args, do_sample=False, max_new_tokens=model.config.max_len)
    for out in model.transform(_texts(args), config):
        print(out)


def cmd_answer(args: argparse.Namespace) -> None:
    """Extractive QA with a trained `bert`: print the span of the context that answers the question."""
    import warnings

    import genzoo as gz

    if (args.context is None) == (args.context_file is None):
        raise GenzooError("give the context with exactly one of --context TEXT or --context-file FILE")
    if args.context_file is not None:
        from genzoo.data.text import read_text_file

        context = read_text_file(args.context_file)
    else:
        context = args.context
    model = gz.load(args.run, needs=QuestionAnswerer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        text = model.answer(args.question, context, max_answer_tokens=args.max_answer_tokens)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    print(text)


def add_commands(sub: Any) -> None:
    p = sub.add_parser("generate", help="continue a prompt with a trained language model (gpt, char_rnn)")
    p.add_argument("run")
    p.add_argument("--prompt", required=True)
    p.add_argument("--stream", action="store_true", help="print tokens as they are generated")
    _add_generation_arguments(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("chat", help="interactive chat loop with streaming and history")
    p.add_argument("run")
    p.add_argument("--system", default="", help="text placed before the conversation")
    _add_generation_arguments(p)
    p.set_defaults(func=cmd_chat)

    for verb, what in (
        ("translate", "translate texts with a trained seq2seq model"),
        ("summarize", "summarise texts with a trained seq2seq model"),
    ):
        p = sub.add_parser(verb, help=what)
        p.add_argument("run")
        p.add_argument("text", nargs="*", help="texts (or --file, or lines on stdin)")
        p.add_argument("--file", default=None, help="UTF-8 file, one text per line")
        _add_generation_arguments(p)
        p.set_defaults(func=cmd_transform)

    p = sub.add_parser("answer", help="extractive question answering with a trained bert (span head)")
    p.add_argument("run")
    p.add_argument("--question", required=True)
    p.add_argument("--context", default=None, help="the text to find the answer in")
    p.add_argument("--context-file", default=None, help="a UTF-8 file holding the context")
    p.add_argument("--max-answer-tokens", type=int, default=30)
    p.set_defaults(func=cmd_answer)
