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
  - "Does a host's whole rollout in one task, on the host, for the layout of the
    M(wsfleet.deploy.app) role: makes O(release) live (the C(current) and C(previous) links
    under O(base_dir)) when it differs, then replaces every process a group at a time, starts
    missing ones and stops surplus ones, each through its health gate (C(GET) O(health_path)
    answering 200, then the app's WebSocket check: a handshake at O(check_path) with
    O(check_headers) and O(check_subprotocols), a ping, and O(check_send) and O(check_expect)
    when set)."
  - "With O(bind=unix) or O(bind=tcp) a process is replaced by surge: its successor starts on
    the other side of its slot, passes its gate, the slot's address is switched to it (a symlink
    renamed over, or an element of an nftables NAT map), and only then the old process stops,
    closing its clients with 1012. With O(bind=reuseport) it is replaced in place. What starts
    at boot is recorded at the end of every run."
  - A process that fails its gate after the switch sends the host back by itself and fails with
    a report of both; a rollout cut short after its switch is finished by the next one. The
    report is kept as JSON in O(report_path) on the host, but in check mode. The layout, the
    slots and their states are told at length in the collection's C(docs/rolling.md).
  - Must run with a Python that has C(websockets), such as the release's own virtualenv.
author:
  - wsfleet.deploy maintainers (!UNKNOWN)
extends_documentation_fragment:
  - wsfleet.deploy.app_layout
requirements:
  - websockets >= 14 on the host, in the interpreter that runs the module (the app's
    virtualenv), whose synchronous client the health gate uses.
options:
  process_manager:
    description:
      - What runs the processes. C(auto) finds out from the host, for a rollout of what it
        runs (a rolling restart, a rollback); supervisor when it has this app's programs
        (O(supervisor_conf)), else systemd.
    type: str
    choices: [systemd, supervisor, auto]
    default: systemd
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
  check_path:
    description:
      - Where the gate opens its WebSocket on each process once the health check answers, the
        path the app serves WebSockets at, with a query string if it needs one.
    type: str
    default: /
  check_headers:
    description:
      - Headers of the gate's opening handshake, such as a token (C(Authorization)) or an
        C(Origin) the app accepts. Kept out of the logs.
    type: dict
    default: {}
  check_subprotocols:
    description: Subprotocols the gate offers; the process must choose one of them.
    type: list
    elements: str
    default: []
  check_send:
    description:
      - Text message the gate sends after its ping. Nothing when not set.
      - A mapping or list (what a JSON text templated by ansible-core before 2.19 becomes) is
        sent as JSON.
    type: raw
  check_expect:
    description:
      - Regular expression the next message from the process must match (after O(check_send)
        when set), such as a greeting or the answer to O(check_send). Nothing awaited when not
        set.
    type: str
  report_path:
    description:
      - Where the run's report is written on the host (JSON, mode 0644, replaced atomically),
        without RV(headline) and RV(report_lines). Default C(<base_dir>/last-rollout.json).
    type: path
  report_dir:
    description:
      - A folder on the controller where the report is also kept, as C(<inventory_hostname>.json)
        (what the module returns, without C(invocation), RV(headline) and RV(report_lines);
        replaced whole), created if missing.
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
  - The role runs it with the release's own Python, which has C(websockets), and passes the
    paths it also knows (O(runtime_dir), O(slot_ports_file), O(slots_tmpfiles),
    O(supervisor_boot_file), O(supervisor_conf)) from its vars, where they are defined once.
seealso:
  - module: wsfleet.deploy.app_release
  - module: wsfleet.deploy.websocket_probe
"""

EXAMPLES = r"""
- name: Deploy a release, replacing the processes one at a time by surge
  wsfleet.deploy.app_rollout:
    name: echo
    base_dir: /srv/echo
    runtime_dir: /run/echo
    slot_ports_file: /etc/echo/slot-ports.nft
    slots_tmpfiles: /etc/tmpfiles.d/echo-slots.conf
    supervisor_boot_file: /etc/echo/supervisor-programs.env
    supervisor_conf: /etc/supervisor/conf.d/echo.conf
    processes: 4
    release: 1.1.0-3fa2c1d9e0ab
  vars:
    ansible_python_interpreter: /srv/echo/releases/1.1.0-3fa2c1d9e0ab/venv/bin/python

- name: Rolling restart onto the same release, under the process manager the host runs
  wsfleet.deploy.app_rollout:
    name: echo
    base_dir: /srv/echo
    runtime_dir: /run/echo
    slot_ports_file: /etc/echo/slot-ports.nft
    slots_tmpfiles: /etc/tmpfiles.d/echo-slots.conf
    supervisor_boot_file: /etc/echo/supervisor-programs.env
    supervisor_conf: /etc/supervisor/conf.d/echo.conf
    process_manager: auto
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
headline:
  description:
    - The run in one line, for the play to print after the host's name; not in the kept reports.
  returned: always
  type: str
  sample: "release 1.1.0-3fa2c1d9e0ab live (done, surge); 2 of 2 started processes passed their
    health gate in 1.482 s"
