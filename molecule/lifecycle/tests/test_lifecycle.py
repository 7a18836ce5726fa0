"""A deployed fleet through its life: crashes, new releases, pruning, rollback, scaling,
binding modes and refused input. Each step runs the real playbooks, then checks every app host.

The steps depend on each other, so they are tests of one module run in file order, each
checking all app hosts itself (testinfra's per-host parametrisation would reorder them).
"""

import json
import re
import time

import pytest

from wsfleet_support import stats
from wsfleet_support.checks import app
from wsfleet_support.checks.live_load import assert_nothing_dropped, live_clients
from wsfleet_support.checks.playbooks import ansible_playbook, run_ok

NGINX_DRAIN_FILE = "/run/wsfleet-nginx-drain"
# What site.yml leaves on a host between the drain and the end of its switch.
SWITCH_MARKER = "/var/lib/wsfleet-deploy-switching"
# Balance after a surge: the busiest process holds at most this much over the mean.
MAX_OVER_MEAN = 1.25
# Seconds to wait for systemd to bring a killed process back; a functional deadline only.
RECOVERY_DEADLINE = 60


def app_hosts():
    return [app.remote_host(name) for name in app.hosts_of("app")]


def previous_release(host):
    return host.file(f"{app.BASE_DIR}/previous").linked_to.split("/")[-1]


def running_instances(host):
    return sorted(app.live_units(host))


@pytest.fixture(scope="module")
def app_versions(tmp_path_factory):
    """Copies of the example app at new versions: each deploy is a new release."""
    return {
        version: str(app.example_app_at_version(tmp_path_factory, version))
        for version in ("1.1.0", "1.2.0")
    }


def answers_healthz_again(host, socket_path, killed_pid, current_pid):
    """Wait for a new process to serve on the socket. The killed one left its socket file
    behind, so the file existing proves nothing: only an answer from a new pid does."""
    deadline = time.monotonic() + RECOVERY_DEADLINE
    while time.monotonic() < deadline:
        if current_pid() not in (0, killed_pid):
            probe = host.run(app.probe_command(host, "healthz", socket_path))
            if probe.rc == 0 and json.loads(probe.stdout)["status"] == 200:
                return True
        time.sleep(0.5)
    return False


def test_a_killed_process_comes_back():
    for host in app_hosts():
        killed = app.main_pid(host, 1)
        host.check_output(f"kill -KILL {killed}")
        assert answers_healthz_again(
            host, f"{app.RUNTIME_DIR}/1.sock", killed, lambda host=host: app.main_pid(host, 1)
        )


def test_every_process_is_sandboxed_with_an_ok_exposure_score():
    for host in app_hosts():
        unit = app.live_units(host)[1]
        report = host.check_output(f"systemd-analyze security --no-pager {unit}.service")
        score = float(re.search(r"Overall exposure level for \S+: ([\d.]+)", report).group(1))
        assert score <= 2.0, report


def test_open_file_limit_follows_the_connection_target():
    for host in app_hosts():
        limit = host.check_output(
            f"systemctl show -p LimitNOFILE --value {app.live_units(host)[1]}"
        )
        assert int(limit) == 10000 + 1024


def test_new_releases_go_live_and_old_ones_are_pruned(app_versions):
    first = {host.backend.host: app.current_release(host) for host in app_hosts()}
    for version in ("1.1.0", "1.2.0"):
        source = app_versions[version]
        run_ok("site.yml", wsfleet_app_source_path=source, wsfleet_app_keep_releases=2)
    for host in app_hosts():
        releases = host.check_output(f"ls {app.BASE_DIR}/releases").split()
        live, previous = app.current_release(host), previous_release(host)
        assert live.startswith("1.2.0-")
        assert previous.startswith("1.1.0-")
        assert sorted(releases) == sorted([live, previous])
        assert first[host.backend.host] not in releases
        for index in running_instances(host):
            health = app.healthz(host, f"{app.RUNTIME_DIR}/{index}.sock")["body"]
            assert (health["version"], health["release"]) == ("1.2.0", live)


