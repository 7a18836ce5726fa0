"""Faults a fleet meets, each under live WebSocket load through the edge.

Clients of a host that dies, or whose connections the fault cuts, are expected to see 1006
(abnormal closure): they are counted apart, and what is asserted is what must hold anyway:
no message lost (every client resends what was not echoed), new handshakes served by the
hosts that remain, and the fleet whole again afterwards. Each test records its figures, which
the module writes to faults.json at the end (WSFLEET_FAULTS_REPORT, else the scenario's
ephemeral folder). The steps share the fleet: tests of one module, run in file order.
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from wsfleet_support.checks import app
from wsfleet_support.checks.edge import (
    address,
    certificate_serial,
    echo_through,
    floating_holders,
    remote,
    renew_through_the_timers_service,
    timed_handshake,
)
from wsfleet_support.checks.live_load import container, figures, live_clients
from wsfleet_support.checks.playbooks import (
    ansible_playbook,
    changed_counts,
    changed_tasks,
    playbook_command,
    run_ok,
)
from wsfleet_support.checks.tls import fleet_name, https_get
from wsfleet_support.fleet import SHARED_NAME, molecule_fleet

APPS = app.hosts_of("app")
EDGES = app.hosts_of("edge")
EDGE = EDGES[0]
# The faults report's run sets more (bench/faults.py --clients), and HAProxy at the edge.
CLIENTS = int(os.environ.get("WSFLEET_FAULTS_CLIENTS", "200"))
EDGE_ROUTER = os.environ.get("WSFLEET_FAULTS_EDGE_ROUTER", "nginx")
# The main process of each router (HAProxy's master), as Debian's units write it.
EDGE_ROUTER_PID_FILES = {"nginx": "/run/nginx.pid", "haproxy": "/run/haproxy.pid"}
# A release that fails its gate is given up after this many more attempts.
QUICK_GATE = {"wsfleet_app_health_retries": 12}
# Functional deadlines only: how long to wait for something that must happen.
RECOVERY_DEADLINE = 120
FIGURES = {}


@pytest.fixture(scope="module", autouse=True)
def faults_report():
    yield
    default = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "faults.json"
    path = Path(os.environ.get("WSFLEET_FAULTS_REPORT") or default)
    path.write_text(json.dumps(FIGURES, indent=2) + "\n")


def wait_until(condition, deadline=RECOVERY_DEADLINE, step=0.1):
    """Seconds until condition() held, or None when it never did in time."""
    started = time.monotonic()
    while time.monotonic() - started < deadline:
        if condition():
            return time.monotonic() - started
        time.sleep(step)
    return None


def edge_answers():
    try:
        status, _, _ = https_get(address(EDGE), fleet_name(EDGE))
    except OSError:
        return False
    return status == 200


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    """2.0.0, good; 6.6.6, whose every process exits at once with status 3 (a crash loop);
    3.0.0, good but slow to start (5 s before it listens), which holds a surge open long enough
    for the controller to be killed in the middle of it."""
    sources = {
        version: app.example_app_at_version(tmp_path_factory, version)
        for version in ("2.0.0", "6.6.6", "3.0.0")
    }
    start = "def main() -> int:\n    configure_logging()\n"
    app.rewrite_server(sources["6.6.6"], start, start + "    return 3\n")
    listen = "    if settings.socket_path is not None:\n        remove_stale_socket"
    app.rewrite_server(sources["3.0.0"], listen, "    await asyncio.sleep(5)\n" + listen)
    return {version: str(path) for version, path in sources.items()}


def answers_at(floating):
    """Whether a wss:// handshake and an echo through a floating address succeed now."""
    try:
        return echo_through(EDGE, server_name=SHARED_NAME, connect_address=floating, open_timeout=1)
    except Exception:  # refused, timed out, reset: not answering yet, whatever the cause
        return False


def answers_from(edge, floating):
    """Whether that edge holds the floating address and a handshake through it succeeds."""
    return floating_holders([edge]).get(floating) == edge and answers_at(floating)


