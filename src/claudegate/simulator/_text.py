"""The words the simulator says: replies built from the prompt, so tests can predict them.

A plain reply is ``<opener> You wrote: <the words of the last user turn>. <closer>``, opener and
closer picked by the request's seed from short fixed lists. Every word of the last user turn (up to
the first 200) therefore appears in the reply, in order, which makes any of them a usable stop
sequence. A reply to tool results quotes each result. Thinking text restates the task.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
from collections.abc import Sequence

__all__ = [
    "chunk_json",
    "chunk_words",
    "prompt_words",
    "reply_text",
    "sign_thinking",
    "thinking_text",
    "tool_preamble",
    "tool_results_text",
]

OPENERS = ("Sure.", "Certainly.", "Of course.", "Happy to help.", "Understood.", "Here is my answer.")
CLOSERS = (
    "I hope this helps.",
    "Let me know if you need anything else.",
    "That is all for now.",
    "Feel free to ask a follow-up question.",
)
ECHO_WORDS = 200
QUOTE_CHARS = 500
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*")
_PIECE = re.compile(r"\s*\S+|\s+")
_SIGNING_KEY = b"claudegate-simulator-thinking"


def prompt_words(text: str) -> list[str]:
    """Plain alphanumeric words of a prompt (used for tool names and schema string values)."""
    return _WORD.findall(text)


def reply_text(user_text: str, rng: random.Random) -> str:
    """The reply to a user turn: it repeats the turn's words between a seeded opener and closer."""
    opener = rng.choice(OPENERS)
    closer = rng.choice(CLOSERS)
    words = user_text.split()[:ECHO_WORDS]
    if not words:
        return f"{opener} {closer}"
    echo = " ".join(words)
    if echo[-1] not in ".!?":
        echo += "."
    return f"{opener} You wrote: {echo} {closer}"


def _quote(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > QUOTE_CHARS:
        text = text[: QUOTE_CHARS - 1] + "…"
    return text


def tool_results_text(results: Sequence[tuple[str, str, bool]], rng: random.Random) -> str:
    """The answer to a turn of tool results ``(tool name, result text, is_error)``: it quotes each."""
    opener = rng.choice(OPENERS)
    closer = rng.choice(CLOSERS)
    sentences = []
    for name, text, is_error in results:
        verb = "reported an error" if is_error else "returned"
        sentences.append(f'The {name} tool {verb}: "{_quote(text)}".')
    return " ".join([opener, *sentences, closer])


def tool_preamble(names: Sequence[str]) -> str:
    """The short sentence a model writes before calling tools on its own."""
    if len(names) == 1:
        return f"I'll use the {names[0]} tool."
    return f"I'll use the {', '.join(names[:-1])} and {names[-1]} tools."


def thinking_text(user_text: str, tool_names: Sequence[str], rng: random.Random) -> str:
    """The thinking a model does before answering: a restatement and a plan."""
    words = user_text.split()
    if words:
        head = " ".join(words[:12])
        start = f'The user wrote {len(words)} words, beginning "{head}".'
    else:
        start = "The user sent no text."
    if tool_names:
        plan = f"I should call {', '.join(tool_names)} to get what I need."
    else:
        plan = rng.choice(
            ("I can answer this directly.", "A short, direct answer will do.", "I will reply briefly.")
        )
    return f"{start} {plan}"


def sign_thinking(thinking: str) -> str:
    """The deterministic signature the simulator puts on (and expects back with) a thinking block."""
    digest = hashlib.blake2b(thinking.encode(), key=_SIGNING_KEY, digest_size=48).digest()
    return base64.b64encode(digest).decode()


def chunk_words(text: str, rng: random.Random) -> list[str]:
    """Split text into stream deltas of one to four words, each keeping its leading whitespace."""
    pieces = _PIECE.findall(text)
    chunks: list[str] = []
    position = 0
    while position < len(pieces):
        size = rng.randint(1, 4)
        chunks.append("".join(pieces[position : position + size]))
        position += size
    return chunks


def chunk_json(text: str, rng: random.Random) -> list[str]:
    """Split streamed tool JSON at arbitrary points, the first fragment empty as the live API sends it."""
    fragments = [""]
    position = 0
    while position < len(text):
        size = rng.randint(1, 16)
        fragments.append(text[position : position + size])
        position += size
    return fragments
