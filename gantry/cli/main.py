"""The `gantry` console script: Invoke's Program with Gantry's task collection, bound to the current project.

The project root is the nearest directory (the working directory or one above it) that has `environments/`;
without one (a repository before `gantry init`), it is the working directory. Tasks, flags, help and exit
codes are those of `inv` in this repository, since both are built by `gantry.cli.make_collection` and both
run as a `GantryProgram` (usage errors exit 2).
"""

from __future__ import annotations

from pathlib import Path

from gantry import __version__
from gantry.cli import make_collection
from gantry.cli.program import GantryProgram


def find_root(start: Path) -> Path:
    """The nearest directory at or above start that has environments/, else start itself."""
    for candidate in (start, *start.parents):
        if (candidate / "environments").is_dir():
            return candidate
    return start


def main(argv: list[str] | None = None) -> None:
    program = GantryProgram(version=__version__, namespace=make_collection(find_root(Path.cwd().resolve())),
                      name="Gantry", binary="gantry", binary_names=["gantry"])
    program.run(argv)