report_lines:
  description:
    - One line per step of RV(processes) but the checks of processes left alone, for the play to
      print; not in the kept reports.
  returned: always
  type: list
  elements: str
  sample: ["rollout replace process 1 a -> b: 12 connections, drained in 0.31 s, healthy 0.214 s
    after its start"]
"""

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.wsfleet.deploy.plugins.module_utils.app_processes import (
    Addresses,
    SlotPortMap,
    SupervisorManager,
    SystemdManager,
    running_manager,
)
from ansible_collections.wsfleet.deploy.plugins.module_utils.health_gate import (
    Probe,
    WebSocketCheck,
)
from ansible_collections.wsfleet.deploy.plugins.module_utils.releases import (
    ReleaseLinks,
    read_release,
)
from ansible_collections.wsfleet.deploy.plugins.module_utils.rollout import (
    DONE,
    UNCHANGED,
    Rollout,
    RolloutError,
)
from ansible_collections.wsfleet.deploy.plugins.module_utils.rollout_report import (
    default_report_path,
    failure_message,
    headline,
    keep_report,
    report_lines,
)
from ansible_collections.wsfleet.deploy.plugins.module_utils.websocket_probe import (
    HAS_WEBSOCKETS,
    WEBSOCKETS_IMPORT_ERROR,
    check_path_problem,
    header_texts,
    message_text,
    pattern_problem,
)

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    base_dir=dict(type="path", required=True),
    runtime_dir=dict(type="path", required=True),
    process_manager=dict(type="str", choices=["systemd", "supervisor", "auto"], default="systemd"),
    bind=dict(type="str", choices=["unix", "tcp", "reuseport"], default="unix"),
    tcp_address=dict(type="str", default="127.0.0.1"),
    tcp_port_base=dict(type="int", default=8001),
    tcp_side_port_base=dict(type="int", default=9001),
    slot_ports_file=dict(type="path", required=True),
    slots_tmpfiles=dict(type="path", required=True),
    supervisor_boot_file=dict(type="path", required=True),
    supervisor_conf=dict(type="path", required=True),
    processes=dict(type="int"),
    release=dict(type="str"),
    rollback=dict(type="bool", default=False),
    replace=dict(type="bool", default=False),
    group_size=dict(type="int", default=1),
    health_path=dict(type="str", default="/healthz"),
    health_retries=dict(type="int", default=120),
    health_delay=dict(type="float", default=0.25),
    health_timeout=dict(type="float", default=5.0),
    check_path=dict(type="str", default="/"),
    check_headers=dict(type="dict", default={}, no_log=True),
    check_subprotocols=dict(type="list", elements="str", default=[]),
    check_send=dict(type="raw"),
    check_expect=dict(type="str"),
    report_path=dict(type="path"),
    # Used on the controller by the action plugin, which does not pass it on.
    report_dir=dict(type="path"),
)


def check_params(module):
    params = module.params
    if params["rollback"] and params["release"]:
        module.fail_json(msg="release and rollback are mutually exclusive")
    if (params["processes"] is not None and params["processes"] < 1) or params["group_size"] < 1:
        module.fail_json(msg="processes and group_size must be at least 1")
    problem = check_path_problem(params["check_path"])
    if problem:
        module.fail_json(msg="check_path %s" % problem)
    problem = params["check_expect"] is not None and pattern_problem(params["check_expect"])
    if problem:
        module.fail_json(msg="check_expect %s" % problem)


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


def process_manager(module, addresses, slot_port_map):
    """(name, manager) of what runs the processes; auto: what the host runs them with."""
    params = module.params
    name = params["process_manager"]
    if name == "auto":
        name = running_manager(params["supervisor_conf"])
    common = (module, params["name"], addresses, params["slots_tmpfiles"])
    if name == "systemd":
        return name, SystemdManager(*common, slot_port_map=slot_port_map)
    boot_file = params["supervisor_boot_file"]
    return name, SupervisorManager(*common, boot_file=boot_file, slot_port_map=slot_port_map)


def new_rollout(module, manager, addresses, links):
    params = module.params
    check = WebSocketCheck(
        params["check_path"],
        header_texts(params["check_headers"]),
        params["check_subprotocols"],
        message_text(params["check_send"]),
        params["check_expect"],
    )
    probe = Probe(
        addresses,
        params["health_path"],
        params["health_retries"],
        params["health_delay"],
        params["health_timeout"],
        check=check,
    )
    return Rollout(
        manager,
        probe,
        links,
        time.monotonic,
        wanted=range(1, params["processes"] + 1) if params["processes"] else None,
        release=target_release(module, links),
        replace=params["replace"],
        group_size=params["group_size"],
        check_mode=module.check_mode,
        label=params["name"],
    )


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if not HAS_WEBSOCKETS:
        module.fail_json(msg=missing_required_lib("websockets"), exception=WEBSOCKETS_IMPORT_ERROR)
    check_params(module)
    params = module.params
    addresses = Addresses(
        params["bind"],
        params["runtime_dir"],
        params["tcp_address"],
        params["tcp_port_base"],
        params["tcp_side_port_base"],
    )
    slot_port_map = SlotPortMap(module, params["name"], addresses, params["slot_ports_file"])
    # The processes listen on the slots' own paths, or share one port, now: a NAT map left from
    # surge on TCP ports would lead their router, and their gates, elsewhere.
    dropped = params["bind"] != "tcp" and remove_slot_port_map(module, slot_port_map)
    manager_name, manager = process_manager(module, addresses, slot_port_map)
    rollout = new_rollout(module, manager, addresses, ReleaseLinks(params["base_dir"]))
    started = time.time()
    try:
        report = rollout.run()
    except RolloutError as exc:
        # Only reading what runs can fail outside a step (a step's failure, or the boot's
        # record, is in the report): nothing changed yet.
        module.fail_json(msg="could not read what runs on the host: %s" % exc)
    report["changed"] = report["outcome"] != UNCHANGED or report.pop("committed", False) or dropped
    report["process_manager"] = manager_name
    report["started"] = round(started, 3)
    report["report_path"] = params["report_path"] or default_report_path(params["base_dir"])
    if not module.check_mode:
        try:
            keep_report(report)
        except (IOError, OSError) as exc:
            module.warn("could not write the report to %s: %s" % (report["report_path"], exc))
    # For the play to print; the kept report has the fields they are made of.
    report.update(headline=headline(report), report_lines=report_lines(report))
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
