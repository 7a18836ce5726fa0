"""Where the project is, whether this package runs from a checkout or under molecule."""

from __future__ import annotations

import os
from pathlib import Path

# support/wsfleet_support/paths.py: the checkout is two folders up (an editable install keeps
# the package in place). Molecule names the project it runs for, which wins.
PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY") or Path(__file__).resolve().parents[2])
FLEET_STATE_ROOT = PROJECT / ".fleet"
# Every local fleet's hosts are reached with the project's one key (fleet/localfleet.py).
SSH_KEY = FLEET_STATE_ROOT / "ssh" / "id_ed25519"
EXAMPLE_APP = PROJECT / "examples" / "echo_app"
