"""Understanding a caller's answer to a menu: pure functions, no Flask, no database."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .flows import Node, Option

REPEAT_KEY = "*"
NUMBER_WORDS = {
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "zero": "0",
}
REPEAT_WORDS = ("repeat", "say that again", "start over", "menu", "options")


@dataclass(frozen=True)
class Chosen:
    """The caller picked an option."""

    option: Option


@dataclass(frozen=True)
class Repeat:
    """The caller asked to hear the menu again."""


@dataclass(frozen=True)
class NoInput:
    """The caller said and pressed nothing."""


@dataclass(frozen=True)
class Unrecognised:
    """The caller answered, but not with anything this menu offers."""

    heard: str


Answer = Chosen | Repeat | NoInput | Unrecognised


def _words(text: str) -> str:
    """Lower-case a phrase, drop accents ("técnico" is "tecnico"), keep letters, digits and single spaces."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    return " " + re.sub(r"[^a-z0-9*#]+", " ", plain).strip() + " "


def understand(node: Node, digits: str | None, speech: str | None) -> Answer:
    """Decide what a caller's keys or words mean at this menu."""
    digits = (digits or "").strip()
    speech = (speech or "").strip()
    if digits:
        if digits == REPEAT_KEY:
            return Repeat()
        for opt in node.options:
            if opt.key is not None and digits == opt.key:
                return Chosen(opt)
        return Unrecognised(digits)
    if not speech:
        return NoInput()
    heard = _words(speech)
    best, best_score = None, 0
    for opt in node.options:
        score = sum(len(w) for w in opt.words if _words(w) in heard)
        if opt.key is not None:
            spoken_keys = [f" {opt.key} "] + [f" {w} " for w, d in NUMBER_WORDS.items() if d == opt.key]
            if any(k in heard for k in spoken_keys):
                score += 1
        if score > best_score:
            best, best_score = opt, score
    if best is not None:
        return Chosen(best)
    if any(_words(w) in heard for w in REPEAT_WORDS):
        return Repeat()
    return Unrecognised(speech)
