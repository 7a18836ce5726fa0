"""The haproxy role's close-spread service (roles/haproxy/files): how many of an old process's
sessions it closes by when, and what it reads from HAProxy's master CLI."""

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = (
    Path(__file__).resolve().parents[2]
    / "roles"
    / "haproxy"
    / "files"
    / "wsfleet-haproxy-close-spread.py"
)


def load_script():
    # A host-side file, not a module of the collection: loaded from its path.
    spec = importlib.util.spec_from_file_location("close_spread", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    # Its dataclass looks itself up in sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


spread = load_script()


@pytest.mark.parametrize(
    ("remaining", "elapsed", "bound", "spread_seconds", "interval", "due"),
    [
        # Before the window: nothing.
        (100, 0, 60, 30, 1, 0),
        (100, 29, 60, 30, 1, 0),
        # Its first poll: 30 polls left (30..59), a thirtieth each, rounded up.
        (100, 30, 60, 30, 1, 4),
        (300, 30, 60, 30, 1, 10),
        # Half way, what is left over the 15 polls left.
        (150, 45, 60, 30, 1, 10),
        # The last poll before the bound closes everything left.
        (7, 59, 60, 30, 1, 7),
        (7, 59.5, 60, 30, 1, 7),
        # A poll that comes late (after the bound, hard-stop-after not yet done): all.
        (7, 61, 60, 30, 1, 7),
        # Polls every 5 s: at 40 s, the polls at 40, 45, 50, 55 share them.
        (100, 40, 60, 30, 5, 25),
        # Nothing left, no spread, a spread as long as the bound (from the reload on).
        (0, 50, 60, 30, 1, 0),
        (100, 50, 60, 0, 1, 0),
        (60, 0, 60, 60, 1, 1),
    ],
)
def test_closes_due(remaining, elapsed, bound, spread_seconds, interval, due):
    assert spread.closes_due(remaining, elapsed, bound, spread_seconds, interval) == due


def test_a_steady_poll_closes_evenly_over_the_window():
    remaining, closed_each_poll = 300, []
    for elapsed in range(60):
        due = spread.closes_due(remaining, elapsed, 60, 30, 1)
        remaining -= due
        closed_each_poll.append(due)
    assert remaining == 0
    assert closed_each_poll[:30] == [0] * 30
    assert closed_each_poll[30:] == [10] * 30


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0d00h00m00s", 0), ("0d00h02m07s", 127), ("1d01h00m01s", 90001), ("45s", 45)],
)
def test_uptime_seconds(text, seconds):
    assert spread.uptime_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "1x"])
def test_uptime_seconds_refuses_other_text(text):
    with pytest.raises(ValueError, match="not an uptime"):
        spread.uptime_seconds(text)


# As Debian's HAProxy 2.6 writes it, with two old workers.
SHOW_PROC = """\
#<PID>          <type>          <reloads>       <uptime>        <version>
1162            master          3 [failed: 0]   0d00h05m00s     2.6.12-1+deb12u1
# workers
1300            worker          0               0d00h00m10s     2.6.12-1+deb12u1
# old workers
1280            worker          1               0d00h00m40s     2.6.12-1+deb12u1
1250            worker          2               0d00h02m00s     2.6.12-1+deb12u1
# programs

"""


def test_old_workers_are_old_since_the_next_one_started():
    workers = spread.parse_workers(SHOW_PROC)
    assert [(worker.pid, worker.old) for worker in workers] == [
        (1300, False),
        (1280, True),
        (1250, True),
    ]
    # 1280 was replaced when 1300 started (10 s ago), 1250 when 1280 did (40 s ago).
    assert spread.seconds_old(workers) == {1280: 10, 1250: 40}


# Real lines of Debian's HAProxy 2.6 (`@!PID show sess` through the master CLI), cut short.
SHOW_SESS = """\
0x558098121fd0: proto=tcpv4 src=10.89.1.1:57188 fe=wsfleet_https be=wsfleet_edge srv=app3 ts=00
0x558098117020: proto=tcpv4 src=10.89.1.1:57202 fe=wsfleet_https be=wsfleet_edge srv=app1 ts=00
0x55809811a0b0: proto=sockpair src=unix:2 fe=GLOBAL be=<NONE> srv=<none> ts=00 epoch=0 age=0s
"""


def test_client_sessions_leave_out_the_cli_itself():
    assert spread.client_sessions(SHOW_SESS) == ["0x558098121fd0", "0x558098117020"]
