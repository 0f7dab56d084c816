"""The one quoting site: renders argument lists for a POSIX shell and joins them.

Commands everywhere else are `Argv` tuples of plain words; only this module turns them into
shell text. `Secret` words print as *** in `display` and raw only in `render`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass


class Secret(str):
    """A word that must never be displayed."""

    def __repr__(self) -> str:
        return "Secret('***')"


Argv = tuple[str, ...]


@dataclass(frozen=True)
class Script:
    """Several argvs joined by one operator (`&&`, `||`, `;` or `|`)."""

    parts: tuple[Argv | Script | Redirect, ...]
    op: str = "&&"


@dataclass(frozen=True)
class Redirect:
    """An argv with its stdout (`>`, `>>`) or stderr (`2>`) sent to a file."""

    cmd: Argv
    path: str
    op: str = ">"


Command = Argv | Script | Redirect


def split_words(text: str) -> list[str]:
    """Split a command written as one string into words, as a POSIX shell would (raises ValueError on a
    quote left open)."""
    return shlex.split(text)


def argv(*words: str) -> Argv:
    return tuple(words)


def and_then(*parts: Command) -> Script:
    return Script(tuple(parts), "&&")


def sequence(*parts: Command) -> Script:
    return Script(tuple(parts), ";")


def pipe(*parts: Command) -> Script:
    return Script(tuple(parts), "|")


def or_else(*parts: Command) -> Script:
    return Script(tuple(parts), "||")


def write_to(cmd: Argv, path: str) -> Redirect:
    return Redirect(cmd, path, ">")


def append_to(cmd: Argv, path: str) -> Redirect:
    return Redirect(cmd, path, ">>")


def quiet(cmd: Argv) -> Redirect:
    """Discard the command's stderr (expected failures, such as a missing file)."""
    return Redirect(cmd, "/dev/null", "2>")


def _quote(word: str, masked: bool) -> str:
    if masked and isinstance(word, Secret):
        return "***"
    return shlex.quote(str(word))


def _render(cmd: Command, masked: bool) -> str:
    if isinstance(cmd, Redirect):
        return f"{_render(cmd.cmd, masked)} {cmd.op} {shlex.quote(cmd.path)}"
    if isinstance(cmd, Script):
        inner = f" {cmd.op} ".join(
            f"{{ {_render(p, masked)}; }}" if isinstance(p, Script) else _render(p, masked) for p in cmd.parts
        )
        return inner
    return " ".join(_quote(w, masked) for w in cmd)


def render(cmd: Command) -> str:
    """Shell text to execute."""
    return _render(cmd, masked=False)


def display(cmd: Command) -> str:
    """Shell text to show a person: secret words masked."""
    return _render(cmd, masked=True)
