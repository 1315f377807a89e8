"""Text laid out in lines: a result's text cut into unbreakable pieces ("atoms": words, or single
letters of scripts written without spaces, punctuation kept with what precedes it) and those
pieces wrapped greedily into lines of at most a given width."""

from __future__ import annotations

import unicodedata

from ..language.catalogue import is_unspaced

__all__ = ["MARK_CLOSE", "MARK_OPEN", "Atoms", "is_punctuation", "one_line", "text_atoms", "visible_length", "wrap_lines"]

Atoms = list[tuple[str, bool]]  # (piece of text, preceded by a space)
MARK_OPEN, MARK_CLOSE = "\x01", "\x02"  # around a low-confidence word; each writer spells them (<u>, </u>)


def visible_length(text: str) -> int:
    """Characters a reader sees: the marks around low-confidence words take no room."""
    return len(text) - text.count(MARK_OPEN) - text.count(MARK_CLOSE)


def is_punctuation(text: str) -> bool:
    return bool(text) and all(unicodedata.category(char).startswith("P") for char in text)


def one_line(text: str) -> str:
    return " ".join(text.split())


def text_atoms(text: str) -> list[tuple[str, bool]]:
    """Unbreakable pieces of `text` with whether a space goes before each.

    Whitespace-separated words are atoms; inside a word, each letter of a script without spaces is
    its own atom (so such text can break anywhere), and punctuation stays with what precedes it.
    """
    atoms: list[tuple[str, bool]] = []
    for word in text.split():
        pieces: list[str] = []
        run = ""
        for char in word:
            if is_unspaced(char) and not is_punctuation(char):
                if run:
                    pieces.append(run)
                    run = ""
                pieces.append(char)
            elif is_punctuation(char) and pieces and not run and is_unspaced(pieces[-1][-1]):
                pieces[-1] += char  # "好。" and "好," stay together
            else:
                run += char
        if run:
            pieces.append(run)
        for position, piece in enumerate(pieces):
            atoms.append((piece, position == 0 and bool(atoms)))
    return atoms


def wrap_lines(atoms: list[tuple[str, bool]], width: int) -> list[str]:
    """Greedy wrap (fewest lines): each line at most `width` characters unless one atom is longer."""
    lines: list[str] = []
    line = ""
    for piece, space_before in atoms:
        candidate = line + (" " if space_before and line else "") + piece
        if line and visible_length(candidate) > width:
            lines.append(line)
            line = piece
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines
