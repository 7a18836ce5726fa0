"""What the roles write for reloads that end: the haproxy role's close-spread service (its command
line, bound to HAProxy) and the certbot role's deploy hook (HAProxy's certificate replaced through
its runtime API, a checked reload only if that fails; NGINX reloaded)."""

import shlex
import subprocess
from pathlib import Path

from ansible.plugins.filter.core import comment
from jinja2 import Environment, FileSystemLoader, StrictUndefined

ROLES = Path(__file__).resolve().parents[2] / "roles"
HAPROXY_PATHS = {
    "config_dir": "/etc/haproxy",
    "close_spread": "/usr/local/lib/wsfleet/haproxy-close-spread.py",
}


def render(role, name, **variables):
    environment = Environment(
        loader=FileSystemLoader(ROLES / role / "templates"), undefined=StrictUndefined
    )
    environment.filters["comment"] = comment
    return environment.get_template(name).render(ansible_managed="Ansible managed", **variables)


def close_spread_unit(bound, spread):
    return render(
        "haproxy",
        "haproxy-close-spread.service.j2",
        __wsfleet_haproxy_paths=HAPROXY_PATHS,
        __wsfleet_haproxy_master_socket="/run/haproxy-master.sock",
        __wsfleet_haproxy_close_spread_seconds=spread,
        wsfleet_router_shutdown_timeout=bound,
    )


def setting(text, name):
    return next(line.split("=", 1)[1] for line in text.splitlines() if line.startswith(name + "="))


def test_the_close_spread_service_runs_the_script_with_the_bound_and_window():
    unit = close_spread_unit(3600, 600)
    assert shlex.split(setting(unit, "ExecStart")) == [
        "/usr/bin/python3",
        HAPROXY_PATHS["close_spread"],
        "--master-socket",
        "/run/haproxy-master.sock",
        "--bound",
        "3600",
        "--spread",
        "600",
    ]


def test_the_close_spread_service_runs_and_stops_with_haproxy():
    unit = close_spread_unit(75, 30)
    assert setting(unit, "BindsTo") == "haproxy.service"
    assert setting(unit, "WantedBy") == "haproxy.service"


def deploy_hook():
    return render(
        "certbot",
        "reload-router.sh.j2",
        wsfleet_router_tls_certificate="/etc/ssl/wsfleet/fullchain.pem",
        __wsfleet_router_haproxy_admin_socket="/run/haproxy/admin.sock",
        __wsfleet_router_footprints={"haproxy": {"paths": HAPROXY_PATHS}},
    )


def test_the_deploy_hook_is_valid_shell():
    subprocess.run(["sh", "-n"], input=deploy_hook(), text=True, check=True)


def test_the_deploy_hook_replaces_haproxys_certificate_before_any_reload():
    hook = deploy_hook()
    assert "set ssl cert $certificate <<" in hook
    assert "commit ssl cert $certificate" in hook
    # The reload is the fallback, once the configuration checks.
    fallback = hook.index("! replace_in_haproxy")
    assert hook.index("haproxy -c", fallback) < hook.index("systemctl reload haproxy", fallback)
    assert hook.index("nginx -t") < hook.index("systemctl reload nginx")
