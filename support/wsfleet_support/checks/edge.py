"""Checks from the controller through a fleet host's TLS port, whichever router ends TLS there:
a verified wss:// echo, WebSockets held open while something else happens (a certificate
renewal), a handshake flood.

Every client here is websockets' asyncio client. Its sync client over TLS 1.3 sometimes never
sends the upgrade request: its reader thread takes in the server's session tickets while the
main thread writes, and the connection hangs until the server's request timeout (measured on
loopback: about 1 handshake in 150, each a 60 s stall at NGINX; none with the asyncio client).
"""

import asyncio
import contextlib
import re
import ssl
import time

from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import InvalidStatus

from wsfleet_support.checks.app import RUNTIME_DIR, address, healthz, hosts_of, live_units
from wsfleet_support.checks.app import remote_host as remote
from wsfleet_support.checks.tls import acme_root, fleet_name, peer_certificate
from wsfleet_support.fleet import molecule_fleet

RENEWAL_DROP_IN = "/etc/systemd/system/certbot.service.d/zz-force.conf"


def _wss(
    name, server_name=None, cafile=None, open_timeout=10, connect_address=None, path="/", **options
):
    """An asyncio wss:// connection to path on a host at its address (connect_address, when
    already looked up), verified by name."""
    context = ssl.create_default_context(cafile=cafile or acme_root())
    return async_connect(
        f"wss://{server_name or fleet_name(name)}{path}",
        host=connect_address or address(name),
        port=443,
        ssl=context,
        open_timeout=open_timeout,
        **options,
    )


async def _echo(name, messages, **options):
    async with _wss(name, **options) as websocket:
        echoes = []
        for message in messages:
            await websocket.send(message)
            echoes.append(await asyncio.wait_for(websocket.recv(), 10))
        return echoes


def echo_through(name, server_name=None, cafile=None, message="hello", **options):
    """One wss:// session to a host at its address, verified, with one echo. A refused
    handshake raises websockets' InvalidStatus."""
    return echo_many(name, [message], server_name=server_name, cafile=cafile, **options)[0]


def echo_many(name, messages, **options):
    """One wss:// session that sends each message and returns the echoes."""
    return asyncio.run(_echo(name, messages, **options))


async def _first_message(name, path, options):
    try:
        async with _wss(name, path=path, **options) as websocket:
            return await asyncio.wait_for(websocket.recv(), 10)
    except InvalidStatus as refusal:
        return refusal.response.status_code


def first_message(name, path="/", **options):
    """The first message of a wss:// session at path through a host (an app's greeting), or
    the HTTP status of its refused handshake. options go to websockets' connect()."""
    return asyncio.run(_first_message(name, path, options))


async def _timed_handshake(name, timeout):
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with _wss(name, open_timeout=timeout) as websocket:
        elapsed = loop.time() - started
        await websocket.send("through")
        assert await asyncio.wait_for(websocket.recv(), 10) == "through"
    return elapsed


def timed_handshake(name, timeout=30):
    """Seconds one fresh wss:// handshake to a host takes, then an echo; raises if it fails."""
    return asyncio.run(_timed_handshake(name, timeout))


async def _hold_open(name, count, action):
    async with contextlib.AsyncExitStack() as stack:
        for number in range(count):
            websocket = await stack.enter_async_context(_wss(name))
            await websocket.send(f"m{number}")
            assert await asyncio.wait_for(websocket.recv(), 10) == f"m{number}"
        return await asyncio.to_thread(action)


def while_held_open(name, count, action):
    """Open count wss:// connections to a host one after the other, each echoing once, and
    return what action() returns while they are all open."""
    return asyncio.run(_hold_open(name, count, action))


def floating_holders(names=None):
    """{floating address: the edge host (of names, by default every one) holding it now}."""
    holders = {}
    for name in names or hosts_of("edge"):
        held = remote(name).check_output("ip -o -4 address show")
        for floating in molecule_fleet().floating_addresses():
            if re.search(rf"inet {re.escape(floating)}/", held):
                holders[floating] = name
    return holders


def certificate_serial(name):
    """The serial of the certificate certbot keeps on a host: a renewal changes it."""
    return remote(name).check_output(
        "openssl x509 -noout -serial -in /etc/letsencrypt/live/wsfleet/cert.pem"
    )


def renew_through_the_timers_service(name):
    """What certbot.timer starts, with its environment, forced to renew now. Without a
    terminal, certbot first sleeps 1 to 480 s at random to spread renewals over time (5.5 min
    in one CI run); that spreading is the timer's, not what is tested here."""
    host = remote(name)
    host.check_output(
        f"printf '[Service]\\nExecStart=\\nExecStart=/usr/bin/certbot -q renew "
        f"--force-renewal --no-random-sleep-on-renew\\n' > {RENEWAL_DROP_IN} "
        "&& systemctl daemon-reload"
    )
    try:
        host.check_output("systemctl start certbot.service")
    finally:
        host.check_output(f"rm -f {RENEWAL_DROP_IN} && systemctl daemon-reload")


async def _hold_connection_across(name, action):
    async with _wss(name) as websocket:
        await websocket.send("before")
        assert await websocket.recv() == "before"
        await asyncio.to_thread(action)
        await websocket.send("after")
        return await asyncio.wait_for(websocket.recv(), 10)


def echo_across(name, action):
    """Open a wss:// connection to a host, run action(), then echo on the same connection."""
    return asyncio.run(_hold_connection_across(name, action))


def _from_source(sources, number):
    """connect() options for the number-th handshake: the controller's own address, or the
    next of sources in turn."""
    return {"local_addr": (sources[number % len(sources)], 0)} if sources else {}