def test_rollback_makes_the_previous_release_live_again():
    before = {host.backend.host: app.main_pid(host, 1) for host in app_hosts()}
    run_ok("playbooks/rollback.yml")
    for host in app_hosts():
        live = app.current_release(host)
        assert live.startswith("1.1.0-")
        assert previous_release(host).startswith("1.2.0-")
        assert app.main_pid(host, 1) != before[host.backend.host], "the processes must restart"
        for index in running_instances(host):
            assert (
                app.healthz(host, f"{app.RUNTIME_DIR}/{index}.sock")["body"]["version"] == "1.1.0"
            )


def test_rollback_to_a_named_release():
    named = next(
        name
        for name in app_hosts()[0].check_output(f"ls {app.BASE_DIR}/releases").split()
        if name.startswith("1.2.0-")
    )
    run_ok("playbooks/rollback.yml", wsfleet_app_rollback_release=named)
    for host in app_hosts():
        assert app.current_release(host) == named


def test_scaling_up_starts_only_the_new_processes(app_versions):
    # From what the hosts run now (one process per CPU by default) to one more.
    before = {
        host.backend.host: {index: app.main_pid(host, index) for index in running_instances(host)}
        for host in app_hosts()
    }
    wanted = max(len(pids) for pids in before.values()) + 1
    run_ok("site.yml", wsfleet_app_source_path=app_versions["1.2.0"], wsfleet_app_processes=wanted)
    for host in app_hosts():
        assert running_instances(host) == list(range(1, wanted + 1))
        kept = before[host.backend.host]
        assert {index: app.main_pid(host, index) for index in kept} == kept
        health = app.healthz(host, f"{app.RUNTIME_DIR}/{wanted}.sock")["body"]
        assert health["instance"] == str(wanted)
        assert len(app_upstream_servers(host)) == wanted


def test_scaling_down_stops_only_the_surplus(app_versions):
    before = {host.backend.host: app.main_pid(host, 1) for host in app_hosts()}
    surplus = {host.backend.host: running_instances(host)[1:] for host in app_hosts()}
    run_ok("site.yml", wsfleet_app_source_path=app_versions["1.2.0"], wsfleet_app_processes=1)
    for host in app_hosts():
        assert running_instances(host) == [1]
        assert app.main_pid(host, 1) == before[host.backend.host]
        assert surplus[host.backend.host]
        for index in surplus[host.backend.host]:
            for side in "ab":
                assert not host.service(f"{app.APP}@{index}{side}").is_enabled
                assert not host.file(f"{app.CONFIG_DIR}/instances/{index}{side}.env").exists
        assert len(app_upstream_servers(host)) == 1


def bound_two_processes(app_versions, bind):
    """site.yml with two processes per host bound the given way; the app hosts."""
    run_ok(
        "site.yml",
        wsfleet_app_source_path=app_versions["1.2.0"],
        wsfleet_app_processes=2,
        wsfleet_app_bind=bind,
    )
    return app_hosts()


def test_tcp_binding_gives_each_process_its_own_port(app_versions):
    for host in bound_two_processes(app_versions, "tcp"):
        assert [app.healthz_over_tcp(host, port)["instance"] for port in (8001, 8002)] == ["1", "2"]
        config = host.file("/etc/nginx/nginx.conf").content_string
        assert "server 127.0.0.1:8001 max_fails=0;" in config
        assert "server 127.0.0.1:8002 max_fails=0;" in config
        assert not host.file(f"{app.RUNTIME_DIR}/1.sock").exists


def side_ports_listening(host):
    """The processes' own ports (9001 on) that listen on a host."""
    listening = host.check_output("ss -Hltn").split()
    return sorted(
        int(field.rsplit(":", 1)[1]) for field in listening if field.startswith("127.0.0.1:9")
    )


def slot_port_map(host):
    """{slot port: side port} as the kernel's NAT map has it."""
    listed = json.loads(host.check_output(f"nft -j list map inet wsfleet_{app.APP}_slots slots"))
    maps = [item["map"] for item in listed["nftables"] if "map" in item]
    return {int(port): int(side) for port, side in maps[0].get("elem", [])}


