"""The fleet's Prometheus (role wsfleet.deploy.monitoring) as a test reads it: its API from the
controller, its targets and alerts, Alertmanager's alerts and the rules' unit tests on the host."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime

from wsfleet_support.checks.app import address, hosts_of, live_units, remote_host
from wsfleet_support.checks.live_load import live_clients, open_connections

PROMETHEUS_PORT = 9090
ALERTMANAGER = "http://127.0.0.1:9093"
RULES_TESTS = "/etc/prometheus/wsfleet-rules.test.yml"
# How long a wait for Prometheus to see a change may take before the test fails (it does not
# measure anything: Prometheus scrapes every 5 s in the test fleets).
PATIENCE = 120


def monitoring_host():
    return hosts_of("monitoring")[0]


def api(path, **params):
    """GET Prometheus' API at path: its data."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    url = f"http://{address(monitoring_host())}:{PROMETHEUS_PORT}/api/v1/{path}{query}"
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.load(response)
    assert answer["status"] == "success", answer
    return answer["data"]


def targets():
    """Every active target: its labels, health, last scrape (epoch seconds) and error."""
    return [
        {
            "labels": target["labels"],
            "health": target["health"],
            "last_scrape": _epoch(target["lastScrape"]),
            "error": target["lastError"],
        }
        for target in api("targets", state="active")["activeTargets"]
    ]


def _epoch(timestamp):
    """Seconds since the epoch of Prometheus' UTC timestamps (Go's, with nanoseconds)."""
    whole, _, fraction = timestamp.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp()
    return seconds + float(f"0.{fraction[:6] or 0}")


def expected_targets(router):
    """{job: set of label tuples} Prometheus must scrape: a node exporter and a router on every
    app and edge host, and every live process slot of every app host."""
    apps, edges = hosts_of("app"), hosts_of("edge")
    return {
        "node": {(("host", name),) for name in apps + edges},
        "router": {(("host", name), ("router", router)) for name in apps + edges},
        "app": {
            (("host", name), ("slot", str(slot)))
            for name in apps
            for slot in live_units(remote_host(name))
        },
    }


def scraped(job, keys):
    """The label tuples (keys of the labels) of a job's targets, with their health."""
    return {
        tuple((key, target["labels"][key]) for key in keys): target["health"]
        for target in targets()
        if target["labels"]["job"] == job
    }


def wait_for_scrapes_after(moment):
    """Block until every app process target was scraped after moment (epoch seconds)."""
    deadline = time.monotonic() + PATIENCE
    while True:
        app = [target for target in targets() if target["labels"]["job"] == "app"]
        if app and all(target["last_scrape"] > moment for target in app):
            return
        assert time.monotonic() < deadline, f"no scrape of every process after {moment}: {app}"
        time.sleep(1)


def open_connections_by_process():
    """{(host, slot): open connections} by Prometheus' latest scrape of each process."""
    return {
        (sample["metric"]["host"], int(sample["metric"]["slot"])): int(float(sample["value"][1]))
        for sample in api("query", query="wsfleet_app_open_connections")["result"]
    }


def firing(alertname):
    """The labels of the alerts of that name Prometheus has firing now."""
    return [
        alert["labels"]
        for alert in api("alerts")["alerts"]
        if alert["labels"]["alertname"] == alertname and alert["state"] == "firing"
    ]


def active(alertname):
    """The labels of the alerts of that name Prometheus has pending or firing now."""
    return [
        alert["labels"]
        for alert in api("alerts")["alerts"]
        if alert["labels"]["alertname"] == alertname
    ]


def alertmanager_alerts(alertname):
    """The labels of the active alerts of that name Alertmanager holds (asked on its host,
    where it listens)."""
    host = remote_host(monitoring_host())
    url = f"{ALERTMANAGER}/api/v2/alerts?active=true&filter=alertname%3D%22{alertname}%22"
    answer = host.check_output(
        "python3 -c 'import sys, urllib.request; "
        "print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' %s",
        url,
    )
    return [alert["labels"] for alert in json.loads(answer)]


def wait_until(condition, what):
    """Poll condition() every second until it returns something true: that value."""
    deadline = time.monotonic() + PATIENCE
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"still not {what}"
        time.sleep(1)


def rules_tests():
    """promtool's unit tests of the shipped alert rules, run on the monitoring host."""
    return remote_host(monitoring_host()).run(f"promtool test rules {RULES_TESTS}")


def assert_every_target_up(router):
    """Prometheus scrapes every node exporter, router (with its kind) and app process of the
    fleet, and nothing else under those jobs, all up; and probes the edges at the shared name
    and at each edge's own, itself and Alertmanager."""
    keys = {"node": ["host"], "router": ["host", "router"], "app": ["host", "slot"]}
    for job, expected in expected_targets(router).items():
        seen = wait_until(
            lambda job=job: _all_up(scraped(job, keys[job])), f"every {job} target up"
        )
        assert set(seen) == expected, (job, seen)
    probes = wait_until(lambda: _all_up(scraped("edge_tls", ["instance"])), "every probe up")
    edge_names = {f"{name}.wsfleet.test:443" for name in hosts_of("edge")}
    assert {labels[0][1] for labels in probes} == edge_names | {"ws.wsfleet.test:443"}
    assert set(scraped("prometheus", ["job"]).values()) == {"up"}
    assert set(scraped("alertmanager", ["job"]).values()) == {"up"}


def _all_up(seen):
    """seen when it has targets and every one is up."""
    return seen if seen and set(seen.values()) == {"up"} else None


def assert_prometheus_counts_what_the_clients_hold(clients):
    """With clients held through the edge: each process's open connections in Prometheus,
    from a scrape after they settled, equal the process's own count, and sum to the clients
    the load generator holds (within 1%)."""
    apps = hosts_of("app")
    with live_clients(clients) as (_, runner):
        own = wait_until(lambda: _settled(apps), "settled connection counts")
        held = runner.snapshot().open_connections
        wait_for_scrapes_after(time.time())
        seen = open_connections_by_process()
        own_after = _own_counts(apps)
    assert own == own_after, "the processes' counts moved during the scrape"
    assert seen == own
    assert abs(sum(seen.values()) - held) <= held / 100, (seen, held)


def _own_counts(apps):
    """{(host, slot): open connections} as each process reports them itself (/healthz)."""
    return {
        (name, slot): count
        for name in apps
        for slot, count in enumerate(open_connections(name), start=1)
    }


def _settled(apps):
    """The processes' own counts when two readings a second apart agree."""
    first = _own_counts(apps)
    time.sleep(1)
    return first if first == _own_counts(apps) else None


__all__ = [
    "active",
    "alertmanager_alerts",
    "api",
    "assert_every_target_up",
    "assert_prometheus_counts_what_the_clients_hold",
    "expected_targets",
    "firing",
    "open_connections_by_process",
    "rules_tests",
    "scraped",
    "targets",
    "wait_for_scrapes_after",
    "wait_until",
]
