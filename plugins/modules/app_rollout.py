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
    missing ones and stops surplus ones, each through its health gate."
  - With O(bind=unix) or O(bind=tcp) a process is replaced by surge (its successor starts on the
    other side of its slot, passes its gate, the slot is switched to it, and only then the old
    one stops, closing its clients with 1012); with O(bind=reuseport), in place.
  - A process that fails its gate after the switch sends the host back by itself and fails with
    a report of both; a rollout cut short after its switch is finished by the next one. The
    collection's C(docs/rolling.md) tells the layout, the slots and their states.
  - Must run with a Python that has C(websockets), such as the release's own virtualenv.
author:
  - wsfleet.deploy maintainers (!UNKNOWN)
extends_documentation_fragment:
  - wsfleet.deploy.app_layout
  - wsfleet.deploy.health_gate
requirements:
  - websockets >= 14 in the interpreter that runs the module (the app's virtualenv).
options:
  process_manager:
    description:
      - What runs the processes. C(auto) finds out from the host, for a rollout of what it
        runs (a rolling restart, a rollback), supervisor when O(supervisor_conf) exists.
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
      - Id of the release to make live (a complete directory under C(<base_dir>/releases)).
        Left out, the live release stays.
    type: str
  rollback:
    description: Make C(previous) live again (fails when there is none). Excludes O(release).
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
  report_path:
    description:
      - Where the report is kept on the host (JSON, replaced atomically), without RV(headline)
        and RV(report_lines). Default C(<base_dir>/last-rollout.json).
    type: path
  report_dir:
    description:
      - A folder on the controller where the action plugin also keeps the report, as
        C(<inventory_hostname>.json), in check mode too.
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
seealso:
  - module: wsfleet.deploy.app_release
  - module: wsfleet.deploy.websocket_probe
"""

EXAMPLES = r"""
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
    replace: true  # or release: 1.1.0-3fa2c1d9e0ab, to deploy that release
    report_dir: reports  # also kept as reports/<inventory_hostname>.json
  vars:
    ansible_python_interpreter: /srv/echo/current/venv/bin/python
"""

RETURN = r"""
outcome:
  description: C(unchanged), C(done), C(failed) (nothing switched to go back from),
    C(rolled_back) (back on the release it ran before) or C(rollback_failed).
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
  description: Whether an earlier rollout switched and was cut short (this run replaced every
    process).
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
    - One entry per step done, in order, C(rollback) steps included, with C(process),
      C(action), C(phase), C(mode), C(old_side), C(new_side), C(connections_before),
      C(drain_seconds), C(start_to_healthy_seconds), C(gate_passed), C(attempts), C(release)
      and C(reason).
  returned: always
  type: list
  elements: dict
failure:
  description: Why the rollout stopped, naming the process (null when it did not).
  returned: always
  type: str
rollback_failure:
  description: Why going back failed too (null when it did not).
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
  description: Where the report is kept on the host (not written in check mode).
  returned: always
  type: str
headline:
  description: The run in one line, for the play to print (not in the kept reports).
  returned: always
  type: str
report_lines:
  description: One line per step but the checks of processes left alone (not in the kept reports).
  returned: always
  type: list
  elements: str
"""

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.wsfleet.deploy.plugins.module_utils.app_processes import (
    LAYOUT_OPTIONS,
    SlotPortMap,
    addresses_from_options,
    manager_from_options,
)
from ansible_collections.wsfleet.deploy.plugins.module_utils.health_gate import (
    GATE_OPTIONS,
    gate_from_options,
    gate_problems,
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
)

ARGUMENT_SPEC = dict(
    LAYOUT_OPTIONS,
    **GATE_OPTIONS,
    process_manager=dict(type="str", choices=["systemd", "supervisor", "auto"], default="systemd"),
    processes=dict(type="int"),
    release=dict(type="str"),
    rollback=dict(type="bool", default=False),
    replace=dict(type="bool", default=False),
    group_size=dict(type="int", default=1),
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
    problems = gate_problems(params)
    if problems:
        module.fail_json(msg="; ".join(problems))


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


def new_rollout(module, manager, addresses, links):
    params = module.params
    return Rollout(
        manager,
        gate_from_options(params, addresses),
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
    addresses = addresses_from_options(params)
    slot_port_map = SlotPortMap(module, params["name"], addresses, params["slot_ports_file"])
    # The processes listen on the slots' own paths, or share one port, now: a NAT map left from
    # surge on TCP ports would lead their router, and their gates, elsewhere.
    dropped = params["bind"] != "tcp" and remove_slot_port_map(module, slot_port_map)
    manager_name, manager = manager_from_options(module, addresses, slot_port_map)
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
