#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: app_rollout
short_description: Roll a host's app processes onto a release through health gates
version_added: 0.2.0
description:
  - Does a host's whole rollout in one task, on the host, for the layout of the
    M(wsfleet.deploy.app) role. It reads what the process manager runs, makes O(release) live
    (the C(current) and C(previous) links under O(base_dir)) when it differs, then replaces
    every process a group at a time, starts missing ones and stops surplus ones.
  - Every process that starts must pass its health gate before the rollout goes on, on its
    own socket or port, C(GET) O(health_path) answering 200, then a WebSocket handshake with
    a ping.
  - With O(bind=unix) or O(bind=tcp), processes are replaced by surge, start before stop. Each
    process slot I(N) runs on one of two sides, C(a) or C(b) (under systemd the instance
    C(<name>@<N>a) or C(<name>@<N>b), under supervisor the program C(<name>_<NN>a) or
    C(<name>_<NN>b)). The successor starts on the other side, passes its gate, the slot's
    address is switched over to it, and only then the old process is stopped (it closes its
    clients with 1012). No connect is refused, the host never runs fewer processes than it
    should, and no router reload is needed.
  - With O(bind=unix) the sides listen on C(<runtime_dir>/<N>a.sock) and C(<N>b.sock); the
    slot's address, where the router connects, C(<runtime_dir>/<N>.sock), is a symlink renamed
    over to the live one.
  - With O(bind=tcp) the sides listen on ports of their own from O(tcp_side_port_base) on
    (C(a) on O(tcp_side_port_base) + 2(I(N)-1), C(b) on the next); the slot's own port, where
    the router connects, is rewritten for new local connections to the live side's port by an
    nftables NAT map in the app's own table, C(inet wsfleet_<name>_slots). Switching one map
    element is atomic, and connections already open keep their address. The table is also
    written to O(slot_ports_file), which the role's unit loads at boot. Needs C(nft).
  - With O(bind=reuseport) every process listens on the one shared port, where a successor
    would take connections before its gate, so a process is replaced in place; it is stopped (it
    drains), started again and gated. With any binding but O(bind=tcp), the module removes the
    app's NAT table and file first, if there are any.
  - What starts at boot is recorded at the end of every run; under systemd, the live side of
    each slot is enabled and the other disabled; under supervisor, whose programs the role
    declares with autostart off, the live programs are written to O(supervisor_boot_file) for
    the role's event listener that starts them whenever supervisord starts.
  - When a process fails its gate after the release switched, the module goes back by itself,
    with C(current) and C(previous) as they were and every process already replaced replaced
    again onto the release that ran before, and fails with a report of both.
  - A rollout cut short after it switched the release (a marker C(<base_dir>/.rollout-pending)
    stays) is finished by the next one, which replaces every process onto the live release.
  - A successor left running by an interrupted rollout (two processes on one slot) is stopped
    first; the slot keeps the process its address reaches.
  - Every run but one in check mode leaves its report (what it returns) as JSON in
    O(report_path) on the host, so that people and tools can read what the last rollout did
    there.
  - Must run with a Python that has C(websockets), such as the release's own virtualenv.
author:
  - wsfleet.deploy maintainers (!UNKNOWN)
requirements:
  - websockets >= 13.0 on the host, in the interpreter that runs the module.
