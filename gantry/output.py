"""Human and JSON rendering. Human text goes to stderr, machine documents to stdout.

Colour only on a TTY without NO_COLOR; never cursor tricks, so a CI log reads like a terminal.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

_COLORS = {"ok": "32", "fail": "31", "warn": "33", "dim": "2", "bold": "1"}


def use_color(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


SUBSTRING_LENGTH = 8  # secrets.MIN_LENGTH: validation refuses shorter secret values


def make_redactor(values: Iterable[str]):
    """Replace every secret value (longest first) with ***.

    A value of SUBSTRING_LENGTH characters or more is masked wherever it appears, glued to other text too
    (`x${DB_PASSWORD}y` echoed by a job). A shorter one (validation refuses those; a rollback does not
    validate) only where it stands as a whole token (`web` in `webapp` stays), so it cannot garble a
    plan. Values under 3 characters are never masked.
    """
    pattern = _pattern(values)
    if pattern is None:
        return lambda text: text

    def redact(text: str) -> str:
        return pattern.sub("***", text)

    return redact


def _pattern(values: Iterable[str]) -> re.Pattern[str] | None:
    secrets = sorted({v for v in values if len(v) >= 3}, key=len, reverse=True)
    if not secrets:
        return None
    return re.compile("|".join(re.escape(v) if len(v) >= SUBSTRING_LENGTH else _whole(v) for v in secrets))


class MaskingWriter:
    """A stream (a TTY's output, read in chunks) with every secret masked as make_redactor masks it.

    A chunk may end inside a secret: the longest tail that could still grow into one (a prefix of a value,
    or a whole short value a word character could still follow) is held back until the next chunk or
    finish(). Anything else is written at once, so a prompt shows as soon as it arrives.
    """

    def __init__(self, stream: TextIO, values: Iterable[str]) -> None:
        self.stream = stream
        self.values = sorted({v for v in values if len(v) >= 3}, key=len, reverse=True)
        self.redact = make_redactor(self.values)
        self.pattern = _pattern(self.values)
        self.pending = ""

    def _held(self, text: str) -> int:
        """How many characters at the end of text might be the start of a secret."""
        longest = 0
        for value in self.values:
            whole = len(value) if len(value) < SUBSTRING_LENGTH else len(value) - 1
            for k in range(min(whole, len(text)), longest, -1):
                if text.endswith(value[:k]):
                    longest = k
                    break
        return longest

    def write(self, data: str) -> int:
        text = self.pending + data
        cut = len(text) - self._held(text)
        for match in self.pattern.finditer(text) if self.pattern else ():
            if match.start() < cut < match.end():  # a whole secret runs into the held tail: write it masked
                cut = len(text) - self._held(text[match.end():])
        self.pending = text[cut:]
        if cut:
            self.stream.write(self.redact(text[:cut]))
        return len(data)

    def flush(self) -> None:
        self.stream.flush()

    def finish(self) -> None:
        """Write what was held back (masked) and flush."""
        text, self.pending = self.pending, ""
        self.stream.write(self.redact(text))
        self.stream.flush()


def _whole(value: str) -> str:
    before = r"(?<!\w)" if re.match(r"\w", value[0]) else ""
    after = r"(?!\w)" if re.match(r"\w", value[-1]) else ""
    return before + re.escape(value) + after


@dataclass
class Console:
    """Writes progress for people to stderr; thread-safe; --quiet keeps only summaries and errors."""

    stream: TextIO = field(default_factory=lambda: sys.stderr)
    quiet: bool = False
    verbose: bool = False
    color: bool | None = None
    slow_after: float = 1.0  # a step still running after this long gets a "..." line
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _timers: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.color is None:
            self.color = use_color(self.stream)

    def paint(self, text: str, style: str) -> str:
        return f"\033[{_COLORS[style]}m{text}\033[0m" if self.color else text

    def say(self, text: str = "", *, always: bool = False) -> None:
        if self.quiet and not always:
            return
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def step(self, host: str, step: str, status: str, secs: float, detail: str) -> None:
        """A step's end, with its duration; its start too when it runs long (or always with --verbose)."""
        key = (host, step)
        if status == "start":
            line = f"  {host:<10} {step:<16} ..."
            if self.verbose:
                self.say(line)
            elif not self.quiet:
                timer = threading.Timer(self.slow_after, self.say, (line,))
                timer.daemon = True
                with self._lock:
                    self._timers[key] = timer
                timer.start()
            return
        with self._lock:
            timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        mark = self.paint("ok", "ok") if status == "ok" else self.paint("FAILED", "fail")
        extra = f"  {detail}" if detail else ""
        self.say(f"  {host:<10} {step:<16} {mark} {secs:6.2f}s{extra}", always=status == "fail")

    def command(self, host: str, text: str) -> None:
        if self.verbose:
            self.say(self.paint(f"  {host:<14} $ {text}", "dim"))


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def run_summary(result: Mapping) -> str:
    rows = [(h["host"], h.get("release") or "-", h["outcome"], f"{h['seconds']:.1f}s") for h in result["hosts"]]
    text = table(rows, ("host", "release", "outcome", "time"))
    counts: dict[str, int] = {}
    for h in result["hosts"]:
        counts[h["outcome"]] = counts.get(h["outcome"], 0) + 1
    verdict = {"ok": "OK", "unchanged": "OK, nothing to change", "failed": "FAILED",
               "interrupted": "INTERRUPTED"}.get(result["outcome"], result["outcome"].upper())
    closing = (f"{result['action']} {result['release']}: {verdict} ("
               + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + f"; exit {result['exit_code']})")
    problems = []
    for h in result["hosts"]:
        if h.get("error"):
            svc = f" (service {h['failing_service']})" if h.get("failing_service") else ""
            problems.append(f"{h['host']}{svc}: {h['error']}")
        if h.get("diagnostics"):
            problems.append("\n".join("    " + line for line in h["diagnostics"].splitlines()))
    return text + ("\n\n" + "\n".join(problems) if problems else "") + "\n\n" + closing


def timeline(result: Mapping) -> str:
    """Each host's steps with their start and end, in seconds from the start of the run (for --verbose)."""
    rows = [(h["host"], span["step"], f"{span['start']:.3f}", f"{span['end']:.3f}",
             f"{span['end'] - span['start']:.3f}") for h in result["hosts"] for span in h.get("timeline", ())]
    return "timeline (seconds from the start of the run)\n" + table(rows, ("host", "step", "start", "end", "took"))


JSON_PRINTED: list[bool] = []  # set once a task has printed its JSON document (one per run, never two)


def print_json(doc: object, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    stream.write(json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")
    stream.flush()
    JSON_PRINTED.append(True)
