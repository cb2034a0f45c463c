"""`python -m p2p_race` is the same as the `p2p-race` console script."""

import sys

from p2p_race.cli import main

sys.exit(main())
