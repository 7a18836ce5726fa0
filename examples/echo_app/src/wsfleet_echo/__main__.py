"""Allow ``python -m wsfleet_echo``."""

import sys

from .server import main

sys.exit(main())
