"""Configuration of the echo server, read once from the environment.

The variables are the wsfleet app contract: the collection's templates set them
in the process manager's unit, and every deployed app reads the same names.
An empty value counts as unset, so a template can render ``WSFLEET_X=`` safely.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_RELEASE = "dev"
DEFAULT_INSTANCE = "0"
DEFAULT_DRAIN_TIMEOUT = 10.0
DEFAULT_PING_INTERVAL = 20.0
# PBKDF2-SHA256 rounds /work spends on each message: about 1 ms of CPU on a 2020s core.
DEFAULT_WORK_ITERATIONS = 3500

# Linux stores a unix socket path in 108 bytes, including the terminating NUL.
MAX_SOCKET_PATH_BYTES = 107

TRUE_VALUES = frozenset({"1", "true"})
FALSE_VALUES = frozenset({"0", "false"})


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to know about its deployment."""

    socket_path: str | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    reuse_port: bool = False
    release: str = DEFAULT_RELEASE
    instance: str = DEFAULT_INSTANCE
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT
    ping_interval: float = DEFAULT_PING_INTERVAL
    # Origins whose pages may open a WebSocket; empty: any (the edge checks already).
    origins: tuple[str, ...] = ()
    # Open connections beyond which a handshake is refused with 503; 0: no cap.
    max_connections: int = 0
    # PBKDF2 rounds per message at /work: a fixed cost, which a client cannot choose.
    work_iterations: int = DEFAULT_WORK_ITERATIONS

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Read the ``WSFLEET_*`` variables; raise ValueError naming a bad one."""
        return cls(
            socket_path=read_socket_path(environ, "WSFLEET_SOCKET"),
            host=read_text(environ, "WSFLEET_HOST", DEFAULT_HOST),
            port=read_port(environ, "WSFLEET_PORT", DEFAULT_PORT),
            reuse_port=read_flag(environ, "WSFLEET_REUSE_PORT"),
            release=read_text(environ, "WSFLEET_RELEASE", DEFAULT_RELEASE),
            instance=read_text(environ, "WSFLEET_INSTANCE", DEFAULT_INSTANCE),
            drain_timeout=read_seconds(
                environ, "WSFLEET_DRAIN_TIMEOUT", DEFAULT_DRAIN_TIMEOUT, allow_zero=True
            ),
            ping_interval=read_seconds(
                environ, "WSFLEET_PING_INTERVAL", DEFAULT_PING_INTERVAL, allow_zero=False
            ),
            origins=read_origins(environ, "WSFLEET_ORIGINS"),
            max_connections=read_count(environ, "WSFLEET_MAX_CONNECTIONS"),
            work_iterations=read_count(environ, "WSFLEET_WORK_ITERATIONS")
            or DEFAULT_WORK_ITERATIONS,
        )

    @property
    def bind_address(self) -> str:
        """Where the server is asked to listen, for messages (the log shows the real one)."""
        if self.socket_path is not None:
            return f"unix:{self.socket_path}"
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"


def read_text(environ: Mapping[str, str], name: str, default: str) -> str:
    return environ.get(name) or default


def read_socket_path(environ: Mapping[str, str], name: str) -> str | None:
    path = environ.get(name) or None
    # Fail here with the variable's name rather than at bind() with "AF_UNIX path too long".
    if path is not None and len(os.fsencode(path)) > MAX_SOCKET_PATH_BYTES:
        raise ValueError(
            f"{name} must be at most {MAX_SOCKET_PATH_BYTES} bytes long, got {len(path)}: {path!r}"
        )
    return path


def read_origins(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Space-separated origins, each scheme://host[:port] as a browser sends it."""
    origins = tuple((environ.get(name) or "").split())
    for origin in origins:
        if "://" not in origin or origin.endswith("/"):
            raise ValueError(f"{name} must list origins like https://example.com, got {origin!r}")
    return origins


def read_port(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer TCP port, got {raw!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{name} must be between 0 and 65535, got {raw!r}")
    return port


def read_count(environ: Mapping[str, str], name: str) -> int:
    """A whole number of zero or more; unset: 0."""
    raw = environ.get(name)
    if not raw:
        return 0
    try:
        count = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if count < 0:
        raise ValueError(f"{name} must be zero or more, got {raw!r}")
    return count


def read_flag(environ: Mapping[str, str], name: str) -> bool:
    raw = environ.get(name)
    if not raw:
        return False
    value = raw.strip().lower()
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    # A typo such as "ture" silently meaning False would be hard to notice.
    raise ValueError(f"{name} must be 1, true, 0 or false, got {raw!r}")


def read_seconds(
    environ: Mapping[str, str], name: str, default: float, *, allow_zero: bool
) -> float:
    raw = environ.get(name)
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
    # float() accepts "nan" and "inf", which would make every deadline meaningless.
    too_small = seconds < 0 if allow_zero else seconds <= 0
    if not math.isfinite(seconds) or too_small:
        bound = "zero or more" if allow_zero else "more than zero"
        raise ValueError(f"{name} must be a finite number of seconds, {bound}, got {raw!r}")
    return seconds
