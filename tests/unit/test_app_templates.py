"""The app role's templates where they must agree with the rollout module: the side ports the
processes listen on are the ones the module's NAT map sends each slot's port to."""

from pathlib import Path

import pytest
from ansible_collections.wsfleet.deploy.plugins.module_utils.slot_ports import side_port
from jinja2 import Environment, FileSystemLoader

TEMPLATES = Path(__file__).resolve().parents[2] / "roles" / "app" / "templates"
SIDE_PORT_BASE = 9001


def listen_settings(slot, side, bind="tcp"):
    """What listen.j2 writes for one side of a slot, as a dict."""
    environment = Environment(loader=FileSystemLoader(TEMPLATES))
    template = environment.from_string(
        "{% from 'listen.j2' import listen_settings with context %}"
        "{{ listen_settings(slot, side) }}"
    )
    text = template.render(
        slot=slot,
        side=side,
        wsfleet_app_bind=bind,
        wsfleet_app_tcp_address="127.0.0.1",
        wsfleet_app_tcp_port_base=8001,
        wsfleet_app_tcp_side_port_base=SIDE_PORT_BASE,
        __wsfleet_app_runtime_dir="/run/echo",
    )
    return dict(line.split("=", 1) for line in text.split())


@pytest.mark.parametrize(("slot", "side"), [(1, "a"), (1, "b"), (2, "a"), (2, "b"), (16, "b")])
def test_each_side_listens_where_the_nat_map_sends_its_slot(slot, side):
    settings = listen_settings(slot, side)
    assert int(settings["WSFLEET_PORT"]) == side_port(SIDE_PORT_BASE, slot, side)
    assert settings["WSFLEET_HOST"] == "127.0.0.1"


def test_unix_sockets_are_named_by_slot_and_side():
    assert listen_settings(3, "b", bind="unix") == {"WSFLEET_SOCKET": "/run/echo/3b.sock"}
