"""The local fleet: real Debian hosts, as podman containers booting systemd, reached over SSH.

    localfleet.py up      [--name NAME] [--app N] [--edge N] [--acme N] [--monitoring N]
                          [--suite SUITE]
                          [--host NAME:GROUP[:SUITE] ...]   (instead of the counts)
    localfleet.py down    [--name NAME]
    localfleet.py status  [--name NAME]
    localfleet.py image   [--suite SUITE]

`up` is idempotent: it builds the host image once (cached by the content hash of its recipe),
starts whatever host is missing, waits until systemd and sshd are up, and writes an Ansible
inventory with the hosts' addresses, the project's SSH key and their real host keys.
Only the standard library is used, so it runs before any virtualenv exists.

The fleet has the topology most fleets have: two networks. Clients reach the edge on the
public one (<name>-public); the edge reaches the app hosts on a private one (<name>), which
only the app hosts, the edge, the ACME host and the monitoring host join. Each host's
inventory address is on the public network when it has one, so the edge reaches the app hosts
from another address than the one the inventory names. The controller is on both (podman's
bridges): it reaches the app hosts directly, as over a VPN or a bastion.

With two edge hosts or more, the public network also has one floating address per edge host
(wsfleet_edge_floating_addresses in the inventory), which keepalived moves between them: the
fleet's shared name (ws.wsfleet.test) stands for them.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RECIPE = Path(__file__).resolve().parent / "image" / "build-rootfs.sh"
STATE_ROOT = PROJECT_ROOT / ".fleet"
IMAGE_REPOSITORY = "localhost/wsfleet-host"

# Measured on this kind of machine: crun cannot start containers on a cgroups v1/v2 hybrid,
# and podman lowers RLIMIT_NPROC to 32768 and cannot raise limits above the hard ceiling.
PODMAN = ["podman", "--runtime", "runc"]
ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]
BOOT_TIMEOUT = 120.0
# Groups whose hosts join only the private network. (netavark forwards between its bridges, so
# this is the topology's shape, not a wall: the app hosts' firewall is what keeps others out.)
PRIVATE_GROUPS = frozenset({"app"})
# Every host also answers to <name>.wsfleet.test and ws.<name>.wsfleet.test (a second name, for
# certificates with several) on each of its fleet's networks (podman's DNS), so the ACME host can
# validate certificates for those names. `.test` is reserved for such use (RFC 2606).
FLEET_DOMAIN = "wsfleet.test"
# The floating addresses sit this far below the top of the public subnet: podman gives hosts the
# lowest addresses, and tests add client addresses at the very top.
FLOATING_OFFSET = 64


class FleetError(Exception):
    """A problem the user can fix; printed without a traceback."""


@dataclass(frozen=True)
class Addresses:
    """A host's inventory address and its address on the private network."""

    inventory: str
    private: str


@dataclass(frozen=True)
class Host:
    name: str
    group: str
    container: str
    suite: str

    def networks(self, fleet: str) -> list[str]:
        """The podman networks the host joins, the one of its inventory address first."""
        private = private_network(fleet)
        return [private] if self.group in PRIVATE_GROUPS else [public_network(fleet), private]

    def addresses(self, fleet: str) -> Addresses:
        """Its inventory address (on the public network when the host is on it) and its address
        on the private network, where the edge meets the app hosts: one look at the container."""
        found = container_addresses(self.container)
        inventory, private = self.networks(fleet)[0], private_network(fleet)
        for network in (inventory, private):
            if not found.get(network):
                raise FleetError(f"{self.container} has no IP address on the network {network}")
        return Addresses(inventory=found[inventory], private=found[private])


def run(cmd: list[str], *, check: bool = True, capture: bool = True, **kwargs) -> str:
    result = subprocess.run(cmd, check=False, text=True, capture_output=capture, **kwargs)
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip()
        raise FleetError(f"command failed ({result.returncode}): {' '.join(cmd)}\n{detail}")
    return (result.stdout or "").strip()


def podman(*args: str, check: bool = True) -> str:
    return run([*PODMAN, *args], check=check)


def check_prerequisites(*, need_debootstrap: bool) -> None:
    if os.geteuid() != 0:
        raise FleetError(
            "the local fleet needs root (rootful podman with systemd hosts): run as root"
        )
    missing = [tool for tool in ("podman", "runc", "ssh", "ssh-keygen") if not shutil.which(tool)]
    if need_debootstrap and not shutil.which("debootstrap"):
        missing.append("debootstrap")
    if missing:
        raise FleetError(
            f"missing tools: {', '.join(missing)}. Install them with: "
            "apt-get install podman runc debootstrap netavark aardvark-dns openssh-client "
            "(scripts/bootstrap.sh does this)"
        )


