"""What app_rollout tells of a rollout: the failure message and the report kept on the host."""

import json
import os

import pytest
from ansible_collections.wsfleet.deploy.plugins.module_utils.rollout_report import (
    default_report_path,
    failure_message,
    keep_report,
)


def report(**fields):
    base = {
        "outcome": "done",
        "mode": "surge",
        "release_before": "1.0.0-aaa",
        "release_after": "1.1.0-bbb",
        "seconds": 1.482,
        "processes": [],
        "failure": None,
        "rollback_failure": None,
    }
    base.update(fields)
    return base


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            dict(outcome="failed", failure="process 1 (echo) did not start"),
            "process 1 (echo) did not start",
        ),
        (
            dict(
                outcome="rolled_back", release_after="1.0.0-aaa", failure="process 1 (echo) failed"
            ),
            "back on 1.0.0-aaa and serving: process 1 (echo) failed",
        ),
        (
            dict(
                outcome="rollback_failed", failure="process 1 (echo) failed", rollback_failure="no"
            ),
            "process 1 (echo) failed; going back to 1.0.0-aaa failed too: no",
        ),
    ],
    ids=["failed", "rolled-back", "rollback-failed"],
)
def test_the_failure_says_where_the_host_stands(fields, message):
    assert failure_message(report(**fields)) == message


def test_the_report_is_kept_whole_and_names_the_failure(tmp_path):
    kept_report = {
        "outcome": "rolled_back",
        "release_after": "1.0.0-aaa",
        "failure": "process 1 (echo) failed its health gate",
        "report_path": default_report_path(str(tmp_path)),
    }
    keep_report(kept_report)
    kept = json.loads((tmp_path / "last-rollout.json").read_text())
    assert kept["outcome"] == "rolled_back"
    assert kept["msg"] == "back on 1.0.0-aaa and serving: process 1 (echo) failed its health gate"
    assert oct(os.stat(tmp_path / "last-rollout.json").st_mode & 0o777) == "0o644"
    assert [path.name for path in tmp_path.iterdir()] == ["last-rollout.json"]