def test_tcp_ports_are_replaced_by_surge_and_each_client_moves_once():
    tcp = {"wsfleet_app_bind": "tcp", "wsfleet_app_processes": 2}
    before = {}
    for host in app_hosts():
        before[host.backend.host] = slot_port_map(host)
        # Each slot's port leads to the one side that listens.
        assert sorted(before[host.backend.host].values()) == side_ports_listening(host)
        assert host.service(f"{app.APP}-slot-ports").is_enabled
    clients = 200
    with live_clients(clients) as (reports, _runner):
        run_ok("playbooks/rolling_restart.yml", **tcp)
        held = connections_once_back(clients, ports=(8001, 8002))
    assert_nothing_dropped(reports[0])
    # Surge: a replaced process's clients go to its successor, so each moves once (a restart
    # in place sent them to the host's other process, which was replaced next) and every
    # process still holds about its share.
    assert reports[0].server_closes.total() <= clients * 1.05, reports[0].summary()
    assert stats.balance(held) <= MAX_OVER_MEAN, held
    for host in app_hosts():
        after = slot_port_map(host)
        assert sorted(after) == [8001, 8002]
        # Every slot moved to its other side's port, and only the new processes listen.
        assert all(after[port] != before[host.backend.host][port] for port in after)
        assert sorted(after.values()) == side_ports_listening(host)
        # The map the boot loads is the live one.
        kept = host.file(f"{app.CONFIG_DIR}/slot-ports.nft").content_string
        assert f"elements = {{ 8001 : {after[8001]}, 8002 : {after[8002]} }}" in kept


def connections_once_back(clients, ports, deadline_seconds=30):
    """Open connections of every process, once every client has reconnected."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        held = [
            app.healthz_over_tcp(host, port)["connections"]
            for host in app_hosts()
            for port in ports
        ]
        if sum(held) >= clients or time.monotonic() > deadline:
            return held
        time.sleep(0.5)


def test_reuseport_binding_shares_one_port(app_versions):
    for host in bound_two_processes(app_versions, "reuseport"):
        listeners = host.check_output("ss -Hltn 'sport = :8001'").splitlines()
        assert len(listeners) == 2, "both processes listen on the shared port"
        assert not host.socket("tcp://127.0.0.1:8002").is_listening
        # No surge on a shared port: the NAT map of the slots' ports is gone.
        assert host.run(f"nft list table inet wsfleet_{app.APP}_slots").rc != 0
        assert not host.file(f"{app.CONFIG_DIR}/slot-ports.nft").exists
        assert app_upstream_servers(host) == ["127.0.0.1:8001"]


def app_upstream_servers(host):
    """The servers of NGINX's app upstream (the slots' own upstreams, for metrics, aside)."""
    config = host.file("/etc/nginx/nginx.conf").content_string
    block = re.search(r"upstream wsfleet_app \{(.*?)\}", config, re.S).group(1)
    return re.findall(r"^\s*server (\S+)", block, re.M)


def supervisor_programs(host):
    """This app's supervisor programs (not its event listener): name -> (state, pid)."""
    status = host.run("supervisorctl status").stdout  # exits non-zero unless all run
    programs = {}
    for line in status.splitlines():
        fields = line.split()
        if fields and re.fullmatch(rf"{app.APP}_\d\d[ab]", fields[0]):
            pid = int(fields[3].rstrip(",")) if fields[1] == "RUNNING" else 0
            programs[fields[0]] = (fields[1], pid)
    return programs


def running_programs(host):
    return {
        name: pid for name, (state, pid) in supervisor_programs(host).items() if state == "RUNNING"
    }


def slot_program(host, slot):
    """(name, pid) of the program that serves a slot: <app>_NNa or <app>_NNb."""
    (running,) = [
        (name, pid)
        for name, pid in running_programs(host).items()
        if name[:-1] == f"{app.APP}_{slot:02d}"
    ]
    return running


