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


def gate_with(monkeypatch, answers, retries=5):
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
    probe = health_gate.Probe(OneSocket(), "/healthz", retries, 0.25, 3.0, sleep=waits.append)
    return probe.gate(2, "b"), waits, calls


def test_the_gate_passes_on_the_first_good_attempt_and_names_the_release(monkeypatch):
    answers = [ProbeError("refused"), ProbeError("refused"), {"health": {"release": "1.1.0"}}]
    result, waits, calls = gate_with(monkeypatch, answers)
    assert (result.passed, result.attempts, result.release) == (True, 3, "1.1.0")
    assert waits == [0.02, 0.04]
    assert calls[0] == (
        "ws://localhost/",
        "/run/echo/2b.sock",
        {"ping": True, "timeout": 3.0, "health_path": "/healthz"},
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
