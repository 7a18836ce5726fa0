"""The health gate of a rollout: its waits, and what it makes of the probe's attempts."""

import itertools

import pytest
from ansible_collections.wsfleet.deploy.plugins.module_utils import health_gate
from ansible_collections.wsfleet.deploy.plugins.module_utils.websocket_probe import ProbeError


def test_waits_double_from_a_short_first_one_up_to_the_delay():
    assert list(itertools.islice(health_gate.backoff(0.25), 6)) == [
        0.02,
        0.04,
        0.08,
        0.16,
        0.25,
        0.25,
    ]


def test_a_delay_shorter_than_the_first_wait_caps_every_wait():
    assert list(itertools.islice(health_gate.backoff(0.01), 3)) == [0.01, 0.01, 0.01]


class OneSocket:
    def probe_target(self, slot, side):
        return "ws://localhost/", f"/run/echo/{slot}{side}.sock"


def gate_with(monkeypatch, answers, retries=5, check=None):
    """The gate of process 2b, the probe's attempts answering (an exception is raised);
    (its result, the waits it slept, the probe's calls)."""
    answers, calls, waits = list(answers), [], []

    def probe_once(url, unix_socket, **options):
        calls.append((url, unix_socket, options))
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(health_gate, "probe_once", probe_once)
    probe = health_gate.Probe(
        OneSocket(), "/healthz", retries, 0.25, 3.0, check=check, sleep=waits.append
    )
    return probe.gate(2, "b"), waits, calls


NO_MESSAGES = {"headers": {}, "subprotocols": [], "send": None, "expect": None}


def test_the_gate_passes_on_the_first_good_attempt_and_names_the_release(monkeypatch):
    answers = [ProbeError("refused"), ProbeError("refused"), {"health": {"release": "1.1.0"}}]
    result, waits, calls = gate_with(monkeypatch, answers)
    assert (result.passed, result.attempts, result.release) == (True, 3, "1.1.0")
    assert waits == [0.02, 0.04]
    assert calls[0] == (
        "ws://localhost/",
        "/run/echo/2b.sock",
        {"ping": True, "timeout": 3.0, "health_path": "/healthz", **NO_MESSAGES},
    )


@pytest.mark.parametrize(
    ("check", "url", "options"),
    [
        (health_gate.WebSocketCheck(), "ws://localhost/", NO_MESSAGES),
        (
            health_gate.WebSocketCheck(path="/ws?room=1", headers={"Authorization": "Bearer t"}),
            "ws://localhost/ws?room=1",
            {**NO_MESSAGES, "headers": {"Authorization": "Bearer t"}},
        ),
        (
            health_gate.WebSocketCheck(path="/", subprotocols=["chat.v1"], expect="^welcome"),
            "ws://localhost/",
            {**NO_MESSAGES, "subprotocols": ["chat.v1"], "expect": "^welcome"},
        ),
        (
            health_gate.WebSocketCheck(path="/ws", send="hello", expect="^hello$"),
            "ws://localhost/ws",
            {**NO_MESSAGES, "send": "hello", "expect": "^hello$"},
        ),
    ],
    ids=["default", "path-and-token", "subprotocol-and-greeting", "echo"],
)
def test_the_gate_asks_what_the_app_check_says(monkeypatch, check, url, options):
    _result, _waits, calls = gate_with(monkeypatch, [{"health": "ok"}], check=check)
    assert calls == [
        (
            url,
            "/run/echo/2b.sock",
            {"ping": True, "timeout": 3.0, "health_path": "/healthz", **options},
        )
    ]


def test_a_tcp_process_is_checked_at_the_path_on_its_own_port():
    assert health_gate.WebSocketCheck(path="/ws").url("ws://127.0.0.1:9002/") == (
        "ws://127.0.0.1:9002/ws"
    )


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        ([ProbeError("refused"), ProbeError("answered 500")], "answered 500"),
        ([ProbeError("refused")] * 2, "refused"),
    ],
    ids=["last-reason", "same-reason"],
)
def test_a_gate_that_never_passes_says_why_its_last_attempt_failed(monkeypatch, answers, reason):
    result, _waits, _calls = gate_with(monkeypatch, answers, retries=1)
    assert (result.passed, result.attempts, result.reason) == (False, 2, reason)


@pytest.mark.parametrize(
    ("health", "connections"),
    [({"connections": 12}, 12), ("ok", None), (ProbeError("refused"), None)],
    ids=["counted", "plain-text", "unreachable"],
)
def test_connections_are_what_the_health_check_counts(monkeypatch, health, connections):
    def check_health(url, path, unix_socket, timeout):
        if isinstance(health, Exception):
            raise health
        return 1.0, health

    monkeypatch.setattr(health_gate, "check_health", check_health)
    probe = health_gate.Probe(OneSocket(), "/healthz", 0, 0.25, 3.0)
    assert probe.connections(1, "a") == connections


GOOD_OPTIONS = {name: spec.get("default") for name, spec in health_gate.GATE_OPTIONS.items()}


@pytest.mark.parametrize(
    ("options", "problems"),
    [
        ({}, []),
        ({"check_path": "/ws?room=1", "check_expect": "^hello$"}, []),
        ({"check_path": "ws"}, ["check_path must start with /, got 'ws'"]),
        ({"check_path": "/#top"}, ["check_path must not hold a fragment (#)"]),
        ({"check_expect": "("}, ["check_expect is not a valid regular expression"]),
        ({"check_path": "ws", "check_expect": "("}, ["check_path", "check_expect"]),
    ],
)
def test_each_gate_option_that_could_never_pass_is_named(options, problems):
    found = health_gate.gate_problems({**GOOD_OPTIONS, **options})
    assert [
        message[: len(start)] for message, start in zip(found, problems, strict=True)
    ] == problems


def test_the_gate_options_make_the_probe_and_its_websocket_check():
    options = {
        **GOOD_OPTIONS,
        "health_retries": 3,
        "check_headers": {"X-Token": 7},
        "check_send": {"op": "hello"},
    }
    probe = health_gate.gate_from_options(options, OneSocket())
    assert (probe.path, probe.retries, probe.delay, probe.timeout) == ("/healthz", 3, 0.25, 5.0)
    assert probe.check.probe_options() == {
        "headers": {"X-Token": "7"},
        "subprotocols": [],
        "send": '{"op": "hello"}',
        "expect": None,
    }
