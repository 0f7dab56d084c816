"""`python -m gantry` is the `gantry` command."""

from gantry.cli.main import main

main()
