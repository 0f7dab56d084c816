"""Gantry's Invoke entry point: `inv --list` shows every task, `inv --help TASK` its flags."""

from pathlib import Path

from gantry.cli import make_collection

ns = make_collection(Path(__file__).resolve().parent)
