"""Fixtures for the default scenario's checks; what every scenario's checks share is
wsfleet_support.checks (support/, installed into .venv)."""

import pytest


@pytest.fixture(scope="module")
def process_count(host):
    """The role's default: one process per CPU, as Ansible counts them."""
    return int(host.check_output("grep -c ^processor /proc/cpuinfo"))
