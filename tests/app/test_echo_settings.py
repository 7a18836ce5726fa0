"""Unit tests of the app contract's configuration parsing (wsfleet_echo.settings)."""

from __future__ import annotations

import dataclasses

import pytest
from wsfleet_echo.settings import Settings


def test_defaults_listen_on_localhost_8000() -> None:
    settings = Settings.from_environ({})
    assert settings == Settings(
        socket_path=None,
        host="127.0.0.1",
        port=8000,
        reuse_port=False,
        release="dev",
        instance="0",
        drain_timeout=10.0,
        ping_interval=20.0,
    )
    assert settings.bind_address == "127.0.0.1:8000"


def test_tcp_settings_are_read() -> None:
    settings = Settings.from_environ(
        {
            "WSFLEET_HOST": "0.0.0.0",
            "WSFLEET_PORT": "9001",
            "WSFLEET_RELEASE": "20240501-abc",
            "WSFLEET_INSTANCE": "3",
            "WSFLEET_DRAIN_TIMEOUT": "2.5",
            "WSFLEET_PING_INTERVAL": "7",
            "UNRELATED": "ignored",
        }
    )
    assert settings.socket_path is None
    assert (settings.host, settings.port) == ("0.0.0.0", 9001)
    assert (settings.release, settings.instance) == ("20240501-abc", "3")
    assert settings.drain_timeout == 2.5
    assert settings.ping_interval == 7.0
    assert settings.bind_address == "0.0.0.0:9001"


def test_ipv6_bind_address_is_bracketed() -> None:
    settings = Settings.from_environ({"WSFLEET_HOST": "::1", "WSFLEET_PORT": "8080"})
    assert settings.bind_address == "[::1]:8080"


def test_socket_takes_precedence_over_tcp() -> None:
    settings = Settings.from_environ(
        {"WSFLEET_SOCKET": "/run/wsfleet/app.sock", "WSFLEET_PORT": "9001"}
    )
    assert settings.socket_path == "/run/wsfleet/app.sock"
    assert settings.bind_address == "unix:/run/wsfleet/app.sock"


def test_empty_values_mean_unset() -> None:
    empty = {
        name: ""
        for name in (
            "WSFLEET_SOCKET",
            "WSFLEET_HOST",
            "WSFLEET_PORT",
            "WSFLEET_REUSE_PORT",
            "WSFLEET_RELEASE",
            "WSFLEET_INSTANCE",
            "WSFLEET_DRAIN_TIMEOUT",
            "WSFLEET_PING_INTERVAL",
            "WSFLEET_MAX_CONNECTIONS",
        )
    }
    assert Settings.from_environ(empty) == Settings.from_environ({})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("TRUE", True), ("0", False), ("false", False), ("", False)],
)
def test_reuse_port_flag(raw: str, expected: bool) -> None:
    assert Settings.from_environ({"WSFLEET_REUSE_PORT": raw}).reuse_port is expected


def test_zero_drain_timeout_is_allowed() -> None:
    assert Settings.from_environ({"WSFLEET_DRAIN_TIMEOUT": "0"}).drain_timeout == 0.0


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("WSFLEET_PORT", "http"),
        ("WSFLEET_PORT", "80.5"),
        ("WSFLEET_PORT", "-1"),
        ("WSFLEET_PORT", "65536"),
        ("WSFLEET_REUSE_PORT", "yes please"),
        ("WSFLEET_DRAIN_TIMEOUT", "soon"),
        ("WSFLEET_DRAIN_TIMEOUT", "-1"),
        ("WSFLEET_DRAIN_TIMEOUT", "nan"),
        ("WSFLEET_DRAIN_TIMEOUT", "inf"),
        ("WSFLEET_PING_INTERVAL", "0"),
        ("WSFLEET_PING_INTERVAL", "20s"),
        ("WSFLEET_SOCKET", "/tmp/" + "s" * 200),
        ("WSFLEET_MAX_CONNECTIONS", "-1"),
        ("WSFLEET_MAX_CONNECTIONS", "1e4"),
    ],
)
def test_bad_value_raises_value_error_naming_the_variable(name: str, raw: str) -> None:
    with pytest.raises(ValueError, match=name) as excinfo:
        Settings.from_environ({name: raw})
    assert repr(raw) in str(excinfo.value)


def test_the_connection_cap_is_read_and_zero_means_none() -> None:
    assert Settings.from_environ({"WSFLEET_MAX_CONNECTIONS": "2500"}).max_connections == 2500
    assert Settings.from_environ({}).max_connections == 0


def test_settings_are_frozen() -> None:
    settings = Settings.from_environ({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]


def test_origins_are_a_space_separated_list() -> None:
    environ = {"WSFLEET_ORIGINS": "https://example.com  https://chat.example.com:8443"}
    assert Settings.from_environ(environ).origins == (
        "https://example.com",
        "https://chat.example.com:8443",
    )
    assert Settings.from_environ({}).origins == ()


def test_an_origin_must_be_scheme_and_host() -> None:
    with pytest.raises(ValueError, match="WSFLEET_ORIGINS"):
        Settings.from_environ({"WSFLEET_ORIGINS": "example.com"})
