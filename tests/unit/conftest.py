# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make this checkout importable as the collection wsfleet.deploy in unit tests.

scripts/bootstrap.sh links the checkout as .collections/ansible_collections/wsfleet/deploy,
so `pytest tests/unit` works from the repo root without PYTHONPATH.
"""

import os
import sys

COLLECTIONS_PATH = os.path.abspath(
    os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, ".collections")
)

if COLLECTIONS_PATH not in sys.path:
    sys.path.insert(0, COLLECTIONS_PATH)