# --- image --------------------------------------------------------------------------------


def image_tag(suite: str) -> str:
    digest = hashlib.sha256(RECIPE.read_bytes() + suite.encode()).hexdigest()[:12]
    return f"{IMAGE_REPOSITORY}:{suite}-{digest}"


def image_exists(tag: str) -> bool:
    return subprocess.run([*PODMAN, "image", "exists", tag], check=False).returncode == 0


def ensure_image(suite: str) -> str:
    tag = image_tag(suite)
    if image_exists(tag):
        return tag
    check_prerequisites(need_debootstrap=True)
    mirror = os.environ.get("WSFLEET_DEBIAN_MIRROR", "")
    say(f"building host image {tag} with debootstrap (about a minute, cached afterwards)")
    with tempfile.TemporaryDirectory(prefix="wsfleet-rootfs-") as workdir:
        root = Path(workdir) / "root"
        result = subprocess.run(["bash", str(RECIPE), suite, str(root), mirror], check=False)
        if result.returncode != 0:
            raise FleetError(f"building the root filesystem failed (exit {result.returncode})")
        import_rootfs(root, tag)
    return tag


def import_rootfs(root: Path, tag: str) -> None:
    tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
    importer = subprocess.run(
        [
            *PODMAN,
            "import",
            "--change",
            'CMD ["/sbin/init"]',
            "--change",
            "STOPSIGNAL SIGRTMIN+3",
            "-",
            tag,
        ],
        stdin=tar.stdout,
        check=False,
        capture_output=True,
        text=True,
    )
    tar.wait()
    if tar.returncode != 0 or importer.returncode != 0:
        raise FleetError(f"podman import failed: {importer.stderr.strip()}")


# --- hosts --------------------------------------------------------------------------------


def fleet_hosts(name: str, shape: dict[str, int], suite: str) -> list[Host]:
    return [
        Host(name=f"{group}{index}", group=group, container=f"{name}-{group}{index}", suite=suite)
        for group, count in shape.items()
        for index in range(1, count + 1)
    ]


def parse_host_specs(name: str, specs: list[str], default_suite: str) -> list[Host]:
    """Hosts given one by one as NAME:GROUP[:SUITE], e.g. app2:app:trixie."""
    hosts = []
    for spec in specs:
        parts = spec.split(":")
        if len(parts) not in (2, 3) or not all(parts):
            raise FleetError(f"--host {spec!r}: expected NAME:GROUP or NAME:GROUP:SUITE")
        suite = parts[2] if len(parts) == 3 else default_suite
        hosts.append(
            Host(name=parts[0], group=parts[1], container=f"{name}-{parts[0]}", suite=suite)
        )
    return hosts


def existing_containers(name: str) -> dict[str, tuple[str, str]]:
    """Containers of this fleet, by name, with their state (running, exited, ...) and image."""
    out = podman("ps", "-a", "--filter", f"label=wsfleet.fleet={name}", "--format", "json")
    return {
        container["Names"][0]: (container["State"], container["Image"])
        for container in json.loads(out or "[]")
    }


def private_network(fleet: str) -> str:
    return fleet


def public_network(fleet: str) -> str:
    return f"{fleet}-public"


def network_exists(name: str) -> bool:
    return subprocess.run([*PODMAN, "network", "exists", name], check=False).returncode == 0


def ensure_networks(fleet: str) -> None:
    for name in (private_network(fleet), public_network(fleet)):
        if not network_exists(name):
            podman("network", "create", "--label", f"wsfleet.fleet={fleet}", name)


def network_facts(name: str) -> dict[str, str]:
    """The bridge on the controller, the subnet and the controller's address (the gateway)."""
    facts = json.loads(podman("network", "inspect", name))[0]
    subnet = facts["subnets"][0]
    return {
        "name": name,
        "interface": facts["network_interface"],
        "subnet": subnet["subnet"],
        "gateway": subnet["gateway"],
    }


def floating_addresses(subnet: str, edges: int) -> list[str]:
    """One address per edge host on the public network (none for a single edge), with the
    subnet's prefix, as keepalived holds them."""
    network = ipaddress.ip_network(subnet)
    if edges < 2:
        return []
    return [f"{network[-FLOATING_OFFSET - index]}/{network.prefixlen}" for index in range(edges)]


def container_addresses(container: str) -> dict[str, str]:
    """{network: the container's address on it}."""
    networks = json.loads(
        podman("inspect", "--format", "{{json .NetworkSettings.Networks}}", container)
    )
    return {name: network.get("IPAddress", "") for name, network in networks.items()}


