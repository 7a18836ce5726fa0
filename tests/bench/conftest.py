"""Fixtures for the load generator tests: the real echo app and background load runs.

The echo server fixtures are those of tests/app, loaded from its conftest.py (which
also puts examples/echo_app/src on sys.path); the repository root goes on sys.path
so that ``bench`` is importable however pytest is started.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.wsload import LoadConfig, LoadRunner  # noqa: E402


def load_app_fixtures() -> ModuleType:
    # Both conftest.py files would be the module "conftest"; give tests/app's its own name.
    name = "wsfleet_tests_app_conftest"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "tests/app/conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered before running it: dataclasses look their module up in sys.modules.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


app_fixtures = load_app_fixtures()
short_tmp_dir = app_fixtures.short_tmp_dir
start_server = app_fixtures.start_server


StartLoad = Callable[..., LoadRunner]


@pytest.fixture
def unused_tcp_port() -> int:
    """A loopback port nothing listens on."""
    return app_fixtures.free_tcp_port()


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