options:
  name:
    description: The app's name, as the role names its units, programs and directories.
    type: str
    required: true
  base_dir:
    description: The app's base directory, holding C(releases/), C(current) and C(previous).
    type: path
    required: true
  runtime_dir:
    description: Where the processes' unix sockets live. Default C(/run/<name>).
    type: path
  process_manager:
    description:
      - What runs the processes. C(auto) finds out from the host, for a rollout of what it
        runs (a rolling restart, a rollback); supervisor when it has this app's programs
        (C(/etc/supervisor/conf.d/<name>.conf)), else systemd.
    type: str
    choices: [systemd, supervisor, auto]
    default: systemd
  bind:
    description: How each process listens, as the role's C(wsfleet_app_bind).
    type: str
    choices: [unix, tcp, reuseport]
    default: unix
  tcp_address:
    description: The address the processes listen on with O(bind=tcp) or O(bind=reuseport).
    type: str
    default: 127.0.0.1
  tcp_port_base:
    description:
      - Port of process slot 1, where the router connects (O(bind=tcp)), or the port shared by
        all processes (O(bind=reuseport)).
    type: int
    default: 8001
  tcp_side_port_base:
    description:
      - With O(bind=tcp), the port of side C(a) of slot 1; each slot takes two ports from here
        on. The range must not overlap the slots' own ports.
    type: int
    default: 9001
  slot_ports_file:
    description:
      - With O(bind=tcp), where the NAT table is written for the boot (C(nft -f)). Default
        C(/etc/<name>/slot-ports.nft).
    type: path
  supervisor_boot_file:
    description:
      - Under supervisor, where the programs that start with supervisord are written, as
        C(WSFLEET_LIVE_PROGRAMS=<program> ...). Default C(/etc/<name>/supervisor-programs.env).
    type: path
  processes:
    description:
      - How many process slots the host runs; slots beyond are stopped.
      - Left out, the slots that run now are kept, and the module fails when none runs.
    type: int
  release:
    description:
      - Id of the release to make live (a directory under C(<base_dir>/releases), complete).
        Every process is replaced when it differs from the live one.
      - Left out, the live release stays.
    type: str
  rollback:
    description:
      - Make the release that was live before (C(previous)) live again. Fails when there is none.
      - Mutually exclusive with O(release).
    type: bool
    default: false
  replace:
    description: Replace every running process even when the release does not change.
    type: bool
    default: false
  group_size:
    description: Processes replaced at once. With surge, at most this many extra processes run.
    type: int
    default: 1
  health_path:
    description: Path of the health check every process must answer with 200.
    type: str
    default: /healthz
  health_retries:
    description: How many more times the gate tries a process after a failed attempt.
    type: int
    default: 120
  health_delay:
    description:
      - Seconds between two attempts of the gate, at most. The first waits are shorter (0.02 s,
        doubling), since most processes are ready within a fraction of a second.
    type: float
    default: 0.25
  health_timeout:
    description: Seconds each step of one attempt (connect, health check, handshake, ping) may take.
    type: float
    default: 5
  report_path:
    description:
      - Where the run's report is written on the host (JSON, mode 0644, replaced atomically).
        Default C(<base_dir>/last-rollout.json).
    type: path
  report_dir:
    description:
      - A folder on the controller where the report is also kept, as C(<inventory_hostname>.json)
        (what the module returns, without C(invocation); replaced whole), created if missing.
        Written by the module's action plugin on the controller, in check mode too.
    type: path
attributes:
  action:
    description: The action plugin runs the module, then keeps the report on the controller.
    support: full
  check_mode:
    description: Reports what it would do (RV(planned)) without doing it.
    support: full
  diff_mode:
    description: Not supported.
    support: none
notes:
  - The role runs it with the release's own Python, which has C(websockets).
seealso:
  - module: wsfleet.deploy.app_release
  - module: wsfleet.deploy.websocket_probe
"""

EXAMPLES = r"""
- name: Deploy a release, replacing the processes one at a time by surge
  wsfleet.deploy.app_rollout:
    name: echo
    base_dir: /srv/echo
    processes: 4
    release: 1.1.0-3fa2c1d9e0ab
  vars:
    ansible_python_interpreter: /srv/echo/releases/1.1.0-3fa2c1d9e0ab/venv/bin/python

- name: Rolling restart onto the same release
  wsfleet.deploy.app_rollout:
    name: echo
    base_dir: /srv/echo
    processes: 4
    replace: true
    # Also kept on the controller, as reports/<inventory_hostname>.json.
    report_dir: reports
  vars:
    ansible_python_interpreter: /srv/echo/current/venv/bin/python
"""

RETURN = r"""
outcome:
  description:
    - C(unchanged) (nothing to do), C(done), C(failed) (a process failed and nothing was switched
      to go back from), C(rolled_back) (the host is back on the release it ran before), or
      C(rollback_failed).
  returned: always
  type: str
  sample: done
mode:
  description: How processes are replaced on this host, C(surge) or C(in_place).
  returned: always
  type: str