async def _answer(name, connect_address, bind):
    """(status, Retry-After) of one handshake, closed at once: (101, None) if accepted."""
    try:
        async with _wss(name, connect_address=connect_address, **bind):
            return 101, None
    except InvalidStatus as refusal:
        return refusal.response.status_code, refusal.response.headers.get("Retry-After")


async def _flood(name, count, sources):
    # Looked up once: every handshake starts at once.
    connect_address = address(name)
    answers = await asyncio.gather(
        *(_answer(name, connect_address, _from_source(sources, n)) for n in range(count))
    )
    return [status for status, _retry_after in answers]


async def _fill(name, capacity, sources, while_full):
    connect_address = address(name)

    def bind(number):
        return _from_source(sources, number)

    async with contextlib.AsyncExitStack() as stack:
        # One after the other, each echoing once: every router counts it before the next.
        held = []
        for number in range(capacity):
            websocket = await stack.enter_async_context(
                _wss(name, connect_address=connect_address, **bind(number))
            )
            await websocket.send(f"m{number}")
            assert await asyncio.wait_for(websocket.recv(), 10) == f"m{number}"
            held.append(websocket)
        refused = await _answer(name, connect_address, bind(capacity))
        if while_full:
            await asyncio.to_thread(while_full)
        # The established clients are served meanwhile.
        await held[0].send("still")
        still_served = await asyncio.wait_for(held[0].recv(), 10) == "still"
        # One leaves: its place is free again.
        await held[-1].close()
        after_one_left = await _answer(name, connect_address, bind(capacity + 1))
    return {
        "refused": refused[0],
        "retry_after": refused[1],
        "still_served": still_served,
        "after_one_left": after_one_left[0],
    }


# What fill_the_fleet sees when every process caps its connections: one handshake more is
# refused with the app's 503 and its Retry-After, through every router on the way; the clients
# held are served; once one leaves, a handshake is accepted again.
A_FULL_FLEET = {"refused": 503, "retry_after": "5", "still_served": True, "after_one_left": 101}


def fleet_capacity(app_hosts):
    """Connections the app hosts' processes take in all: each one's cap (its health check
    reports it), summed over every live process."""
    capacity = 0
    for name in app_hosts:
        host = remote(name)
        for slot in range(1, len(live_units(host)) + 1):
            capacity += healthz(host, f"{RUNTIME_DIR}/{slot}.sock")["body"]["max_connections"]
    return capacity


def fill_the_fleet(name, capacity, sources=(), while_full=None):
    """Hold capacity wss:// connections through a host (from the controller, or from each of
    sources in turn, one each when there are capacity + 2), then try one more: what it got
    (status and Retry-After), whether an established client is still served, and what a
    handshake gets once one client left. while_full() runs (in a thread) after the refusal,
    while every connection is still held."""
    return asyncio.run(_fill(name, capacity, list(sources), while_full))


def handshake_flood(name, count, sources=()):
    """HTTP statuses of count WebSocket handshakes fired at once at a host, from the
    controller's address or spread over the addresses of sources."""
    return asyncio.run(_flood(name, count, list(sources)))


# Where each router on an app host logs the address of a WebSocket session's client.
_SESSION_LOGS = {
    "nginx": ("cat /var/log/nginx/access.log", re.compile(r'^(\S+) \[.*"GET / HTTP/1.1" 101 ')),
    "haproxy": (
        "journalctl -t haproxy --no-pager -o cat",
        # httplog: client:port [date] frontend backend/server timers status ...
        re.compile(r'^([0-9a-fA-F.:]+):\d+ \[[^]]+\] \S+ \S+ \S+ 101 .*"GET / HTTP/1.1"'),
    ),
}


def logged_clients(name, router):
    """The client address of each WebSocket session a host's router logged, oldest first."""
    command, session = _SESSION_LOGS[router]
    lines = remote(name).check_output(command).splitlines()
    return [match.group(1) for match in map(session.match, lines) if match]


def clients_logged_during(names, router, action, expected):
    """Run action(): what it returned, and the client addresses of the WebSocket sessions the
    routers of these hosts logged meanwhile, once every address of expected is among them (a
    router logs a session as it ends, a moment after the client saw it end) or after 10 s."""
    before = {name: len(logged_clients(name, router)) for name in names}
    result = action()
    deadline = time.monotonic() + 10
    while True:
        logged = {
            address for name in names for address in logged_clients(name, router)[before[name] :]
        }
        if set(expected) <= logged or time.monotonic() > deadline:
            return result, logged
        time.sleep(0.5)


def renewal_under_an_open_websocket(name, router_pid):
    """Force a renewal through certbot.service while a wss:// connection stays open; check that
    the connection still echoes, the router was not restarted (router_pid() is the same: NGINX's
    master, reloaded; HAProxy's master and worker, which take the certificate through the
    runtime API), and the new certificate is served within 30 s."""
    before = peer_certificate(address(name), fleet_name(name)).serial_number
    pid = router_pid()
    assert echo_across(name, lambda: renew_through_the_timers_service(name)) == "after"
    assert remote(name).service("certbot.service").systemd_properties["Result"] == "success"
    assert router_pid() == pid
    deadline = time.monotonic() + 30
    while peer_certificate(address(name), fleet_name(name)).serial_number == before:
        assert time.monotonic() < deadline, "the old certificate is still served"
        time.sleep(0.5)


def burst_from_many_addresses(name, behind, router, count):
    """Two handshakes at once from each of count client addresses of the public network
    through a host: the addresses, the handshakes' statuses, and the client addresses the
    routers of the hosts behind it logged sessions of meanwhile."""
    with molecule_fleet().client_addresses(count) as sources:
        statuses, logged = clients_logged_during(
            behind,
            router,
            lambda: handshake_flood(name, 2 * len(sources), sources=sources),
            sources,
        )
    return sources, statuses, logged