@contextlib.contextmanager
def clients_at_each_floating_address():
    """CLIENTS clients spread evenly over the floating addresses (by the edges' shared name), as
    the name's addresses spread them; yields {address: the reports list of its clients} and
    {address: their load runner}."""
    addresses = molecule_fleet().floating_addresses()
    with contextlib.ExitStack() as stack:
        loads = {
            floating: stack.enter_context(
                live_clients(
                    CLIENTS // len(addresses), server_name=SHARED_NAME, connect_to=floating
                )
            )
            for floating in addresses
        }
        yield (
            {floating: reports for floating, (reports, _) in loads.items()},
            {floating: runner for floating, (_, runner) in loads.items()},
        )


def all_reconnected(runner):
    """Whether every client of that load holds a connection again: a load ended before some
    had reconnected would count what they have still to resend as lost."""
    return wait_until(lambda: runner.snapshot().open_connections == runner.config.clients, step=0.5)


def back_where_they_were(holders):
    """Seconds until every floating address is held by the edge that held it before (None if
    not within a minute): keepalived's preemption gives each back to the edge that prefers it."""
    return wait_until(lambda: floating_holders() == holders, deadline=60, step=0.5)


def connections_at(edge, local_address):
    """The TCP connections an edge holds with that local address."""
    listed = remote(edge).check_output(
        f"ss --tcp --numeric --no-header state connected src {local_address}"
    )
    return listed.splitlines()


def assert_never_noticed(report):
    """Clients of an edge that kept its address: no closure, no failed handshake, no loss."""
    summary = report.summary()
    assert report.abnormal_closures == 0 and report.handshakes_failed == 0, summary
    assert report.messages_lost == 0 and report.reconnects == 0, summary


def test_each_edge_holds_one_floating_address():
    holders = floating_holders()
    assert sorted(holders) == sorted(molecule_fleet().floating_addresses())
    assert sorted(holders.values()) == sorted(EDGES), holders


def test_an_edge_stopped_hands_its_floating_address_to_the_other():
    holders = floating_holders()
    moved, stayed = sorted(holders)
    stopped, other = holders[moved], holders[stayed]
    networks = container_networks(stopped)
    with clients_at_each_floating_address() as (reports, runners):
        # The host shuts down as a VM does (systemd stops its services); meanwhile, how soon
        # the address answers again from the other edge.
        stopping = subprocess.Popen(
            ["podman", "stop", "--time", "30", container(stopped)], stdout=subprocess.DEVNULL
        )
        stopped_at = time.monotonic()
        answered = wait_until(lambda: answers_from(other, moved), deadline=60, step=0.05)
        back_after = time.monotonic() - stopped_at
        assert stopping.wait(timeout=60) == 0
        assert floating_holders([other]) == {moved: other, stayed: other}
        # Every client of the stopped edge reconnects through the address.
        reconnected = all_reconnected(runners[moved])
    assert answered is not None, f"{moved} did not answer from {other}"
    assert reconnected is not None, "clients of the stopped edge did not all reconnect"
    cut, untouched = reports[moved][0], reports[stayed][0]
    # The stopped edge's clients were cut and came back through the other edge; none of their
    # messages was lost. The other edge's own clients never noticed.
    assert cut.messages_lost == 0 and cut.reconnects > 0, cut.summary()
    assert_never_noticed(untouched)
    FIGURES["edge_host_stopped"] = {
        **figures(cut),
        "address_back_after_seconds": round(back_after, 2),
        "other_edge_clients": untouched.clients,
        "other_edge_abnormal_closures": untouched.abnormal_closures,
        "other_edge_messages_lost": untouched.messages_lost,
    }
    # Back up, it takes its address back (keepalived's preemption, the default), and a run of
    # site.yml changes nothing anywhere.
    start_at_its_address(stopped, networks)
    assert wait_until(lambda: booted(stopped), step=1) is not None
    assert back_where_they_were(holders) is not None
    again = run_ok("site.yml")
    assert set(changed_counts(again.stdout).values()) == {0}, changed_tasks(again.stdout)


