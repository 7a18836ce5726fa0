"""The app hosts after site.yml: the app user, its release, N processes and their NGINX."""

import json

import pytest

from wsfleet_support.checks import app

testinfra_hosts = app.hosts_of("app")


def test_app_runs_as_a_dedicated_system_user(host):
    user = host.user(app.APP)
    assert user.exists
    assert user.shell == "/usr/sbin/nologin"
    assert user.group == app.APP
    assert user.uid < 1000
    # NGINX reaches the sockets through the app's group.
    assert app.APP in host.user("www-data").groups


def test_release_is_installed_read_only_and_current(host):
    current = host.file(f"{app.BASE_DIR}/current")
    assert current.is_symlink
    release_dir = current.linked_to
    assert release_dir.startswith(f"{app.BASE_DIR}/releases/")
    release = json.loads(host.file(f"{release_dir}/release.json").content_string)
    assert release_dir.endswith("/" + release["id"])
    assert release["package"] == "wsfleet_echo"
    for path in (app.BASE_DIR, f"{app.BASE_DIR}/releases", release_dir):
        directory = host.file(path)
        assert directory.user == "root"
        assert directory.mode == 0o755
    assert host.file(f"{release_dir}/venv/bin/wsfleet-echo").is_file


def test_environment_file_is_readable_by_the_app_group_only(host):
    env_file = host.file(f"{app.CONFIG_DIR}/{app.APP}.env")
    assert env_file.user == "root"
    assert env_file.group == app.APP
    assert env_file.mode == 0o640


def test_one_running_enabled_unit_per_process(host, process_count):
    assert host.file(f"/etc/systemd/system/{app.APP}@.service").is_file
    units = app.live_units(host)
    # One side of each slot runs and starts at boot; the other neither.
    assert sorted(units) == list(range(1, process_count + 1))
    for unit in units.values():
        assert host.service(unit).is_enabled
        other = unit[:-1] + ("b" if unit.endswith("a") else "a")
        assert not host.service(other).is_running
        assert not host.service(other).is_enabled


def test_exactly_n_server_processes_run_as_the_app_user(host, process_count):
    processes = host.process.filter(user=app.APP)
    assert len(processes) == process_count
    # Each runs from the current release's virtualenv.
    assert all(f"{app.BASE_DIR}/current/venv/bin" in p.args for p in processes)


@pytest.fixture
def sockets(host, process_count):
    return [f"{app.RUNTIME_DIR}/{index}.sock" for index in range(1, process_count + 1)]


def test_each_process_listens_on_its_own_socket(host, sockets):
    units = app.live_units(host)
    for slot, path in enumerate(sockets, start=1):
        # NGINX connects to the slot's path, a link to the live process's own socket.
        link = host.file(path)
        assert link.is_symlink
        assert link.linked_to == f"{app.RUNTIME_DIR}/{units[slot].split('@')[1]}.sock"
        socket_file = host.file(link.linked_to)
        assert socket_file.is_socket
        assert socket_file.user == app.APP
        assert socket_file.group == app.APP
        assert socket_file.mode & 0o007 == 0, "other users must not reach the socket"


def test_the_slot_links_come_back_at_boot(host, sockets):
    """systemd-tmpfiles makes /run again at boot: its config names every live socket."""
    config = host.file(f"/etc/tmpfiles.d/{app.APP}-slots.conf").content_string
    for path in sockets:
        target = host.file(path).linked_to.split("/")[-1]
        assert f"L+ {path} - - - - {target}" in config


def test_each_socket_answers_healthz(host, sockets, process_count):
    instances = set()
    for path in sockets:
        result = app.healthz(host, path)
        assert result["status"] == 200
        assert result["body"]["status"] == "ok"
        assert result["body"]["release"] == app.current_release(host)
        instances.add(result["body"]["instance"])
    assert instances == {str(index) for index in range(1, process_count + 1)}


def test_each_process_serves_its_own_metrics(host, sockets):
    for path in sockets:
        samples = app.metrics(host, path)
        assert samples[("wsfleet_app_open_connections", ())] >= 0
        info = next(dict(labels) for name, labels in samples if name == "wsfleet_app_info")
        # Each socket's own process: its slot, on the live release.
        assert info["instance"] == path.rsplit("/", 1)[1].removesuffix(".sock")
        assert info["release"] == app.current_release(host)