process_manager:
  description: The process manager the rollout worked with (what C(auto) found).
  returned: always
  type: str
release_before:
  description: Id of the release live before the rollout.
  returned: always
  type: str
release_after:
  description: Id of the release live after it (what it would be, in check mode).
  returned: always
  type: str
previous_after:
  description: Id of the release C(previous) names after the rollout.
  returned: always
  type: str
switched:
  description: Whether the rollout made another release live (before any rollback).
  returned: always
  type: bool
interrupted:
  description:
    - Whether an earlier rollout had switched the release and was cut short (the controller
      killed, say) before every process ran it; this run then replaced every process.
  returned: always
  type: bool
planned:
  description: The steps the rollout planned, in order.
  returned: always
  type: list
  elements: dict
  sample: [{"process": 1, "action": "replace"}, {"process": 3, "action": "start"}]
processes:
  description:
    - One entry per step done, in order, C(rollback) steps included.
    - C(process), C(action) (C(replace), C(start), C(stop), C(orphan), C(check)), C(phase)
      (C(rollout), C(rollback)), C(mode), C(old_side), C(new_side), C(connections_before),
      C(drain_seconds), C(start_to_healthy_seconds), C(gate_passed), C(attempts), C(release)
      (as the process's health check reports it), C(reason).
  returned: always
  type: list
  elements: dict
failure:
  description: Why the rollout stopped, naming the process, or null.
  returned: always
  type: str
rollback_failure:
  description: Why going back failed too, or null.
  returned: always
  type: str
seconds:
  description: Wall time of the rollout on the host.
  returned: always
  type: float
started:
  description: When the rollout began on the host, in seconds since the epoch.
  returned: always
  type: float
report_path:
  description: Where the report was written on the host (not in check mode).
  returned: always
  type: str
  sample: /srv/echo/last-rollout.json
"""

import glob
import os
import re
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.wsfleet.deploy.plugins.module_utils.releases import (
    link_target_id,
    read_release,
    replace_symlink,
    write_json_whole,
)
from ansible_collections.wsfleet.deploy.plugins.module_utils import slot_ports
from ansible_collections.wsfleet.deploy.plugins.module_utils.rollout import (
    DONE,
    SIDES,
    UNCHANGED,
    GateResult,
    Rollout,
    RolloutError,
)
from ansible_collections.wsfleet.deploy.plugins.module_utils.websocket_probe import (
    HAS_WEBSOCKETS,
    WEBSOCKETS_IMPORT_ERROR,
    ProbeError,
    check_health,
    probe_once,
    probe_with_retries,
)

ACTIVE_STATES = ("active", "activating", "reloading")
WANTS_DIR = "/etc/systemd/system/multi-user.target.wants"
# In the base directory while a rollout that switched the release is under way.
PENDING = ".rollout-pending"


def command_error(rc, out, err):
    return ("%s %s" % (err, out)).strip() or "exit status %d" % rc


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

    def __init__(self, module, name, addresses, slot_port_map=None):
        self.module = module
        self.name = name
        self.addresses = addresses
        self.slot_port_map = slot_port_map if addresses.bind == "tcp" else None
        self.can_surge = addresses.bind == "unix" or self.slot_port_map is not None
        self.tmpfiles = "/etc/tmpfiles.d/%s-slots.conf" % name
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

    def __init__(self, module, name, addresses, slot_port_map=None):
        super(SystemdManager, self).__init__(module, name, addresses, slot_port_map)
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

    def __init__(self, module, name, addresses, boot_file, slot_port_map=None):
        super(SupervisorManager, self).__init__(module, name, addresses, slot_port_map)
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


def backoff(delay, first=0.02):
    """Waits between gate attempts: short at first, since most processes are ready within a
    fraction of a second, doubling up to delay."""
    wait = first
    while True:
        yield min(wait, delay)
        wait *= 2


class Probe:
    """The health gate and the connection count, on each process's own address."""

    def __init__(self, addresses, params, sleep=time.sleep):
        self.addresses = addresses
        self.path = params["health_path"]
        self.retries = params["health_retries"]
        self.delay = params["health_delay"]
        self.timeout = params["health_timeout"]
        self.sleep = sleep

    def connections(self, slot, side):
        url, unix_socket = self.addresses.probe_target(slot, side)
        try:
            health = check_health(url, self.path, unix_socket, timeout=self.timeout)[1]
        except ProbeError:
            return None
        return health.get("connections") if isinstance(health, dict) else None

    def gate(self, slot, side):
        url, unix_socket = self.addresses.probe_target(slot, side)
        waits = backoff(self.delay)
        result, errors, attempts = probe_with_retries(
            lambda: probe_once(
                url, unix_socket, ping=True, timeout=self.timeout, health_path=self.path
            ),
            retries=self.retries,
            delay=self.delay,
            sleep=lambda _delay: self.sleep(next(waits)),
        )
        if result is None:
            return GateResult(False, attempts, errors[-1] if errors else "unknown")
        health = result.get("health")
        release = health.get("release") if isinstance(health, dict) else None
        return GateResult(True, attempts, release=release)


class ReleaseLinks:
    """current and previous under the app's base directory."""

    def __init__(self, base_dir):
        self.base_dir = base_dir
        self.releases_dir = os.path.join(base_dir, "releases")

    def _link(self, name):
        return os.path.join(self.base_dir, name)

    def current(self):
        return link_target_id(self._link("current"))

    def previous(self):
        return link_target_id(self._link("previous"))

    def interrupted(self):
        return os.path.exists(self._link(PENDING))

    def settle(self):
        if os.path.exists(self._link(PENDING)):
            os.unlink(self._link(PENDING))

    def switch(self, release):
        current = self.current()
        if current == release:
            return False
        # Written before the switch, removed once every process runs the live release: a
        # rollout cut short in between is finished by the next one.
        with open(self._link(PENDING), "w") as handle:
            handle.write("%s\n" % release)
        if current:
            replace_symlink(self._link("previous"), os.path.join(self.releases_dir, current))
        replace_symlink(self._link("current"), os.path.join(self.releases_dir, release))
        return True

    def restore(self, current, previous):
        for name, release in (("current", current), ("previous", previous)):
            if release:
                replace_symlink(self._link(name), os.path.join(self.releases_dir, release))
            elif os.path.islink(self._link(name)):
                os.unlink(self._link(name))


def target_release(module, links):
    """The release to make live, checked before anything changes; None keeps the live one."""
    params = module.params
    release = links.previous() if params["rollback"] else params["release"]
    if params["rollback"] and not release:
        module.fail_json(msg="%s has no previous release to roll back to" % links.base_dir)
    if release is None:
        return None
    if not release or "/" in release or release.startswith("."):
        module.fail_json(msg="release must be a release id (a directory name), not %r" % release)
    if release != links.current() and not read_release(links.releases_dir, release)["complete"]:
        if module.check_mode:
            module.warn("release %s is not installed yet (check mode)" % release)
        else:
            module.fail_json(
                msg="release %s is not installed completely in %s" % (release, links.releases_dir)
            )
    return release


def remove_slot_port_map(module, slot_port_map):
    """Remove the map (in check mode, tell whether there is one to remove)."""
    try:
        return slot_port_map.present() if module.check_mode else slot_port_map.remove()
    except (RolloutError, IOError, OSError) as exc:
        module.fail_json(msg="could not remove the NAT map of the slots' ports: %s" % exc)


def running_manager(name, supervisor_conf_dir="/etc/supervisor/conf.d"):
    """The process manager that runs the app here: supervisor has its programs' file."""
    if os.path.exists(os.path.join(supervisor_conf_dir, "%s.conf" % name)):
        return "supervisor"
    return "systemd"


def keep_report(report):
    """The run's report where the next person, or a benchmark, finds it: replaced whole."""
    content = dict(report, msg=failure_message(report) if report["failure"] else "")
    write_json_whole(report["report_path"], content, indent=1)


def failure_message(report):
    if report["outcome"] == "rolled_back":
        return "back on %s and serving: %s" % (report["release_after"], report["failure"])
    if report["outcome"] == "rollback_failed":
        return "%s; going back to %s failed too: %s" % (
            report["failure"],
            report["release_before"],
            report["rollback_failure"],
        )
    return report["failure"]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            base_dir=dict(type="path", required=True),
            runtime_dir=dict(type="path"),
            process_manager=dict(
                type="str", choices=["systemd", "supervisor", "auto"], default="systemd"
            ),
            bind=dict(type="str", choices=["unix", "tcp", "reuseport"], default="unix"),
            tcp_address=dict(type="str", default="127.0.0.1"),
            tcp_port_base=dict(type="int", default=8001),
            tcp_side_port_base=dict(type="int", default=9001),
            slot_ports_file=dict(type="path"),
            supervisor_boot_file=dict(type="path"),
            processes=dict(type="int"),
            release=dict(type="str"),
            rollback=dict(type="bool", default=False),
            replace=dict(type="bool", default=False),
            group_size=dict(type="int", default=1),
            health_path=dict(type="str", default="/healthz"),
            health_retries=dict(type="int", default=120),
            health_delay=dict(type="float", default=0.25),
            health_timeout=dict(type="float", default=5.0),
            report_path=dict(type="path"),
            # Used on the controller by the action plugin, which does not pass it on.
            report_dir=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    if not HAS_WEBSOCKETS:
        module.fail_json(msg=missing_required_lib("websockets"), exception=WEBSOCKETS_IMPORT_ERROR)
    params = module.params
    if params["rollback"] and params["release"]:
        module.fail_json(msg="release and rollback are mutually exclusive")
    if (params["processes"] is not None and params["processes"] < 1) or params["group_size"] < 1:
        module.fail_json(msg="processes and group_size must be at least 1")
    process_manager = params["process_manager"]
    if process_manager == "auto":
        process_manager = running_manager(params["name"])
    addresses = Addresses(
        params["bind"],
        params["runtime_dir"] or "/run/%s" % params["name"],
        params["tcp_address"],
        params["tcp_port_base"],
        params["tcp_side_port_base"],
    )
    config_dir = "/etc/%s" % params["name"]
    slot_port_map = SlotPortMap(
        module,
        params["name"],
        addresses,
        params["slot_ports_file"] or os.path.join(config_dir, "slot-ports.nft"),
    )
    dropped = False
    if params["bind"] != "tcp":
        # The processes listen on the slots' own paths, or share one port, now: a NAT map left
        # from surge on TCP ports would lead their router, and their gates, elsewhere.
        dropped = remove_slot_port_map(module, slot_port_map)
    if process_manager == "systemd":
        manager = SystemdManager(module, params["name"], addresses, slot_port_map)
    else:
        boot_file = params["supervisor_boot_file"] or os.path.join(
            config_dir, "supervisor-programs.env"
        )
        manager = SupervisorManager(module, params["name"], addresses, boot_file, slot_port_map)
    links = ReleaseLinks(params["base_dir"])
    release = target_release(module, links)
    rollout = Rollout(
        manager,
        Probe(addresses, params),
        links,
        time.monotonic,
        wanted=range(1, params["processes"] + 1) if params["processes"] else None,
        release=release,
        replace=params["replace"],
        group_size=params["group_size"],
        check_mode=module.check_mode,
        label=params["name"],
    )
    started = time.time()
    try:
        report = rollout.run()
    except RolloutError as exc:
        # Only reading what runs can fail outside a step (a step's failure, or the boot's
        # record, is in the report): nothing changed yet.
        module.fail_json(msg="could not read what runs on the host: %s" % exc)
    report["changed"] = report["outcome"] != UNCHANGED or report.pop("committed", False) or dropped
    report["process_manager"] = process_manager
    report["started"] = round(started, 3)
    report["report_path"] = params["report_path"] or os.path.join(
        params["base_dir"], "last-rollout.json"
    )
    if not module.check_mode:
        try:
            keep_report(report)
        except (IOError, OSError) as exc:
            module.warn("could not write the report to %s: %s" % (report["report_path"], exc))
    if params["processes"] is None and not report["planned"] and not report["processes"]:
        module.fail_json(
            msg="no process of %s runs here: deploy it with site.yml first" % params["name"],
            **report,
        )
    if report["outcome"] in (DONE, UNCHANGED):
        module.exit_json(**report)
    module.fail_json(msg=failure_message(report), **report)


if __name__ == "__main__":
    main()
