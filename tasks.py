"""Gantry's Invoke entry point: `inv --list` shows every task, `inv --help TASK` its flags."""

from pathlib import Path

from gantry.cli import make_collection
from gantry.cli.program import adopt_invoke_cli

ns = make_collection(Path(__file__).resolve().parent)
adopt_invoke_cli()  # usage errors exit 2, as the README says
