"""wsfleet-echo: the example WebSocket app deployed by the wsfleet.deploy collection."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wsfleet-echo")
except PackageNotFoundError:
    # Running from a source tree (e.g. PYTHONPATH=src) rather than an installed wheel.
    __version__ = "0+unknown"
