"""HAProxy in NGINX's place, on the shared fleet: every host switched to it under live load by one
setting, then each mixed with NGINX, then NGINX again everywhere, under live load too. Every
step runs a real playbook and checks from the controller, through the edge, and on the hosts.

The steps depend on each other: tests of one module, run in file order.
"""

import json
import time

import pytest

from wsfleet_support.checks import edge, monitoring, tls
from wsfleet_support.checks.app import (
    METRICS_PORT,
    current_release,
    example_app_at_version,
    hosts_of,
    scrape,
)
from wsfleet_support.checks.live_load import (
    assert_nothing_dropped,
    live_clients,
    open_connections,
)
from wsfleet_support.checks.playbooks import PROJECT, changed_counts, changed_tasks, run_ok
from wsfleet_support.fleet import SHARED_NAME, molecule_fleet

EDGES = hosts_of("edge")
EDGE = EDGES[0]
APPS = hosts_of("app")
CLIENTS = 200
# Handshake limits of 1 per second with a burst of 3: HAProxy refuses beyond 13 in 10 s.
TIGHT_LIMITS = PROJECT / "molecule" / "tls" / "vars" / "tight_limits.yml"
# 20 connections at most per app process.
SMALL_CAP = PROJECT / "molecule" / "tls" / "vars" / "small_cap.yml"
FLOOD_SIZE = 40
# Client addresses sending 2 handshakes each at once, within those limits from each.
CLIENT_ADDRESSES = 20
HSTS = "max-age=63072000"
ADMIN_SOCKET = "/run/haproxy/admin.sock"
MASTER_SOCKET = "/run/haproxy-master.sock"


def haproxy_master_pid(name):
    return edge.remote(name).check_output("systemctl show -p MainPID --value haproxy.service")


def server_rows(name, backend):
    """{server: row} of 'show servers state' from the host's HAProxy runtime API."""
    answer = edge.remote(name).check_output(
        f"echo 'show servers state {backend}' | socat stdio unix-connect:{ADMIN_SOCKET}"
    )
    rows = [line.split() for line in answer.splitlines()[1:] if line and not line.startswith("#")]
    return {row[3]: row for row in rows}


def server_states(name, backend):
    """{server: (operational state, admin state)}; 2 is up, admin bit 0x08 drained."""
    return {
        server: (int(row[5]), int(row[6])) for server, row in server_rows(name, backend).items()
    }


def wait_until_every_server_is_up(name, backend, timeout=60):
    """Every server up, and for three check intervals at least: a router that was just
    switched behind it may still be about to be seen down."""

    def settled():
        rows = server_rows(name, backend).values()
        return all(row[5] == "2" and int(row[9]) >= 6 for row in rows)

    deadline = time.monotonic() + timeout
    while not settled():
        assert time.monotonic() < deadline, server_rows(name, backend)
        time.sleep(0.5)


def connections_per_host():
    """Open WebSocket connections of each app host's processes."""
    return {name: sum(open_connections(name)) for name in APPS}


def new_connections_land_on(count=20):
    """Where count new WebSockets through the edge land, held open while counted."""
    before = connections_per_host()
    after = edge.while_held_open(EDGE, count, connections_per_host)
    return {name: after[name] - before[name] for name in APPS}


@pytest.fixture(scope="module")
def routers(tmp_path_factory):
    """Inventory options that choose the edge's and the app hosts' routers, as a user's
    inventory would, layered over the scenario's (the first test chose HAProxy everywhere)."""
    folder = tmp_path_factory.mktemp("routers")

    def choose(edge="haproxy", app="haproxy"):
        inventory = folder / f"{edge}-{app}.yml"
        groups = {
            "edge": {"vars": {"wsfleet_router": edge}},
            "app": {"vars": {"wsfleet_router": app}},
        }
        inventory.write_text(json.dumps({"all": {"children": groups}}))
        return ["--inventory", str(inventory)]

    return choose


def maintenance(name, state, inventory):
    return run_ok(
        "playbooks/maintenance.yml", *inventory, "--limit", name, wsfleet_maintenance=state
    )


def test_one_setting_switches_the_whole_fleet_to_haproxy_under_load_dropping_nobody():
    # The edge hands its clients over to the new router; the app hosts switch one at a time.
    with live_clients(CLIENTS) as (reports, _runner):
        run_ok("site.yml", wsfleet_router="haproxy")
    assert_nothing_dropped(reports[0])
    again = run_ok("site.yml", wsfleet_router="haproxy")
    assert set(changed_counts(again.stdout).values()) == {0}, changed_tasks(again.stdout)


def test_haproxy_runs_everywhere_and_nginx_is_gone():
    for name in [EDGE, *APPS]:
        host = edge.remote(name)
        assert host.service("haproxy.service").is_running
        assert host.service("haproxy.service").is_enabled
        assert not host.package("nginx").is_installed
        assert not host.file("/etc/nginx").exists
        # What runs is what the role checked.
        assert host.run("haproxy -c -q -f /etc/haproxy/haproxy.cfg").rc == 0