def start_host(
    fleet: str, host: Host, tag: str, public_key: Path, existing: tuple[str, str] | None
) -> None:
    if existing is not None and existing[1] != tag:
        # The recipe or the suite changed: this host must be rebuilt from the new image.
        say(f"recreating {host.name}: its image {existing[1]} is not {tag}")
        podman("rm", "--force", "--time", "5", host.container)
        existing = None
    networks = host.networks(fleet)
    if existing is not None and set(container_addresses(host.container)) != set(networks):
        # A fleet made before the two networks, or a host that changed group.
        say(f"recreating {host.name}: it is not on the networks {', '.join(networks)}")
        podman("rm", "--force", "--time", "5", host.container)
        existing = None
    if existing is not None:
        if existing[0] != "running":
            podman("start", host.container)
        return
    podman(
        "run",
        "--detach",
        "--name",
        host.container,
        "--hostname",
        host.name,
        *(option for network in host.networks(fleet) for option in ("--network", network)),
        # The aliases hold on every network the host joins.
        "--network-alias",
        host.name,
        "--network-alias",
        f"{host.name}.{FLEET_DOMAIN}",
        "--network-alias",
        f"ws.{host.name}.{FLEET_DOMAIN}",
        "--label",
        f"wsfleet.fleet={fleet}",
        "--label",
        f"wsfleet.group={host.group}",
        # systemd sandboxing in units (PrivateTmp, ProtectSystem, ...) needs namespaces that
        # an unprivileged container may not create; privileged hosts behave like VMs here.
        "--privileged",
        "--systemd",
        "always",
        *ULIMITS,
        "--volume",
        f"{public_key}:/root/.ssh/authorized_keys:ro",
        tag,
        "/sbin/init",
    )


def wait_until_booted(host: Host) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        status = run(
            [*PODMAN, "exec", host.container, "systemctl", "is-system-running"], check=False
        )
        if status in ("running", "degraded"):
            if status == "degraded":
                failed = podman(
                    "exec", host.container, "systemctl", "--failed", "--no-legend", "--plain"
                )
                say(f"warning: {host.name} booted degraded; failed units:\n{failed}")
            return
        time.sleep(0.5)
    raise FleetError(f"{host.name}: systemd did not finish booting in {BOOT_TIMEOUT:.0f}s")


def wait_for_ssh(address: str) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, 22), timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise FleetError(f"sshd on {address} did not answer in {BOOT_TIMEOUT:.0f}s")


def host_key(host: Host) -> str:
    return podman("exec", host.container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub")


# --- state: SSH key and inventory ---------------------------------------------------------


def ensure_ssh_key() -> Path:
    key = STATE_ROOT / "ssh" / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "wsfleet-local-fleet",
                "-f",
                str(key),
            ]
        )
    return key