def test_each_socket_accepts_a_websocket_with_ping_and_echo(host, sockets):
    for path in sockets:
        assert app.websocket_echo(host, path) == f"ping through {path}"


def test_nginx_config_is_valid_and_balances_every_process(host, sockets):
    assert host.run("nginx -t").rc == 0
    assert host.service("nginx").is_running
    assert host.service("nginx").is_enabled
    config = host.file("/etc/nginx/nginx.conf").content_string
    for path in sockets:
        assert f"server unix:{path} max_fails=0;" in config
    assert "proxy_set_header Upgrade $http_upgrade;" in config
    assert "server_tokens off;" in config


def test_app_host_nginx_proxies_websockets_to_the_processes(host):
    url = "ws://127.0.0.1/"
    assert app.websocket_echo(host, url) == f"ping through {url}"


def test_no_unit_failed(host):
    assert host.check_output("systemctl --failed --no-legend --plain") == ""


def app_port_reachable_from(source, target_address):
    """Whether a host reaches an app host's NGINX port, from inside that host: "open", or the
    error's name."""
    return source.check_output(app.probe_command(source, "port-open", target_address, 80))


def test_only_the_edge_reaches_the_app_hosts_nginx(host):
    address = host.ansible.get_variables()["ansible_host"]
    edge = app.remote_host(app.hosts_of("edge")[0])
    other = app.remote_host(app.hosts_of("acme")[0])
    assert app_port_reachable_from(edge, address) == "open"
    # Refused at once (a TCP reset), not left to time out.
    assert app_port_reachable_from(other, address) == "ConnectionRefusedError"
    # The role's own table only; SSH (this very check) still works.
    assert "table inet wsfleet" in host.check_output("nft list tables")
    assert host.service("wsfleet-firewall.service").is_enabled


def test_each_slot_is_reached_alone_through_the_metrics_port(host, process_count):
    for slot in range(1, process_count + 1):
        samples = app.metrics_on_port(host, "127.0.0.1", app.METRICS_PORT, f"/slots/{slot}/metrics")
        info = next(dict(labels) for name, labels in samples if name == "wsfleet_app_info")
        assert info["instance"] == str(slot)
        url = f"ws://127.0.0.1:{app.METRICS_PORT}/slots/{slot}/"
        assert app.websocket_echo(host, url) == f"ping through {url}"
    unknown = f"/slots/{process_count + 1}/metrics"
    answer = host.run(app.probe_command(host, "get", "127.0.0.1", app.METRICS_PORT, unknown))
    assert answer.rc != 0 and "answered 404" in answer.stderr


def test_the_exporters_answer_the_monitoring_sources_only(host):
    address = host.ansible.get_variables()["ansible_host"]
    node = app.scrape(address, app.NODE_EXPORTER_PORT)
    # The app's units, their restarts counted.
    assert any(
        name == "node_systemd_service_restart_total"
        and dict(labels)["name"].startswith(f"{app.APP}@")
        for name, labels in node
    )
    assert "nginx_connections_active" in app.names(app.scrape(address, app.NGINX_EXPORTER_PORT))
    edge = app.remote_host(app.hosts_of("edge")[0])
    for port in (app.METRICS_PORT, app.NODE_EXPORTER_PORT, app.NGINX_EXPORTER_PORT):
        assert app.port_open_from(edge, address, port) == "ConnectionRefusedError"
        # The monitoring hosts, where the fleet has them (every address of them is let in).
        for monitoring in map(app.remote_host, app.hosts_of("monitoring")):
            assert app.port_open_from(monitoring, address, port) == "open"
    # An app host is no monitoring host either: the edge's address on their shared network.
    edge_address = edge.check_output(f"ip -4 -o route get {address}").split(" src ")[1].split()[0]
    assert (
        app.port_open_from(host, edge_address, app.NODE_EXPORTER_PORT) == "ConnectionRefusedError"
    )
    assert app.port_open_from(host, edge_address, app.METRICS_PORT) == "ConnectionRefusedError"
