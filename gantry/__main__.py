"""`python -m gantry` is the `gantry` command."""

from gantry.cli_main import main

main()