def test_haproxy_serves_its_metrics_per_server_and_the_nginx_exporter_is_gone():
    for name in [EDGE, *APPS]:
        samples = scrape(edge.address(name), METRICS_PORT)
        servers = {
            dict(labels).get("server")
            for sample, labels in samples
            if sample == "haproxy_server_current_sessions"
        }
        # Each app process on an app host (p1, p2...), each app host at the edge.
        assert servers >= ({"p1"} if name in APPS else set(APPS))
        assert not edge.remote(name).package("prometheus-nginx-exporter").is_installed
        assert edge.remote(name).package("prometheus-node-exporter").is_installed


def test_prometheus_scrapes_every_haproxy_and_counts_each_processs_connections():
    # The router targets follow the switch: HAProxy's own exporter on every host.
    monitoring.assert_every_target_up("haproxy")
    monitoring.assert_prometheus_counts_what_the_clients_hold(CLIENTS)


def test_the_edge_serves_a_pebble_certificate_to_mozillas_intermediate_profile():
    certificate = tls.peer_certificate(edge.address(EDGE), tls.fleet_name(EDGE))
    assert tls.certificate_names(certificate) == tls.edge_certificate_names(EDGE)
    assert tls.mozilla_intermediate_issues(edge.address(EDGE), tls.fleet_name(EDGE)) == {}
    status, headers, _ = tls.https_get(edge.address(EDGE), tls.fleet_name(EDGE))
    assert status == 200
    assert headers["Strict-Transport-Security"] == HSTS
    # No version disclosed: neither HAProxy's nor the app server's.
    assert headers.get("Server") is None


def test_the_apps_metrics_are_not_served_to_clients():
    status, _, _ = tls.https_get(edge.address(EDGE), tls.fleet_name(EDGE), "/metrics")
    assert status == 404


def test_plain_http_redirects_to_https_except_acme_challenges():
    status, headers = tls.http_get(edge.address(EDGE), tls.fleet_name(EDGE), "/chat?room=1")
    assert (status, headers["Location"]) == (301, f"https://{tls.fleet_name(EDGE)}/chat?room=1")
    # Never to whatever Host a client sent.
    status, headers = tls.http_get(edge.address(EDGE), "evil.example", "/")
    # Any other name: the first of the edge's, the one its floating addresses share.
    assert (status, headers["Location"]) == (301, f"https://{SHARED_NAME}/")
    # Challenges go to certbot's own server, which runs only while it proves a name.
    status, _ = tls.http_get(
        edge.address(EDGE), tls.fleet_name(EDGE), "/.well-known/acme-challenge/token"
    )
    assert status == 503


def haproxy_processes(name):
    """The master's PID and its current worker's, from the master CLI: a reload changes the
    worker's (old workers, which leave when their clients do, are not counted)."""
    answer = edge.remote(name).check_output(
        f"echo 'show proc' | socat stdio unix-connect:{MASTER_SOCKET}"
    )
    current = answer.split("# old workers")[0]
    return [line.split()[0] for line in current.splitlines() if line[:1].isdigit()]


def test_a_renewal_changes_no_haproxy_process_and_an_open_websocket_keeps_echoing():
    # The deploy hook hands the new certificate to the runtime API (set/commit ssl cert): the
    # same master and worker serve it, with no reload.
    edge.renewal_under_an_open_websocket(EDGE, lambda: haproxy_processes(EDGE))


def test_an_haproxy_edge_forwards_the_acme_challenges_of_the_other(routers):
    # The edge in maintenance: both floating addresses, where the CA reaches the shared name,
    # are at the other edge, whose HAProxy forwards the challenges of this one's renewal.
    drained, other = EDGES
    holders = edge.floating_holders()
    maintenance(drained, "drain", routers())
    try:
        assert set(edge.floating_holders().values()) == {other}
        serial = edge.certificate_serial(drained)
        edge.renew_through_the_timers_service(drained)
        assert edge.certificate_serial(drained) != serial
    finally:
        maintenance(drained, "ready", routers())
    deadline = time.monotonic() + 60
    while edge.floating_holders() != holders and time.monotonic() < deadline:
        time.sleep(0.5)
    assert edge.floating_holders() == holders


def test_a_flood_gets_429_many_addresses_pass_and_a_full_fleet_gets_503(routers):
    # Every host: the app hosts' HAProxy gets the tight limits too, their processes a small cap.
    run_ok(
        "site.yml", *routers(), "--extra-vars", f"@{TIGHT_LIMITS}", "--extra-vars", f"@{SMALL_CAP}"
    )
    try:
        statuses = edge.handshake_flood(EDGE, FLOOD_SIZE)
        assert set(statuses) == {101, 429}
        assert statuses.count(429) >= FLOOD_SIZE // 2
        # HSTS goes with every HTTPS response, HAProxy's refusals included.
        status, headers, _ = tls.https_get(edge.address(EDGE), tls.fleet_name(EDGE))
        assert (status, headers["Strict-Transport-Security"]) == (429, HSTS)
        # Clients on the public network, the edge reaching the app hosts from its private
        # address: the app hosts trust X-Forwarded-For from every address of the edge, so far
        # more than one address's burst in all, within it from each, is refused nowhere.
        sources, statuses, logged = edge.burst_from_many_addresses(
            EDGE, APPS, "haproxy", CLIENT_ADDRESSES
        )
        assert statuses.count(101) == len(statuses), statuses
        assert set(sources) <= logged, logged
        assert molecule_fleet().private_address(EDGE) not in logged
        # Every process full: HAProxy's retries (on the app hosts, then at the edge) end
        # with the app's 503 and its Retry-After.
        capacity = edge.fleet_capacity(APPS)
        with molecule_fleet().client_addresses(capacity + 2) as sources:
            assert edge.fill_the_fleet(EDGE, capacity, sources) == edge.A_FULL_FLEET
    finally:
        run_ok("site.yml", *routers())