def test_an_edge_in_maintenance_gives_its_address_away_and_takes_it_back():
    holders = floating_holders()
    moved, stayed = sorted(holders)
    drained, other = holders[moved], holders[stayed]
    with clients_at_each_floating_address() as (reports, runners):
        run_ok("playbooks/maintenance.yml", "--limit", drained, wsfleet_maintenance="drain")
        try:
            assert floating_holders() == {moved: other, stayed: other}
            # Its router's connections through the address were reset as it left: none is left
            # to meet a client's new connection when the address comes back.
            assert wait_until(lambda: not connections_at(drained, moved), deadline=10) is not None
            assert answers_at(moved)
            # Its certificate renews all the same: the CA reaches the shared name at the other
            # edge, which forwards the challenge to the edge that asked.
            serial = certificate_serial(drained)
            renew_through_the_timers_service(drained)
            assert certificate_serial(drained) != serial
        finally:
            # Back in service whatever failed: an edge left in maintenance fails what follows.
            run_ok("playbooks/maintenance.yml", "--limit", drained, wsfleet_maintenance="ready")
        assert back_where_they_were(holders) is not None
        assert all_reconnected(runners[moved]) is not None
    cut, untouched = reports[moved][0], reports[stayed][0]
    assert cut.messages_lost == 0, cut.summary()
    assert_never_noticed(untouched)
    FIGURES["edge_maintenance"] = {
        **figures(cut),
        "other_edge_clients": untouched.clients,
        "other_edge_abnormal_closures": untouched.abnormal_closures,
    }


def test_the_edge_router_killed_comes_back_by_itself():
    edge = remote(EDGE)
    pid_file = EDGE_ROUTER_PID_FILES[EDGE_ROUTER]
    before = edge.check_output(f"cat {pid_file}")
    holders = floating_holders()
    with live_clients(CLIENTS) as (reports, runner):
        killed_at, killed_epoch = time.monotonic(), int(time.time())
        edge.run(f"kill -KILL {before}")
        # Its workers serve on until systemd ends them (the unit's stop timeout), then the
        # edge is down until the restart.
        assert wait_until(lambda: not edge_answers(), deadline=30, step=0.02) is not None
        recovered = wait_until(edge_answers, step=0.05)
        back_after = time.monotonic() - killed_at
        # Every client reconnects (from one address here: within the edge's handshake limit
        # per address, some after a 429 and a retry).
        reconnected = all_reconnected(runner)
    # Whether keepalived's check gave the edge's addresses away meanwhile (it should outlast a
    # restart): recorded, not asserted, since it races the restart's length.
    keepalived_log = edge.check_output(
        f"journalctl --unit keepalived.service --since @{killed_epoch} --no-pager"
    )
    addresses_moved = "Entering FAULT STATE" in keepalived_log
    report = reports[0]
    assert recovered is not None, f"the edge's {EDGE_ROUTER} did not come back"
    assert reconnected is not None, "its clients did not all reconnect"
    assert edge.check_output(f"cat {pid_file}") != before
    assert edge.service(EDGE_ROUTER).is_running
    # Its clients were cut (1006) and came back; none of their messages was lost.
    assert report.messages_lost == 0, report.summary()
    FIGURES["edge_router_killed"] = {
        **figures(report),
        "back_after_seconds": round(back_after, 2),
        "addresses_moved": addresses_moved,
    }
    # Wherever they went, the addresses come back to the edges that prefer them.
    assert back_where_they_were(holders) is not None


