"""Release ordering and pruning: by recorded install time, never by file times; the links that
make a release live, as a rollout switches and restores them."""

import json
import os

import pytest
from ansible_collections.wsfleet.deploy.plugins.module_utils.releases import (
    ReleaseLinks,
    link_target_id,
    list_releases,
    releases_to_prune,
)


def make_release(releases_dir, release_id, installed_at=None):
    path = releases_dir / release_id
    path.mkdir(parents=True)
    if installed_at is not None:
        (path / "release.json").write_text(
            json.dumps({"id": release_id, "installed_at": installed_at})
        )
    return path


def test_releases_are_ordered_by_recorded_install_time_not_mtime(tmp_path):
    make_release(tmp_path, "b-new", "2026-11-02T00:00:00")
    old = make_release(tmp_path, "a-old", "2026-11-01T00:00:00")
    os.utime(old, (2_000_000_000, 2_000_000_000))  # touched later: must not matter
    assert [r["id"] for r in list_releases(str(tmp_path))] == ["a-old", "b-new"]


def test_incomplete_releases_sort_first(tmp_path):
    make_release(tmp_path, "done", "2026-11-01T00:00:00")
    make_release(tmp_path, "half")
    releases = list_releases(str(tmp_path))
    assert [(r["id"], r["complete"]) for r in releases] == [("half", False), ("done", True)]


def test_missing_releases_dir_has_no_releases(tmp_path):
    assert list_releases(str(tmp_path / "nope")) == []


def records(*ids):
    return [{"id": release_id} for release_id in ids]


def test_prune_removes_the_oldest_beyond_keep():
    assert releases_to_prune(records("1", "2", "3", "4"), keep=2, protected={"4"}) == ["1", "2"]


def test_prune_never_removes_the_live_release_or_the_one_before():
    # A rollback made the oldest release live again: it and its predecessor stay.
    pruned = releases_to_prune(records("1", "2", "3", "4", "5"), keep=2, protected={"1", "2"})
    assert pruned == ["3", "4", "5"]


def test_prune_keeps_more_than_keep_when_protection_demands():
    assert releases_to_prune(records("1", "2"), keep=1, protected={"1", "2"}) == []


def test_prune_nothing_within_keep():
    assert releases_to_prune(records("1", "2"), keep=5, protected=set()) == []


def test_prune_rejects_keep_below_one():
    with pytest.raises(ValueError, match="keep"):
        releases_to_prune(records("1"), keep=0, protected=set())


def test_link_target_id(tmp_path):
    target = make_release(tmp_path / "releases", "1.0.0-abc", "t")
    (tmp_path / "current").symlink_to(target)
    assert link_target_id(str(tmp_path / "current")) == "1.0.0-abc"
    assert link_target_id(str(tmp_path / "absent")) is None


def test_a_switch_moves_current_to_previous_and_stays_pending_until_settled(tmp_path):
    links = ReleaseLinks(str(tmp_path))
    assert links.switch("1.0.0")
    assert links.switch("1.1.0")
    assert (links.current(), links.previous()) == ("1.1.0", "1.0.0")
    assert (tmp_path / "current").readlink() == tmp_path / "releases" / "1.1.0"
    # A rollout cut short before it settles is finished by the next one.
    assert links.interrupted()
    links.settle()
    assert not links.interrupted()


def test_a_switch_to_the_live_release_changes_nothing(tmp_path):
    links = ReleaseLinks(str(tmp_path))
    links.switch("1.0.0")
    links.settle()
    assert not links.switch("1.0.0")
    assert not links.interrupted()
    assert links.previous() is None


@pytest.mark.parametrize(
    ("previous", "expected"), [("0.9.0", "0.9.0"), (None, None)], ids=["both", "first-release"]
)
def test_restore_puts_both_links_back_as_they_were(tmp_path, previous, expected):
    links = ReleaseLinks(str(tmp_path))
    links.switch("1.0.0")
    links.switch("1.1.0")
    links.restore("1.0.0", previous)
    assert (links.current(), links.previous()) == ("1.0.0", expected)
    assert (tmp_path / "previous").is_symlink() == (previous is not None)
