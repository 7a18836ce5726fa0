"""router_connections waits until the router holds no client connection, or the timeout; `ss`
and the clock are stand-ins."""

import pytest
from ansible_collections.wsfleet.deploy.plugins.modules import router_connections
from module_runner import Commands, run_module


def ss_lines(count, process="nginx", port=443):
    return "".join(
        f'0 0 10.89.0.5:{port} 203.0.113.{i}:5{i:04d} users:(("{process}",pid=2431,fd={i}))\n'
        for i in range(1, count + 1)
    )


class Clock:
    """time.monotonic and time.sleep: sleeping moves the clock on."""

    def __init__(self):
        self.now, self.sleeps = 100.0, []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(router_connections, "time", fake)
    return fake


def answers(monkeypatch, outputs):
    """ss answers these outputs in turn, then the last one again."""
    outputs = list(outputs)

    def answer(argv):
        assert argv == ["ss", "-Htnp", "state", "established"]
        return outputs.pop(0) if len(outputs) > 1 else outputs[0]

    return Commands(answer).install(monkeypatch)


@pytest.mark.parametrize(
    ("counts", "timeout", "connections", "polls", "waited"),
    [
        ([0], 120, 0, 1, 0.0),
        ([3, 2, 0], 120, 0, 3, 1.0),
        ([3], 0, 3, 1, 0.0),
        ([5, 4, 4, 4, 4, 4], 2, 4, 5, 2.0),
        ([2, 1, 1], 1.2, 1, 4, 1.5),
    ],
    ids=["none-held", "drains", "timeout-zero-counts-once", "times-out", "last-poll-past-deadline"],
)
def test_waits_until_none_is_held_or_the_timeout(
    monkeypatch, clock, counts, timeout, connections, polls, waited
):
    commands = answers(monkeypatch, [(0, ss_lines(count), "") for count in counts])
    ok, result = run_module(
        router_connections.main, router="nginx", ports=[80, 443], timeout=timeout
    )
    assert ok, result
    assert result["changed"] is False
    assert result["connections"] == connections
    assert len(commands.calls) == polls
    assert result["waited"] == waited
    assert all(seconds == router_connections.POLL_SECONDS for seconds in clock.sleeps)


def test_only_the_routers_own_client_connections_count(monkeypatch, clock):
    held = ss_lines(2, "haproxy", 443) + ss_lines(3, "nginx", 443) + ss_lines(4, "nginx", 8001)
    answers(monkeypatch, [(0, held, "")])
    ok, result = run_module(router_connections.main, router="nginx", ports=[80, 443])
    assert ok, result
    assert result["connections"] == 3


def test_check_mode_counts_too(monkeypatch, clock):
    answers(monkeypatch, [(0, ss_lines(2), "")])
    ok, result = run_module(
        router_connections.main, router="nginx", ports=[443], _ansible_check_mode=True
    )
    assert ok, result
    assert result["connections"] == 2


def test_a_failing_ss_fails(monkeypatch, clock):
    answers(monkeypatch, [(1, "", "Cannot open netlink socket: Permission denied\n")])
    ok, result = run_module(router_connections.main, router="nginx", ports=[443], timeout=30)
    assert not ok
    assert result["msg"] == "ss failed: Cannot open netlink socket: Permission denied"
    assert clock.sleeps == []