def test_the_edge_cut_off_from_an_app_host_sends_handshakes_to_the_others():
    cut = APPS[-1]
    host = remote(cut)
    # The edge reaches the app hosts from its private address, not its inventory one.
    edge_address = molecule_fleet().private_address(EDGE)
    drop = (
        "nft add table inet wsfleet_fault && nft add chain inet wsfleet_fault input "
        "'{ type filter hook input priority -10; }' && "
        f"nft add rule inet wsfleet_fault input ip saddr {edge_address} drop"
    )
    with live_clients(CLIENTS) as (reports, _runner):
        host.check_output(drop)
        try:
            # Every new handshake gets through: one that lands on the cut host waits the
            # edge's connect timeout and is retried on another.
            handshakes = [timed_handshake(EDGE) for _ in range(20)]
        finally:
            host.check_output("nft delete table inet wsfleet_fault")
    report = reports[0]
    # Packets were dropped, not refused: the open connections through the cut host stalled
    # and resumed when it ended; nothing they sent was lost.
    assert report.messages_lost == 0, report.summary()
    FIGURES["edge_cut_off_from_an_app_host"] = {
        **figures(report),
        "new_handshakes": len(handshakes),
        "new_handshake_seconds_max": round(max(handshakes), 3),
        "new_handshake_seconds_median": round(sorted(handshakes)[len(handshakes) // 2], 3),
    }


def test_a_crash_looping_release_is_caught_by_the_gate_and_rolled_back(releases):
    first = APPS[0]
    before = {name: app.current_release(remote(name)) for name in APPS}
    with live_clients(CLIENTS) as (reports, _runner):
        result = ansible_playbook(
            "playbooks/deploy.yml", wsfleet_app_source_path=releases["6.6.6"], **QUICK_GATE
        )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert f"Rollout stopped at {first}, now back on {before[first]}" in output
    for name in APPS:
        host = remote(name)
        assert app.current_release(host) == before[name]
        # The crash loop never left a unit failed for good, and nothing else runs.
        assert host.check_output("systemctl --failed --no-legend --plain") == ""
        assert len(app.live_units(host)) == len(host.process.filter(user=app.APP))
    # Surge: the crashing successors never received a client, so nobody was moved.
    report = reports[0]
    assert report.handshakes_failed == 0 and report.abnormal_closures == 0, report.summary()
    assert report.messages_lost == 0, report.summary()
    FIGURES["crash_looping_release"] = figures(report)


@pytest.fixture
def a_full_disk():
    """The releases folder of the last app host on a small filesystem of its own, full."""
    host = remote(APPS[-1])
    releases = f"{app.BASE_DIR}/releases"
    host.check_output(
        f"mkdir -p /root/releases.real && mount --bind {releases} /root/releases.real && "
        f"mount -t tmpfs -o size=200m wsfleet-fault {releases} && "
        f"cp -a /root/releases.real/. {releases}/ && "
        f"fallocate -l $(( $(df --output=avail -B1 {releases} | tail -1) - 8*1024*1024 )) "
        f"{releases}/.filler"
    )
    yield host
    host.check_output(f"umount {releases} && umount /root/releases.real")


def test_a_full_disk_stops_the_deploy_before_anything_switches(releases, a_full_disk):
    before = {name: app.current_release(remote(name)) for name in APPS}
    with live_clients(CLIENTS) as (reports, _runner):
        result = ansible_playbook("playbooks/deploy.yml", wsfleet_app_source_path=releases["2.0.0"])
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "wsfleet_app_min_free_space_mb" in output
    assert "nothing was installed or switched" in output
    assert "Roll this host out" not in output
    for name in APPS:
        assert app.current_release(remote(name)) == before[name]
    installed = a_full_disk.check_output(f"ls {app.BASE_DIR}/releases").split()
    assert not [name for name in installed if name.startswith("2.0.0-")]
    report = reports[0]
    assert report.handshakes_failed == 0 and report.messages_lost == 0, report.summary()
    FIGURES["full_disk_during_deploy"] = figures(report)


def surge_under_way(host):
    """The release switched and a successor runs beside the process it will replace."""
    pending = host.file(f"{app.BASE_DIR}/.rollout-pending").exists
    return pending and len(app.active_units(host)) > len(app.live_units(host))


def cut_the_deploy_short(source, first):
    """Start a deploy, and kill the controller and the module on the first host mid-surge."""
    command, environment = playbook_command("playbooks/deploy.yml", wsfleet_app_source_path=source)
    deploy = subprocess.Popen(
        command, env=environment, stdout=subprocess.DEVNULL, start_new_session=True
    )
    host = remote(first)
    assert wait_until(lambda: surge_under_way(host), deadline=300, step=0.2) is not None, (
        "no surge was seen"
    )
    os.killpg(deploy.pid, signal.SIGKILL)
    deploy.wait()
    # The module's own process on the host dies too, as it would with its controller's host.
    host.run("pkill -KILL -u root -f 'venv/bin/python'")


def test_a_controller_killed_mid_rollout_leaves_nothing_a_rerun_does_not_heal(releases):
    first = APPS[0]
    with live_clients(CLIENTS) as (reports, _runner):
        cut_the_deploy_short(releases["3.0.0"], first)
        assert remote(first).file(f"{app.BASE_DIR}/.rollout-pending").exists
        rerun_started = time.monotonic()
        run_ok("playbooks/deploy.yml", wsfleet_app_source_path=releases["3.0.0"])
        rerun_seconds = time.monotonic() - rerun_started
    for name in APPS:
        host = remote(name)
        units = app.active_units(host)
        live = app.live_units(host)
        # One process per slot, the one its link reaches; every process on the live release.
        assert len(units) == len(live), units
        for slot, unit in live.items():
            link = host.file(f"{app.RUNTIME_DIR}/{slot}.sock").linked_to
            assert link == f"{app.RUNTIME_DIR}/{unit.split('@')[1]}.sock"
            assert app.healthz(host, f"{app.RUNTIME_DIR}/{slot}.sock")["body"]["version"] == "3.0.0"
        assert app.current_release(host).startswith("3.0.0-")
        assert not host.file(f"{app.BASE_DIR}/.rollout-pending").exists
        assert not host.file("/run/wsfleet-nginx-drain").exists
    # The cut surge and the re-run moved clients only with clean 1012 closes.
    report = reports[0]
    assert report.handshakes_failed == 0 and report.abnormal_closures == 0, report.summary()
    assert report.messages_lost == 0, report.summary()
    FIGURES["controller_killed_mid_rollout"] = {
        **figures(report),
        "rerun_seconds": round(rerun_seconds, 1),
    }


def podman(*args):
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=True).stdout


def container_networks(name):
    """{network: (address, aliases)} of a host's container."""
    networks = json.loads(
        podman("inspect", "--format", "{{json .NetworkSettings.Networks}}", container(name))
    )
    return {
        network: (settings["IPAddress"], [a for a in settings.get("Aliases") or [] if "." in a])
        for network, settings in networks.items()
    }


def start_at_its_address(name, networks):
    """Start a stopped host again with the address and names it had: podman would otherwise
    give it the next free address, and the fleet knows its hosts by address. One network at a
    time, so that each gets back the only free interface name, the one it had (keepalived names
    the interface of the floating addresses); the order of the default routes may change."""
    for network, (ip, aliases) in networks.items():
        aliases = [name, *aliases]
        podman("network", "disconnect", network, container(name))
        podman(
            "network",
            "connect",
            "--ip",
            ip,
            *[arg for alias in aliases for arg in ("--alias", alias)],
            network,
            container(name),
        )
    podman("start", container(name))


def booted(name):
    """Whether the host is reachable over SSH and systemd finished starting it."""
    try:
        state = remote(name).run("systemctl is-system-running --wait").stdout.strip()
    except Exception:  # unreachable while it boots: whatever the backend raises
        return False
    return state in ("running", "degraded")


def test_an_app_host_stopped_mid_deploy_fails_alone_and_a_rerun_heals_it(releases):
    first, stopped = APPS[0], APPS[-1]
    command, environment = playbook_command(
        "playbooks/deploy.yml",
        wsfleet_app_source_path=releases["2.0.0"],
        wsfleet_rolling_max_fail_percentage=50,
    )
    with live_clients(CLIENTS) as (reports, _runner):
        deploy = subprocess.Popen(
            command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        # The moment the first host's rollout has switched, the other host dies.
        assert wait_until(
            lambda: app.current_release(remote(first)).startswith("2.0.0-"), deadline=600, step=0.5
        )
        networks = container_networks(stopped)
        podman("stop", "--time", "0", container(stopped))
        output, _ = deploy.communicate(timeout=900)
        served_meanwhile = [timed_handshake(EDGE) for _ in range(10)]
    report = reports[0]
    # Only the stopped host failed; the rollout went on as max_fail_percentage allows.
    assert deploy.returncode != 0
    assert re.search(rf"{stopped}\s+: .*unreachable=1", output), output[-3000:]
    assert re.search(rf"{first}\s+: .*unreachable=0\s+failed=0", output), output[-3000:]
    assert app.current_release(remote(first)).startswith("2.0.0-")
    assert report.messages_lost == 0, report.summary()
    FIGURES["app_host_stopped_mid_deploy"] = {
        **figures(report),
        "new_handshake_seconds_max_with_a_host_down": round(max(served_meanwhile), 3),
    }
    # Back up, the same deploy converges it, and then nothing changes.
    start_at_its_address(stopped, networks)
    assert wait_until(lambda: booted(stopped), step=1) is not None
    run_ok("playbooks/deploy.yml", wsfleet_app_source_path=releases["2.0.0"])
    again = run_ok("site.yml", wsfleet_app_source_path=releases["2.0.0"])
    assert set(changed_counts(again.stdout).values()) == {0}, changed_tasks(again.stdout)
    for name in APPS:
        assert app.current_release(remote(name)).startswith("2.0.0-")