def write_inventory(
    path: Path, fleet: str, hosts: list[Host], found: dict[str, Addresses], key: Path
) -> None:
    """A YAML inventory (JSON is valid YAML) with every connection detail pinned."""
    state_dir = STATE_ROOT / fleet
    state_dir.mkdir(parents=True, exist_ok=True)
    known_hosts = state_dir / "known_hosts"
    addresses = {name: found[name].inventory for name in found}
    known_hosts.write_text(
        "".join(f"{addresses[h.name]} {host_key(h)}\n" for h in hosts), encoding="utf-8"
    )
    public = network_facts(public_network(fleet))
    floating = floating_addresses(public["subnet"], sum(h.group == "edge" for h in hosts))
    groups: dict[str, dict] = {}
    for host in hosts:
        groups.setdefault(host.group, {"hosts": {}})["hosts"][host.name] = {
            "ansible_host": addresses[host.name],
            # Per host, not for all: the controller's implicit localhost keeps its own Python.
            "ansible_python_interpreter": "/usr/bin/python3",
            "wsfleet_container": host.container,
        }
    inventory = {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(key),
                "ansible_ssh_common_args": (
                    f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes"
                ),
                "wsfleet_fleet_name": fleet,
                "wsfleet_fleet_domain": FLEET_DOMAIN,
                # Where the fleet's own files live on the controller (e.g. the ACME host's CA).
                "wsfleet_fleet_state_dir": str(state_dir),
                "wsfleet_edge_floating_addresses": floating,
            },
            "children": groups,
        }
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Written by fleet/localfleet.py up: the addresses change with every new fleet.\n"
        + json.dumps(inventory, indent=2)
        + "\n",
        encoding="utf-8",
    )
    (state_dir / "hosts.json").write_text(
        json.dumps(
            [
                {
                    "name": h.name,
                    "group": h.group,
                    "container": h.container,
                    "address": addresses[h.name],
                    "private_address": found[h.name].private,
                }
                for h in hosts
            ],
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    # Tests and benchmarks reach the hosts from the controller on these bridges.
    (state_dir / "networks.json").write_text(
        json.dumps(
            {
                "public": {**public, "floating": floating},
                "private": network_facts(private_network(fleet)),
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )


# --- commands -----------------------------------------------------------------------------


def cmd_up(args: argparse.Namespace) -> None:
    check_prerequisites(need_debootstrap=False)
    if args.host:
        hosts = parse_host_specs(args.name, args.host, args.suite)
    else:
        shape = {
            "app": args.app,
            "edge": args.edge,
            "acme": args.acme,
            "monitoring": args.monitoring,
        }
        hosts = fleet_hosts(args.name, {g: n for g, n in shape.items() if n > 0}, args.suite)
    tags = {suite: ensure_image(suite) for suite in sorted({host.suite for host in hosts})}
    key = ensure_ssh_key()
    remove_surplus_hosts(args.name, hosts)
    ensure_networks(args.name)
    existing = existing_containers(args.name)
    for host in hosts:
        start_host(
            args.name, host, tags[host.suite], key.with_suffix(".pub"), existing.get(host.container)
        )
    found = {}
    for host in hosts:
        wait_until_booted(host)
        found[host.name] = host.addresses(args.name)
        wait_for_ssh(found[host.name].inventory)
    write_inventory(Path(args.inventory), args.name, hosts, found, key)
    say(
        f"fleet {args.name} is up: "
        + ", ".join(f"{h.name}={found[h.name].inventory} ({h.suite})" for h in hosts)
    )
    say(f"inventory: {args.inventory}")


def remove_surplus_hosts(fleet: str, wanted: list[Host]) -> None:
    wanted_names = {host.container for host in wanted}
    for container in existing_containers(fleet):
        if container not in wanted_names:
            say(f"removing {container}: not in the requested fleet shape")
            podman("rm", "--force", "--time", "5", container)


def cmd_down(args: argparse.Namespace) -> None:
    check_prerequisites(need_debootstrap=False)
    for container in existing_containers(args.name):
        podman("rm", "--force", "--time", "5", container)
    for network in (public_network(args.name), private_network(args.name)):
        if network_exists(network):
            podman("network", "rm", network)
    shutil.rmtree(STATE_ROOT / args.name, ignore_errors=True)
    inventory = Path(args.inventory)
    if inventory.exists():
        inventory.unlink()
    say(f"fleet {args.name} is down")


def cmd_status(args: argparse.Namespace) -> None:
    check_prerequisites(need_debootstrap=False)
    containers = existing_containers(args.name)
    if not containers:
        say(f"fleet {args.name}: no hosts")
        return
    for container, (state, image) in sorted(containers.items()):
        addresses = ",".join(container_addresses(container).values()) if state == "running" else "-"
        say(f"{container:30} {state:10} {addresses:32} {image}")


def cmd_image(args: argparse.Namespace) -> None:
    check_prerequisites(need_debootstrap=False)
    say(ensure_image(args.suite))


def say(message: str) -> None:
    print(f"localfleet: {message}", flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    default_inventory = str(PROJECT_ROOT / "inventories" / "local" / "hosts.yml")
    for command in ("up", "down", "status"):
        p = sub.add_parser(command)
        p.add_argument("--name", default="wsfleet", help="fleet name: prefixes containers")
        p.add_argument("--inventory", default=default_inventory)
        if command == "up":
            p.add_argument("--app", type=int, default=3, help="hosts in group app")
            p.add_argument("--edge", type=int, default=2, help="hosts in group edge")
            p.add_argument("--acme", type=int, default=1, help="hosts in group acme (Pebble)")
            p.add_argument(
                "--monitoring",
                type=int,
                default=1,
                help="hosts in group monitoring (Prometheus, on both networks)",
            )
            p.add_argument("--suite", default="bookworm", help="Debian suite of the hosts")
            p.add_argument(
                "--host",
                action="append",
                default=[],
                metavar="NAME:GROUP[:SUITE]",
                help="one host; repeat for each (replaces --app/--edge/--acme)",
            )
    image = sub.add_parser("image")
    image.add_argument("--suite", default="bookworm")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    handlers = {"up": cmd_up, "down": cmd_down, "status": cmd_status, "image": cmd_image}
    try:
        handlers[args.command](args)
    except FleetError as error:
        print(f"localfleet: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
