"""app_release on real release directories: switch, previous, prune, check mode."""

import json

import pytest
from ansible_collections.wsfleet.deploy.plugins.module_utils.releases import ReleaseLinks
from ansible_collections.wsfleet.deploy.plugins.modules import app_release
from module_runner import run_module


class Outcome:
    def __init__(self, ok, result):
        self.failed, self.result = not ok, result


def run(**args):
    return Outcome(*run_module(app_release.main, **args))


@pytest.fixture
def base(tmp_path):
    for number in range(1, 5):
        path = tmp_path / "releases" / f"r{number}"
        path.mkdir(parents=True)
        record = {"id": f"r{number}", "installed_at": f"2026-11-0{number}T00:00:00"}
        (path / "release.json").write_text(json.dumps(record))
    return tmp_path


def target(link):
    return link.readlink().name


def test_first_switch_sets_current_only(base):
    outcome = run(base_dir=str(base), release="r1")
    assert not outcome.failed
    assert outcome.result["changed"] and outcome.result["switched"]
    assert target(base / "current") == "r1"
    assert not (base / "previous").exists()


def test_switch_records_the_previous_release(base):
    run(base_dir=str(base), release="r1")
    outcome = run(base_dir=str(base), release="r2")
    assert outcome.result["previous"] == "r1"
    assert target(base / "current") == "r2"
    assert target(base / "previous") == "r1"


def test_a_switch_is_left_pending_for_the_next_rollout_to_replace_the_processes(base):
    # The processes still run r1: app_rollout finishes a pending switch by replacing them all.
    run(base_dir=str(base), release="r1")
    ReleaseLinks(str(base)).settle()
    run(base_dir=str(base), release="r2")
    assert ReleaseLinks(str(base)).interrupted()
    run(base_dir=str(base), release="r2", _ansible_check_mode=True)
    assert ReleaseLinks(str(base)).interrupted()


def test_switch_to_the_live_release_changes_nothing(base):
    run(base_dir=str(base), release="r2")
    outcome = run(base_dir=str(base), release="r2")
    assert not outcome.result["changed"]


def test_switch_refuses_an_incomplete_release(base):
    (base / "releases" / "half").mkdir()
    outcome = run(base_dir=str(base), release="half")
    assert outcome.failed
    assert "not installed completely" in outcome.result["msg"]
    assert not (base / "current").exists()


def test_check_mode_reports_without_switching(base):
    run(base_dir=str(base), release="r1")
    outcome = run(base_dir=str(base), release="r2", _ansible_check_mode=True)
    assert outcome.result["changed"]
    assert target(base / "current") == "r1"


def test_prune_keeps_the_newest_and_protects_live_and_previous(base):
    run(base_dir=str(base), release="r1")  # an old release is live again (a rollback)
    run(base_dir=str(base), release="r2")
    outcome = run(base_dir=str(base), keep=2)
    assert outcome.result["pruned"] == ["r3", "r4"]
    assert sorted(p.name for p in (base / "releases").iterdir()) == ["r1", "r2"]


def test_prune_in_check_mode_removes_nothing(base):
    run(base_dir=str(base), release="r4")
    outcome = run(base_dir=str(base), keep=2, _ansible_check_mode=True)
    assert outcome.result["pruned"] == ["r1", "r2"]
    assert len(list((base / "releases").iterdir())) == 4


def test_keep_below_two_is_refused(base):
    outcome = run(base_dir=str(base), keep=1)
    assert outcome.failed
    assert "at least 2" in outcome.result["msg"]


@pytest.mark.parametrize("bad", ["../etc", ".hidden", ""])
def test_release_must_be_a_plain_id(base, bad):
    assert run(base_dir=str(base), release=bad).failed
