"""Checks from the controller through a fleet host's TLS port, whichever router ends TLS there:
a verified wss:// echo, a WebSocket held open across a certificate renewal, a handshake flood."""

import asyncio
import socket
import ssl
import time

import testinfra
from playbook_runner import INVENTORY
from tls_checks import acme_root, fleet_name, peer_certificate
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

RENEWAL_DROP_IN = "/etc/systemd/system/certbot.service.d/zz-force.conf"


def remote(name):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


def address(name):
    return remote(name).ansible.get_variables()["ansible_host"]


def echo_through(name, server_name=None, cafile=None, message="hello"):
    """One wss:// session to a host at its address, verified, with one echo."""
    context = ssl.create_default_context(cafile=cafile or acme_root())
    with connect(
        f"wss://{server_name or fleet_name(name)}/",
        sock=socket.create_connection((address(name), 443), timeout=10),
        ssl=context,
        open_timeout=10,
    ) as websocket:
        websocket.send(message)
        return websocket.recv(timeout=10)


def renew_through_the_timers_service(name):
    """What certbot.timer starts, with its environment, forced to renew now."""
    host = remote(name)
    host.check_output(
        f"printf '[Service]\\nExecStart=\\nExecStart=/usr/bin/certbot -q renew "
        f"--force-renewal\\n' > {RENEWAL_DROP_IN} && systemctl daemon-reload"
    )
    try:
        host.check_output("systemctl start certbot.service")
    finally:
        host.check_output(f"rm -f {RENEWAL_DROP_IN} && systemctl daemon-reload")


async def _hold_connection_across(name, action):
    context = ssl.create_default_context(cafile=acme_root())
    async with async_connect(
        f"wss://{fleet_name(name)}/", host=address(name), port=443, ssl=context
    ) as websocket:
        await websocket.send("before")
        assert await websocket.recv() == "before"
        await asyncio.to_thread(action)
        await websocket.send("after")
        return await asyncio.wait_for(websocket.recv(), 10)


def echo_across(name, action):
    """Open a wss:// connection to a host, run action(), then echo on the same connection."""
    return asyncio.run(_hold_connection_across(name, action))


async def _flood(name, count):
    context = ssl.create_default_context(cafile=acme_root())

    async def one_handshake():
        try:
            async with async_connect(
                f"wss://{fleet_name(name)}/", host=address(name), port=443, ssl=context
            ):
                return 101
        except InvalidStatus as error:
            return error.response.status_code

    return await asyncio.gather(*(one_handshake() for _ in range(count)))


def handshake_flood(name, count):
    """HTTP statuses of count WebSocket handshakes fired at once at a host."""
    return asyncio.run(_flood(name, count))


def renewal_under_an_open_websocket(name, router_pid):
    """Force a renewal through certbot.service while a wss:// connection stays open; check that
    the connection still echoes, the router was reloaded, not restarted (router_pid() is the
    same), and the new certificate is served within 30 s."""
    before = peer_certificate(address(name), fleet_name(name)).serial_number
    pid = router_pid()
    assert echo_across(name, lambda: renew_through_the_timers_service(name)) == "after"
    assert remote(name).service("certbot.service").systemd_properties["Result"] == "success"
    assert router_pid() == pid
    deadline = time.monotonic() + 30
    while peer_certificate(address(name), fleet_name(name)).serial_number == before:
        assert time.monotonic() < deadline, "the old certificate is still served"
        time.sleep(0.5)
