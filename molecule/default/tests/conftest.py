"""Fixtures for the default scenario's checks; helpers live in molecule/shared."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))


@pytest.fixture(scope="module")
def process_count(host):
    """The role's default: one process per CPU, as Ansible counts them."""
    return int(host.check_output("grep -c ^processor /proc/cpuinfo"))
