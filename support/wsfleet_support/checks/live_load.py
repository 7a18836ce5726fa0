"""Live WebSocket clients through the edge while a molecule test does something to the fleet
(wsfleet_support.wsload): numbered messages, resent after a reconnect, every close accounted for."""

import functools
from contextlib import contextmanager

from wsfleet_support.checks.app import RUNTIME_DIR, address, healthz, hosts_of, live_units
from wsfleet_support.checks.app import remote_host as remote
from wsfleet_support.checks.tls import acme_root, fleet_name
from wsfleet_support.fleet import molecule_fleet
from wsfleet_support.wsload import LoadConfig, LoadRunner

CLEAN_CLOSE_CODES = {"1001", "1012"}


@functools.cache
def edge():
    """The scenario's edge host, where the clients connect."""
    return hosts_of("edge")[0]


def container(name):
    """The podman container behind a local-fleet host."""
    return molecule_fleet().container(name)


def open_connections(name):
    """Open connections of each process of a host, by slot, as its /healthz reports them."""
    host = remote(name)
    return [
        healthz(host, f"{RUNTIME_DIR}/{slot}.sock")["body"]["connections"]
        for slot in sorted(live_units(host))
    ]


@contextmanager
def live_clients(clients, path="/", server_name=None, connect_to=None, **options):
    """Clients holding wss:// connections through the edge to path while the block runs;
    yields a list that receives their report when the block ends, and the runner itself.
    By default through the first edge, at its address by its own name; server_name and
    connect_to say otherwise (a floating address, by the edges' shared name). options go to the
    load generator's LoadConfig (headers, subprotocols, message_field ...)."""
    config = LoadConfig(
        url=f"wss://{server_name or fleet_name(edge())}{path}",
        connect_to=connect_to or address(edge()),
        ca_file=acme_root(),
        clients=clients,
        rate=1.0,
        # Within the edge's handshake limit per client address (100/s with a burst): every
        # client here comes from the controller's one address.
        ramp_up=max(5, clients / 80),
        reconnect_jitter=0.5,
        grace=10,
        **options,
    )
    runner = LoadRunner(config)
    runner.start()
    reports = []
    try:
        runner.wait_connected(timeout=60)
        yield reports, runner
    finally:
        reports.append(runner.stop())


def assert_nothing_dropped(report, restarted=True):
    summary = report.summary()
    assert report.handshakes_failed == 0, summary
    assert report.abnormal_closures == 0, summary
    assert set(report.server_closes) <= CLEAN_CLOSE_CODES, summary
    assert report.messages_lost == 0, summary
    assert report.messages_acknowledged == report.messages_sent > 0, summary
    if restarted:
        assert report.reconnects > 0, summary


def figures(report):
    """What the clients saw, as data for the faults report."""
    return {
        "clients": report.clients,
        "handshakes_failed": report.handshakes_failed,
        "handshake_failures": dict(report.handshake_failures),
        "abnormal_closures": report.abnormal_closures,
        "server_closes": dict(report.server_closes),
        "messages_sent": report.messages_sent,
        "messages_lost": report.messages_lost,
        "reconnect_delay": dict(report.reconnect_delay),
    }
