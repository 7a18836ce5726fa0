"""Fixtures for the load generator tests: the real echo app (wsfleet_support.echo_app, as in
tests/app) and background load runs."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from wsfleet_support.echo_app import free_tcp_port, short_tmp_dir, start_server
from wsfleet_support.wsload import LoadConfig, LoadRunner

__all__ = ["short_tmp_dir", "start_server"]


StartLoad = Callable[..., LoadRunner]


@pytest.fixture
def unused_tcp_port() -> int:
    """A loopback port nothing listens on."""
    return free_tcp_port()


@pytest.fixture
def start_load() -> Iterator[StartLoad]:
    """Start LoadRunners from LoadConfig options; any still running is stopped at teardown."""
    runners: list[LoadRunner] = []

    def start(**options: object) -> LoadRunner:
        runner = LoadRunner(LoadConfig(**options))  # type: ignore[arg-type]
        runners.append(runner)
        runner.start()
        return runner

    yield start
    for runner in runners:
        # The test's own failure matters more than a second one while cleaning up.
        with contextlib.suppress(Exception):
            runner.stop()
