# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What app_rollout tells about a host's rollout: the report kept on the host and the message
of a failure."""

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
