"""`python -m gantry.lab up N | down | status [ROOT]`."""

import sys

from gantry.lab import main

sys.exit(main(sys.argv[1:]))
