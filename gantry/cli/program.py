"""Invoke's Program with Gantry's exit codes: a usage error (unknown task or flag, a flag without its value,
a value of the wrong kind) is one line on stderr and exit 2, never a traceback or Invoke's exit 1.

`inv` is Invoke's own Program (`invoke.main.program`); tasks.py calls `adopt_invoke_cli()` while that
program loads it, which makes the running program a GantryProgram for the rest of its parse.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator

from invoke import Exit, ParseError, Program
from invoke.exceptions import UnknownFileType
from yaml import YAMLError

from gantry.errors import EXIT_USAGE


@contextlib.contextmanager
def _usage_errors(binary: str = "inv") -> Iterator[None]:
    hint = f"run `{binary} --list` for the tasks, `{binary} --help TASK` for a task's flags"
    try:
        yield
    except ParseError as exc:
        raise Exit(f"error: {_one_line(str(exc))}\n  hint: {hint}", EXIT_USAGE) from None
    except ValueError as exc:  # Invoke casting a flag's value to its default's type
        raise Exit(f"error: bad flag value: {_one_line(str(exc))}\n  hint: {hint}", EXIT_USAGE) from None
    except Exit as exc:
        if exc.code == 1 and exc.message and "not found" in exc.message:  # `--list NO-SUCH-NAMESPACE`
            raise Exit(f"error: {_one_line(exc.message)}\n  hint: {hint}", EXIT_USAGE) from None
        raise


def _one_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "invalid command line"
    line = re.sub(r"Flag <Argument: ([\w-]+)[^>]*>", lambda m: "flag --" + m.group(1).replace("_", "-"), line)
    return line if len(line) <= 200 else line[:200] + "..."


class GantryProgram(Program):
    """Invoke's Program; parse errors exit 2 (README, 'Exit codes')."""

    def _shown_name(self) -> str:
        return "gantry" if "gantry" in (self._binary_names or []) else "inv"

    def parse_core(self, argv):  # noqa: D102 - Invoke hook
        with _usage_errors(self._shown_name()):
            super().parse_core(argv)

    def parse_tasks(self):  # noqa: D102 - Invoke hook
        with _usage_errors(self._shown_name()):
            super().parse_tasks()

    def update_config(self, merge: bool = True):  # noqa: D102 - Invoke hook
        try:
            super().update_config(merge)
        except (UnknownFileType, AttributeError, OSError, ValueError, SyntaxError, YAMLError):  # `-f FILE`
            raise Exit(f"error: -f/--config {_one_line(str(self.args.config.value))}: not an Invoke config file "
                       "(.yaml, .yml, .json or .py that Invoke can load)\n  hint: Gantry's tasks take compose "
                       "files as `-f` after the task name, e.g. `inv check -f FILE`", EXIT_USAGE) from None

    def parse_cleanup(self):  # noqa: D102 - Invoke hook
        try:
            with _usage_errors(self._shown_name()):
                super().parse_cleanup()
        except BrokenPipeError:  # `inv --list | head`: the reader went away
            sys.stderr.close()
            raise Exit(code=0) from None


def adopt_invoke_cli() -> None:
    """Give the running `inv` program Gantry's usage-error handling (it has parsed only core flags so far)."""
    from invoke import main

    if type(main.program) is Program:
        main.program.__class__ = GantryProgram
