"""The websocket_path test: what the fleet's preflight refuses as wsfleet_check_path."""

import pytest
from ansible_collections.wsfleet.deploy.plugins.test import websocket_path


@pytest.mark.parametrize(
    ("path", "valid"),
    [
        ("/", True),
        ("/ws?room=health", True),
        ("/ws?token=a%23b", True),
        ("ws", False),
        ("", False),
        ("/ws#top", False),
        ("http://host/ws", False),
    ],
)
def test_a_path_is_valid_when_it_starts_with_a_slash_and_has_no_fragment(path, valid):
    assert websocket_path.TestModule().tests()["websocket_path"](path) is valid
