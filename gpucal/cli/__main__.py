"""``python -m gpucal.cli``."""

import sys

from gpucal.cli import main

sys.exit(main())