def switch_under_load(playbook, **extra_vars):
    """A playbook run with a new process manager under live clients: the hosts switch a batch
    at a time, each drained at the edge meanwhile, so nobody is dropped and none stays
    drained."""
    with live_clients(200) as (reports, _runner):
        run_ok(playbook, **extra_vars)
    assert_nothing_dropped(reports[0])
    for host in app_hosts():
        assert not host.file(NGINX_DRAIN_FILE).exists
        assert not host.file(SWITCH_MARKER).exists


def test_switching_to_supervisor_replaces_the_systemd_units():
    switch_under_load("site.yml", wsfleet_app_process_manager="supervisor", wsfleet_app_processes=2)
    for host in app_hosts():
        programs = running_programs(host)
        # Two programs per slot, one side each: side a runs, b is where a successor starts.
        assert sorted(programs) == [f"{app.APP}_01a", f"{app.APP}_02a"]
        assert sorted(supervisor_programs(host)) == [
            f"{app.APP}_{n}" for n in ("01a", "01b", "02a", "02b")
        ]
        assert host.file(f"/etc/{app.APP}/supervisor-programs.env").contains(
            f"{app.APP}_01a {app.APP}_02a"
        )
        assert running_instances(host) == []
        assert not host.file(f"/etc/systemd/system/{app.APP}@.service").exists
        for number, pid in enumerate(programs.values(), start=1):
            assert host.process.get(pid=pid).user == app.APP
            limit = host.check_output(f"grep 'Max open files' /proc/{pid}/limits").split()[3]
            assert int(limit) == 10000 + 1024
            health = app.healthz(host, f"{app.RUNTIME_DIR}/{number}.sock")
            assert health["body"]["instance"] == str(number)
        assert host.file(f"/var/log/supervisor/{app.APP}_01a.log").exists


def test_supervisor_brings_a_killed_program_back():
    for host in app_hosts():
        name, killed = slot_program(host, 1)
        host.check_output(f"kill -KILL {killed}")
        assert answers_healthz_again(
            host,
            f"{app.RUNTIME_DIR}/1.sock",
            killed,
            lambda host=host, name=name: running_programs(host).get(name, 0),
        )


def test_supervisor_scaling_touches_only_the_difference():
    before = {host.backend.host: running_programs(host) for host in app_hosts()}
    run_ok("site.yml", wsfleet_app_process_manager="supervisor", wsfleet_app_processes=3)
    for host in app_hosts():
        programs = running_programs(host)
        assert sorted(programs) == [f"{app.APP}_01a", f"{app.APP}_02a", f"{app.APP}_03a"]
        for name, pid in before[host.backend.host].items():
            assert programs[name] == pid, f"{name} must not restart when another is added"
    run_ok("site.yml", wsfleet_app_process_manager="supervisor", wsfleet_app_processes=2)
    for host in app_hosts():
        assert running_programs(host) == before[host.backend.host]
        assert len(app_upstream_servers(host)) == 2


def test_supervisor_surges_every_program_onto_a_new_release_under_load(app_versions):
    before = {host.backend.host: running_programs(host) for host in app_hosts()}
    clients = 200
    with live_clients(clients) as (reports, _runner):
        run_ok(
            "site.yml",
            wsfleet_app_process_manager="supervisor",
            wsfleet_app_processes=2,
            wsfleet_app_source_path=app_versions["1.1.0"],
        )
    assert_nothing_dropped(reports[0])
    # Surge, as under systemd: each client moved once, to its process's successor.
    assert reports[0].server_closes.total() <= clients * 1.05, reports[0].summary()
    for host in app_hosts():
        programs = running_programs(host)
        # Every slot now runs on its other side, and only there.
        assert sorted(programs) == [f"{app.APP}_01b", f"{app.APP}_02b"]
        assert set(programs.values()).isdisjoint(before[host.backend.host].values())
        assert host.file(f"/etc/{app.APP}/supervisor-programs.env").contains(
            f"{app.APP}_01b {app.APP}_02b"
        )
        for number in (1, 2):
            assert (
                app.healthz(host, f"{app.RUNTIME_DIR}/{number}.sock")["body"]["version"] == "1.1.0"
            )


