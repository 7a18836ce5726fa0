# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What app_rollout tells about a host's rollout: the report kept on the host, the message of a
failure, and the lines the play prints (a headline, then one line per step).

The lines are made here from the report's own fields, so that the role prints them as they
come and every reader of the structured report (benchmarks, molecule tests) keeps its fields.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.wsfleet.deploy.plugins.module_utils.releases import write_json_whole

# The last rollout's report, in the app's base directory unless the task names another path.
REPORT_FILE = "last-rollout.json"


def default_report_path(base_dir):
    return os.path.join(base_dir, REPORT_FILE)


def failure_message(report):
    """Why the rollout stopped, and where the host stands now."""
    if report["outcome"] == "rolled_back":
        return "back on %s and serving: %s" % (report["release_after"], report["failure"])
    if report["outcome"] == "rollback_failed":
        return "%s; going back to %s failed too: %s" % (
            report["failure"],
            report["release_before"],
            report["rollback_failure"],
        )
    return report["failure"]


def keep_report(report):
    """The run's report where the next person, or a benchmark, finds it: replaced whole."""
    content = dict(report, msg=failure_message(report) if report["failure"] else "")
    write_json_whole(report["report_path"], content, indent=1)


def printed_steps(report):
    """The steps worth a line: every one but the checks of processes left alone."""
    return [step for step in report["processes"] if step["action"] != "check"]


def _or(value, missing):
    """A field as printed: missing (None) shown as a placeholder."""
    return missing if value is None else value


def headline(report):
    """One line for the host: the release live, the outcome, and how the gates went."""
    steps = printed_steps(report)
    passed = len([step for step in steps if step["gate_passed"]])
    gated = len([step for step in steps if step["gate_passed"] is not None])
    return (
        "release %s live (%s, %s); %d of %d started processes passed their health gate in %s s"
        % (
            report["release_after"] or "none",
            report["outcome"],
            report["mode"],
            passed,
            gated,
            report["seconds"],
        )
    )


def step_line(step):
    """One step: what happened to which process, its clients, drain and start times, and why it
    failed."""
    sides = ""
    if step["old_side"] and step["new_side"] and step["old_side"] != step["new_side"]:
        sides = " %s -> %s" % (step["old_side"], step["new_side"])
    line = "%s %s process %s%s: %s connections, drained in %s s, healthy %s s after its start" % (
        step["phase"],
        step["action"],
        step["process"],
        sides,
        _or(step["connections_before"], "?"),
        _or(step["drain_seconds"], "-"),
        _or(step["start_to_healthy_seconds"], "-"),
    )
    if step["reason"]:
        line += " (FAILED: %s)" % step["reason"]
    return line


def report_lines(report):
    return [step_line(step) for step in printed_steps(report)]