@pytest.fixture(scope="module")
def release_1_1(tmp_path_factory):
    return str(example_app_at_version(tmp_path_factory, "1.1.0"))


def test_a_rolling_restart_and_a_deploy_under_load_drop_nobody(routers, release_1_1):
    wait_until_every_server_is_up(EDGE, "wsfleet_edge")
    with live_clients(CLIENTS) as (reports, _runner):
        run_ok("playbooks/rolling_restart.yml", *routers())
    assert_nothing_dropped(reports[0])
    with live_clients(CLIENTS) as (reports, _runner):
        run_ok("playbooks/deploy.yml", *routers(), wsfleet_app_source_path=release_1_1)
    assert_nothing_dropped(reports[0])
    for name in APPS:
        assert current_release(edge.remote(name)).startswith("1.1.0-")


def test_maintenance_drains_a_host_at_the_haproxy_edge_with_no_reload(routers):
    drained, other = APPS[0], APPS[1]
    master = haproxy_master_pid(EDGE)
    maintenance(drained, "drain", routers())
    try:
        assert server_states(EDGE, "wsfleet_edge")[drained][1] & 0x08
        landed = new_connections_land_on()
        assert landed[drained] == 0 and landed[other] == 20, landed
    finally:
        maintenance(drained, "ready", routers())
    assert server_states(EDGE, "wsfleet_edge")[drained][1] == 0
    assert haproxy_master_pid(EDGE) == master


def test_haproxy_at_the_edge_balances_app_hosts_that_change_to_nginx(routers):
    wait_until_every_server_is_up(EDGE, "wsfleet_edge")
    # One host at a time, drained at the edge, its clients moved off (1012) before its router
    # goes, and taken back once the edge's checks see it up: nobody dropped.
    with live_clients(CLIENTS) as (reports, _runner):
        run_ok("site.yml", *routers(edge="haproxy", app="nginx"), "--limit", ",".join(APPS))
    assert_nothing_dropped(reports[0])
    assert all(admin == 0 for _, admin in server_states(EDGE, "wsfleet_edge").values())
    for name in APPS:
        host = edge.remote(name)
        assert host.service("nginx.service").is_running
        assert not host.package("haproxy").is_installed
        assert not host.file("/etc/haproxy").exists
        assert not host.file("/etc/systemd/system/haproxy.service.d").exists
    wait_until_every_server_is_up(EDGE, "wsfleet_edge")
    landed = new_connections_land_on()
    assert all(count > 0 for count in landed.values()), landed


def test_nginx_at_the_edge_balances_haproxy_app_hosts_and_drains_them(routers):
    inventory = routers(edge="nginx", app="haproxy")
    run_ok("site.yml", *inventory)
    edge_host = edge.remote(EDGE)
    assert edge_host.service("nginx.service").is_running
    assert not edge_host.package("haproxy").is_installed
    # The NGINX edge kept the certificate (certbot proves names the same way behind either router).
    assert tls.certificate_names(
        tls.peer_certificate(edge.address(EDGE), tls.fleet_name(EDGE))
    ) == tls.edge_certificate_names(EDGE)
    # An NGINX edge drains a host through the host's own router: HAProxy there drains every
    # process through its runtime API and answers 503, which the edge retries elsewhere.
    drained, other = APPS[0], APPS[1]
    master = haproxy_master_pid(drained)
    maintenance(drained, "drain", inventory)
    try:
        states = server_states(drained, "wsfleet_app")
        assert states and all(admin & 0x08 for _, admin in states.values()), states
        landed = new_connections_land_on()
        assert landed[drained] == 0 and landed[other] == 20, landed
    finally:
        maintenance(drained, "ready", inventory)
    assert haproxy_master_pid(drained) == master


def test_back_to_nginx_everywhere_under_load_dropping_nobody():
    with live_clients(CLIENTS) as (reports, _runner):
        run_ok("site.yml")
    assert_nothing_dropped(reports[0])
    for name in [EDGE, *APPS]:
        host = edge.remote(name)
        assert host.service("nginx.service").is_running
        assert not host.package("haproxy").is_installed
    assert edge.echo_through(EDGE) == "hello"
    assert json.loads(tls.https_get(edge.address(EDGE), tls.fleet_name(EDGE))[2])["status"] == "ok"