@pytest.mark.parametrize("command", ["systemctl restart supervisor", "supervisorctl reload"])
def test_supervisor_starts_the_live_programs_again_when_it_restarts(command):
    before = {host.backend.host: sorted(running_programs(host)) for host in app_hosts()}
    for host in app_hosts():
        host.check_output(command)
    deadline = time.monotonic() + RECOVERY_DEADLINE
    for host in app_hosts():
        # Programs have autostart off: the app's event listener starts the live ones.
        while sorted(running_programs(host)) != before[host.backend.host]:
            assert time.monotonic() < deadline, supervisor_programs(host)
            time.sleep(0.5)
        for number in (1, 2):
            assert app.healthz(host, f"{app.RUNTIME_DIR}/{number}.sock")["status"] == 200


def test_supervisor_rollback_restarts_every_program_onto_the_previous_release():
    before = {host.backend.host: running_programs(host) for host in app_hosts()}
    wanted = {host.backend.host: previous_release(host) for host in app_hosts()}
    # No manager named: the rollback must find supervisor on the hosts by itself.
    run_ok("playbooks/rollback.yml")
    for host in app_hosts():
        programs = running_programs(host)
        # The same slots, each on its other side again.
        assert sorted(programs) == sorted(
            name[:-1] + ("a" if name.endswith("b") else "b") for name in before[host.backend.host]
        )
        assert set(programs.values()).isdisjoint(before[host.backend.host].values())
        assert app.current_release(host) == wanted[host.backend.host]
        for number in (1, 2):
            health = app.healthz(host, f"{app.RUNTIME_DIR}/{number}.sock")["body"]
            assert health["release"] == wanted[host.backend.host]


def test_a_deploy_switching_back_to_systemd_removes_the_programs():
    # deploy.yml switches a host the way site.yml does (both import switch.yml).
    switch_under_load("playbooks/deploy.yml", wsfleet_app_processes=2)
    for host in app_hosts():
        assert supervisor_programs(host) == {}
        assert not host.file(f"/etc/supervisor/conf.d/{app.APP}.conf").exists
        assert running_instances(host) == [1, 2]


def test_back_to_unix_sockets_and_the_defaults():
    # As if a run had been stopped half way through a switch of the first host: it is drained,
    # and its switch begun; site.yml must finish the switch and take it back.
    interrupted = app_hosts()[0]
    interrupted.check_output(f"touch {SWITCH_MARKER} {NGINX_DRAIN_FILE}")
    run_ok("site.yml")
    for host in app_hosts():
        assert not host.file(NGINX_DRAIN_FILE).exists
        assert not host.file(SWITCH_MARKER).exists
        assert not host.socket("tcp://127.0.0.1:8001").is_listening
        for index in running_instances(host):
            assert app.healthz(host, f"{app.RUNTIME_DIR}/{index}.sock")["status"] == 200


def fleet_state(host):
    """What a refused run must leave untouched on a host."""
    return host.check_output(
        f"find {app.CONFIG_DIR} {app.BASE_DIR} /etc/systemd/system/{app.APP}@.service "
        "/etc/nginx/nginx.conf -maxdepth 2 -printf '%p %s %T@\\n' | sort; "
        f"readlink {app.BASE_DIR}/current"
    )


# Every check's message is tested on the controller (tests/inputs); here, on real hosts, that a
# refusal comes before any host changes, for an app setting and a router setting.
@pytest.mark.parametrize(
    ("extra_vars", "named_variable"),
    [
        ({"wsfleet_app_drain_timeout": 40}, "wsfleet_app_stop_timeout"),
        ({"wsfleet_router_listen_port": 70000}, "wsfleet_router_listen_port"),
    ],
)
def test_bad_input_is_refused_before_any_host_changes(extra_vars, named_variable):
    before = {host.backend.host: fleet_state(host) for host in app_hosts()}
    result = ansible_playbook("site.yml", **extra_vars)
    assert result.returncode != 0
    # ansible-core prints task errors on stderr.
    assert named_variable in result.stdout + result.stderr
    for host in app_hosts():
        assert fleet_state(host) == before[host.backend.host]
