"""`python -m sim`: the same as `einklang sim`."""

import sys

from sim.cli import main

sys.exit(main(sys.argv[1:]))
