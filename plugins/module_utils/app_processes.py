# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The app's processes on a host, as app_rollout drives them: where each process slot and side
listens (Addresses), the nftables map from a slot's TCP port to its live side's
(SlotPortMap), and the two process managers, systemd and supervisor, with the slot addresses
and the boot record they share (SidedManager).

The paths the app role also knows (the runtime folder, the slots' tmpfiles entry, the NAT map
file, supervisor's files) are passed in by the module, which takes them from the role: they are
written in one place only, the role's vars.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re

from ansible_collections.wsfleet.deploy.plugins.module_utils import slot_ports
from ansible_collections.wsfleet.deploy.plugins.module_utils.releases import (
    link_target_id,
    replace_symlink,
)
from ansible_collections.wsfleet.deploy.plugins.module_utils.rollout import SIDES, RolloutError

# Where the app lives on the host and how its processes listen, as app_rollout takes it from
# the app role (documented once, in the doc fragment wsfleet.deploy.app_layout).
LAYOUT_OPTIONS = dict(
    name=dict(type="str", required=True),
    base_dir=dict(type="path", required=True),
    runtime_dir=dict(type="path", required=True),
    bind=dict(type="str", choices=["unix", "tcp", "reuseport"], default="unix"),
    tcp_address=dict(type="str", default="127.0.0.1"),
    tcp_port_base=dict(type="int", default=8001),
    tcp_side_port_base=dict(type="int", default=9001),
    slot_ports_file=dict(type="path", required=True),
    slots_tmpfiles=dict(type="path", required=True),
    supervisor_boot_file=dict(type="path", required=True),
    supervisor_conf=dict(type="path", required=True),
)
ACTIVE_STATES = ("active", "activating", "reloading")
# Where `systemctl enable` links the units that start at boot.
WANTS_DIR = "/etc/systemd/system/multi-user.target.wants"


def command_error(rc, out, err):
    return ("%s %s" % (err, out)).strip() or "exit status %d" % rc


def running_manager(supervisor_conf):
    """The process manager that runs the app here: supervisor has its programs' file."""
    return "supervisor" if os.path.exists(supervisor_conf) else "systemd"


class Addresses:
    """Where process slot N, side S listens, as the probe reaches it."""

    def __init__(self, bind, runtime_dir, tcp_address, tcp_port_base, tcp_side_port_base=9001):
        self.bind = bind
        self.runtime_dir = runtime_dir
        self.address = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(tcp_address, tcp_address)
        self.host = "[%s]" % self.address if ":" in self.address else self.address
        self.tcp_port_base = tcp_port_base
        self.tcp_side_port_base = tcp_side_port_base

    def socket(self, slot, side):
        return os.path.join(self.runtime_dir, "%d%s.sock" % (slot, side))

    def slot_link(self, slot):
        return os.path.join(self.runtime_dir, "%d.sock" % slot)

    def slot_port(self, slot):
        """The port the router connects to: the slot's own, or the one all share."""
        return self.tcp_port_base + (slot - 1 if self.bind == "tcp" else 0)

    def port(self, slot, side):
        if self.bind == "tcp":
            return slot_ports.side_port(self.tcp_side_port_base, slot, side)
        return self.slot_port(slot)

    def probe_target(self, slot, side):
        """(url, unix_socket) of one process."""
        if self.bind == "unix":
            return "ws://localhost/", self.socket(slot, side)
        return "ws://%s:%d/" % (self.host, self.port(slot, side)), None


def make_parent(path):
    """The folder a file the module writes goes in, made when missing."""
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        os.makedirs(folder, 0o755)


def write_if_changed(path, content):
    """Replace a file atomically (mode 0644) unless it already holds content."""
    try:
        with open(path) as handle:
            if handle.read() == content:
                return False
    except (IOError, OSError):
        pass
    temporary = path + ".tmp"
    with open(temporary, "w") as handle:
        handle.write(content)
    os.chmod(temporary, 0o644)
    os.rename(temporary, path)
    return True


class SlotPortMap:
    """With TCP ports: the app's nftables NAT map from each slot's port to its live side's."""

    def __init__(self, module, name, addresses, path):
        self.module = module
        self.name = name
        self.addresses = addresses
        self.path = path
        self.table = slot_ports.table_name(name)
        self.nft = module.get_bin_path("nft")

    def _run(self, *args):
        if not self.nft:
            raise RolloutError("nft not found: surge on TCP ports needs nftables")
        return self.module.run_command([self.nft, *args])

    def read(self):
        """{slot port: side port} as the kernel has it now ({} without the table)."""
        if not self.nft:
            return {}
        rc, out, _err = self._run("-j", "list", "map", "inet", self.table, slot_ports.MAP)
        return slot_ports.parse_map(out) if rc == 0 else {}

    def side_reached(self, slot):
        """The side whose port the slot's port leads to now, or None."""
        target = self.read().get(self.addresses.slot_port(slot))
        for side in SIDES:
            if self.addresses.port(slot, side) == target:
                return side
        return None

    def point_slot(self, slot, side):
        """Send the slot's port to that side's, now; the other slots stay as the kernel has
        them (a slot not in the map yet is reached on its own port: its old process)."""
        mapping = self.read()
        mapping[self.addresses.slot_port(slot)] = self.addresses.port(slot, side)
        self._load_now(mapping)

    def forget_slot(self, slot):
        mapping = self.read()
        if mapping.pop(self.addresses.slot_port(slot), None) is not None:
            self._load_now(mapping)

    def apply(self, live):
        """Make the slot ports of live ({slot: side}) lead to those sides, now and at boot:
        the whole map, at the end of a rollout, with the rest of what the boot starts."""
        mapping = self._mapping(live)
        make_parent(self.path)
        changed = write_if_changed(self.path, self._render(mapping))
        if changed or self.read() != mapping:
            self._load(self.path)
            changed = True
        return changed

    def _mapping(self, live):
        return dict(
            (self.addresses.slot_port(slot), self.addresses.port(slot, side))
            for slot, side in live.items()
        )

    def _render(self, mapping):
        return slot_ports.render(self.name, self.addresses.address, mapping)

    def _load_now(self, mapping):
        """Into the kernel only: the file the boot loads is written at the end of the rollout,
        with which side of each slot starts at boot."""
        make_parent(self.path)
        temporary = self.path + ".now"
        with open(temporary, "w") as handle:
            handle.write(self._render(mapping))
        try:
            self._load(temporary)
        finally:
            os.unlink(temporary)

    def _load(self, path):
        rc, out, err = self._run("-f", path)
        if rc != 0:
            raise RolloutError("nft -f %s: %s" % (path, command_error(rc, out, err)))

    def _table_loaded(self):
        return bool(self.nft) and self._run("list", "table", "inet", self.table)[0] == 0

    def present(self):
        """Whether there is a table or a file to remove."""
        return os.path.exists(self.path) or self._table_loaded()

    def remove(self):
        """No table and no file: the slots' ports are the processes' own again."""
        changed = os.path.exists(self.path)
        if changed:
            os.unlink(self.path)
        if self._table_loaded():
            rc, out, err = self._run("delete", "table", "inet", self.table)
            if rc != 0:
                raise RolloutError("nft delete table: %s" % command_error(rc, out, err))
            changed = True
        return changed


class SidedManager:
    """What both process managers share. Slot N runs on side a or b, one at a time but for the
    moment of a surge; the slot's address reaches the live side: a symlink to its socket (unix
    sockets) or a NAT map entry to its port (TCP ports). A manager gives active_sides(),
    start(), stop() and record_boot() (what starts at boot)."""

    # systemd makes the socket folder for its units only when one starts (RuntimeDirectory=),
    # so the slot links' tmpfiles entry declares it for the boot; supervisor's role does.
    declares_runtime_dir = True

    def __init__(self, module, name, addresses, slots_tmpfiles, slot_port_map=None):
        self.module = module
        self.name = name
        self.addresses = addresses
        self.slot_port_map = slot_port_map if addresses.bind == "tcp" else None
        self.can_surge = addresses.bind == "unix" or self.slot_port_map is not None
        # The systemd-tmpfiles entry that makes the slot links again at boot.
        self.tmpfiles = slots_tmpfiles
        self._orphans = []

    def running(self):
        self._orphans = []
        live = {}
        for slot, active in self.active_sides().items():
            live[slot] = self._live_side(slot, sorted(active))
            self._orphans.extend((slot, side) for side in active if side != live[slot])
        return live

    def _live_side(self, slot, active):
        """Of two processes on one slot (an interrupted surge), the one its address reaches."""
        if len(active) == 1:
            return active[0]
        if self.slot_port_map:
            reached = [self.slot_port_map.side_reached(slot)]
        else:
            target = link_target_id(self.addresses.slot_link(slot)) or ""
            reached = [side for side in active if target == "%d%s.sock" % (slot, side)]
        reached = [side for side in reached if side in active]
        return reached[0] if reached else active[0]

    def orphans(self):
        return list(self._orphans)

    def point(self, slot, side):
        if self.slot_port_map:
            self.slot_port_map.point_slot(slot, side)
        elif self.can_surge:
            replace_symlink(self.addresses.slot_link(slot), "%d%s.sock" % (slot, side))

    def forget(self, slot):
        if self.slot_port_map:
            self.slot_port_map.forget_slot(slot)
        elif self.can_surge and os.path.islink(self.addresses.slot_link(slot)):
            os.unlink(self.addresses.slot_link(slot))

    def commit(self, live):
        """What starts at boot, and each slot's address as the boot must make it again: the
        slot links by systemd-tmpfiles (unix sockets), or the NAT map (TCP ports)."""
        changed = self.record_boot(live)
        if self.slot_port_map:
            changed = self.slot_port_map.apply(live) or changed
        if self.addresses.bind != "unix":
            return self._drop_slot_links() or changed
        for slot, side in live.items():
            target = "%d%s.sock" % (slot, side)
            if link_target_id(self.addresses.slot_link(slot)) != target:
                self.point(slot, side)
                changed = True
        changed = self._drop_slot_links(keep=live) or changed
        changed = self._write_tmpfiles(live) or changed
        return changed

    def _drop_slot_links(self, keep=None):
        """Slot links left from unix sockets once the processes listen on TCP (keep None), or
        those of slots that no longer run (a slot removed by `supervisorctl update`)."""
        paths = [self.tmpfiles] if keep is None and os.path.exists(self.tmpfiles) else []
        paths += [
            path
            for path in glob.glob(os.path.join(self.addresses.runtime_dir, "*.sock"))
            if os.path.islink(path)
            and re.match(r"^\d+\.sock$", os.path.basename(path))
            and int(os.path.basename(path)[:-5]) not in (keep or {})
        ]
        for path in paths:
            os.unlink(path)
        return bool(paths)

    def _write_tmpfiles(self, live):
        lines = [
            "# Written by wsfleet.deploy (app_rollout): where each process slot of %s points."
            % self.name,
            "# NGINX connects to <slot>.sock; it names the socket of the live process.",
        ]
        try:
            folder = os.stat(self.addresses.runtime_dir)
            if self.declares_runtime_dir:
                lines.append(
                    "d %s %04o %d %d -"
                    % (
                        self.addresses.runtime_dir,
                        folder.st_mode & 0o7777,
                        folder.st_uid,
                        folder.st_gid,
                    )
                )
        except OSError:
            pass
        for slot in sorted(live):
            lines.append(
                "L+ %s - - - - %d%s.sock" % (self.addresses.slot_link(slot), slot, live[slot])
            )
        return write_if_changed(self.tmpfiles, "\n".join(lines) + "\n")


class SystemdManager(SidedManager):
    """Processes as instances <name>@<slot><side>.service of the role's template unit."""

    def __init__(self, module, name, addresses, slots_tmpfiles, slot_port_map=None):
        super(SystemdManager, self).__init__(module, name, addresses, slots_tmpfiles, slot_port_map)
        self.pattern = re.compile(r"^%s@(\d+)([ab])\.service$" % re.escape(name))

    def unit(self, slot, side):
        return "%s@%d%s.service" % (self.name, slot, side)

    def _systemctl(self, *args):
        rc, out, err = self.module.run_command(["systemctl", *args])
        if rc != 0:
            raise RolloutError(command_error(rc, out, err))
        return out

    def active_sides(self):
        out = self._systemctl(
            "list-units", "--all", "--plain", "--no-legend", "--type=service", "%s@*" % self.name
        )
        sides = {}
        for line in out.splitlines():
            fields = line.split()
            match = self.pattern.match(fields[0]) if fields else None
            if match and len(fields) >= 3 and fields[2] in ACTIVE_STATES:
                sides.setdefault(int(match.group(1)), []).append(match.group(2))
        return sides

    def start(self, slot, side):
        unit = self.unit(slot, side)
        try:
            self._systemctl("start", unit)
        except RolloutError:
            # A unit that hit its start limit stays failed until reset: clear it, try once more.
            self.module.run_command(["systemctl", "reset-failed", unit])
            self._systemctl("start", unit)

    def stop(self, slot, side):
        self._systemctl("stop", self.unit(slot, side))

    def record_boot(self, live):
        """The live side of each slot enabled, the other units disabled."""
        changed = False
        wanted = set(self.unit(slot, side) for slot, side in live.items())
        enabled = set(
            os.path.basename(path)
            for path in glob.glob(os.path.join(WANTS_DIR, "%s@*.service" % self.name))
        )
        # Only the wants links change, which systemd reads at boot: no daemon reload (each
        # would cost about 0.15 s per host and reload every unit for nothing).
        if wanted - enabled:
            self._systemctl("enable", "--no-reload", *sorted(wanted - enabled))
            changed = True
        if enabled - wanted:
            self._systemctl("disable", "--no-reload", *sorted(enabled - wanted))
            changed = True
        return changed


class SupervisorManager(SidedManager):
    """Processes as supervisor programs <name>_<NN><side>, which the role declares with
    autostart off: which side starts when supervisord does is what the rollout writes to
    boot_file, for the role's event listener that starts them (a program's own autostart cannot
    change without `supervisorctl update` restarting it)."""

    declares_runtime_dir = False

    def __init__(self, module, name, addresses, slots_tmpfiles, boot_file, slot_port_map=None):
        super(SupervisorManager, self).__init__(
            module, name, addresses, slots_tmpfiles, slot_port_map
        )
        self.boot_file = boot_file
        self.pattern = re.compile(r"^%s_(\d+)([ab])$" % re.escape(name))

    def program(self, slot, side):
        return "%s_%02d%s" % (self.name, slot, side)

    def _supervisorctl(self, *args):
        rc, out, err = self.module.run_command(["supervisorctl", *args])
        # supervisorctl reports a program that did not start in its output, not its status.
        if rc != 0 or "ERROR" in out:
            raise RolloutError(command_error(rc, out, err))
        return out

    def active_sides(self):
        # status exits 3 when some program is not running: that is an answer, not a failure.
        rc, out, err = self.module.run_command(["supervisorctl", "status"])
        if rc not in (0, 3):
            raise RolloutError(command_error(rc, out, err))
        sides = {}
        for line in out.splitlines():
            fields = line.split()
            match = self.pattern.match(fields[0]) if fields else None
            if match and len(fields) >= 2 and fields[1] in ("RUNNING", "STARTING"):
                sides.setdefault(int(match.group(1)), []).append(match.group(2))
        return sides

    def start(self, slot, side):
        self._supervisorctl("start", self.program(slot, side))

    def stop(self, slot, side):
        self._supervisorctl("stop", self.program(slot, side))

    def record_boot(self, live):
        programs = " ".join(self.program(slot, live[slot]) for slot in sorted(live))
        content = (
            "# Written by wsfleet.deploy (app_rollout): the programs of %s that start with"
            " supervisord.\nWSFLEET_LIVE_PROGRAMS=%s\n" % (self.name, programs)
        )
        make_parent(self.boot_file)
        return write_if_changed(self.boot_file, content)


def addresses_from_options(params):
    """The Addresses the layout options (LAYOUT_OPTIONS) describe."""
    return Addresses(
        params["bind"],
        params["runtime_dir"],
        params["tcp_address"],
        params["tcp_port_base"],
        params["tcp_side_port_base"],
    )


def manager_from_options(module, addresses, slot_port_map):
    """(name, manager) of what runs the processes, from the module's options; auto: what the
    host runs them with now."""
    params = module.params
    name = params["process_manager"]
    if name == "auto":
        name = running_manager(params["supervisor_conf"])
    common = (module, params["name"], addresses, params["slots_tmpfiles"])
    if name == "systemd":
        return name, SystemdManager(*common, slot_port_map=slot_port_map)
    boot_file = params["supervisor_boot_file"]
    return name, SupervisorManager(*common, boot_file=boot_file, slot_port_map=slot_port_map)
