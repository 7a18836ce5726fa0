"""Example chat service deployed by the wsfleet.deploy collection: rooms over WebSockets at /ws,
for clients holding a token, speaking the chat.v1 subprotocol."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wsfleet-chat")
except PackageNotFoundError:  # run from a checkout without being installed
    __version__ = "0.0.0"
