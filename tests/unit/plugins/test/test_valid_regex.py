"""The valid_regex test: what the fleet's preflight refuses as wsfleet_check_expect."""

import pytest
from ansible_collections.wsfleet.deploy.plugins.test import valid_regex


@pytest.mark.parametrize(
    ("pattern", "valid"),
    [
        ("^hello$", True),
        ('"ok": *true', True),
        ("", True),
        ("(unclosed", False),
        ("[a-", False),
        ("*starts with a repeat", False),
        (None, False),
    ],
)
def test_a_pattern_is_valid_when_python_compiles_it(pattern, valid):
    assert valid_regex.TestModule().tests()["valid_regex"](pattern) is valid
