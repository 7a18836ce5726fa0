"""The rollout state machine of one host's app processes, run against fakes.

Every fake writes what it is asked to do into one shared log, so a test sees the order of
starts, gates, points, stops, link changes and the final commit across all of them.
"""

import pytest
from ansible_collections.wsfleet.deploy.plugins.module_utils import rollout

STEP = 0.25  # every clock reading is this much later than the one before


# Fakes ---------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        self.now += STEP
        return self.now


class FakeLinks:
    def __init__(self, log, current, previous):
        self.log = log
        self._current = current
        self._previous = previous

    def current(self):
        return self._current

    def previous(self):
        return self._previous

    def switch(self, release):
        self.log.append(("switch", release))
        if release == self._current:
            return False
        self._previous, self._current = self._current, release
        self.pending = True
        return True

    def restore(self, current, previous):
        self.log.append(("restore", current, previous))
        self._current, self._previous = current, previous

    # A rollout under way (switched, not settled): not logged, checked by its own tests.
    pending = False

    def interrupted(self):
        return self.pending

    def settle(self):
        self.pending = False


class FakeManager:
    """start/stop raise RolloutError for the (slot, side) pairs in fail_start/fail_stop.

    orphans: (slot, side) second processes an interrupted surge left behind.
    """

    def __init__(
        self,
        log,
        running,
        can_surge,
        orphans,
        fail_start,
        fail_stop,
        fail_point=(),
        fail_commit=False,
    ):
        self.log = log
        self.fail_point = set(fail_point)
        self.fail_commit = fail_commit
        self.sides = dict(running)
        self.at_boot = dict(running)
        self.can_surge = can_surge
        self.orphan_processes = list(orphans)
        self.fail_start = set(fail_start)
        self.fail_stop = set(fail_stop)

    # Reads are not logged, so the log holds only what acts on the host (and the gates).

    def running(self):
        return dict(self.sides)

    def orphans(self):
        return list(self.orphan_processes)

    def start(self, slot, side):
        self.log.append(("start", slot, side))
        if (slot, side) in self.fail_start:
            raise rollout.RolloutError("exit status 1")

    def stop(self, slot, side):
        self.log.append(("stop", slot, side))
        if (slot, side) in self.fail_stop:
            raise rollout.RolloutError("still running after 30s")

    def point(self, slot, side):
        self.log.append(("point", slot, side))
        if (slot, side) in self.fail_point:
            raise rollout.RolloutError("nft: no such table")

    def forget(self, slot):
        self.log.append(("forget", slot))

    def commit(self, sides):
        self.log.append(("commit", dict(sides)))
        if self.fail_commit:
            raise rollout.RolloutError("read-only file system")
        changed, self.at_boot = sides != self.at_boot, dict(sides)
        return changed


ANY = "*"  # a gate scripted for ANY release fails whichever release is live


class FakeProbe:
    """gates: {(release, slot, side): (passed, attempts, reason)}; unscripted gates pass.

    The release is the one live when the gate runs, so a broken release fails its gates
    while a roll back to the release before passes them on the same (slot, side).
    """

    def __init__(self, log, links, gates, connections):
        self.log = log
        self.links = links
        self.gates = gates
        self.connections_by_process = connections

    def connections(self, slot, side):
        return self.connections_by_process.get((slot, side), 0)

    def gate(self, slot, side):
        self.log.append(("gate", slot, side))
        live = self.links.current()
        scripted = self.gates.get((live, slot, side)) or self.gates.get((ANY, slot, side))
        passed, attempts, reason = scripted or (True, 1, "")
        return rollout.GateResult(passed, attempts, reason, release=live)


def broken(attempts=3, reason="handshake refused"):
    return (False, attempts, reason)


def make(
    running,
    wanted=None,
    links=("r1", "r0"),
    can_surge=True,
    orphans=(),
    fail_start=(),
    fail_stop=(),
    fail_point=(),
    fail_commit=False,
    gates=None,
    connections=None,
    **options,
):
    """A Rollout on fakes, and the log they share. wanted None: the slots that run."""
    log = []
    fake_links = FakeLinks(log, *links)
    manager = FakeManager(
        log, running, can_surge, orphans, fail_start, fail_stop, fail_point, fail_commit
    )
    probe = FakeProbe(log, fake_links, gates or {}, connections or {})
    host = rollout.Rollout(manager, probe, fake_links, FakeClock(), wanted, **options)
    return host, log


def run(**setup):
    host, log = make(**setup)
    return host.run(), log


# Shorthands for the calls one slot's replacement makes, in order.


def surge(slot, old, new):
    return [("start", slot, new), ("gate", slot, new), ("point", slot, new), ("stop", slot, old)]


def in_place(slot, side):
    return [("stop", slot, side), ("start", slot, side), ("gate", slot, side)]


def started(slot, side="a"):
    return [("start", slot, side), ("gate", slot, side), ("point", slot, side)]


def checked(*processes):
    """Slots the rollout left alone are gated once more at its end."""
    return [("gate", slot, side) for slot, side in processes]


ENTRY_FIELDS = ("process", "phase", "action", "mode", "old_side", "new_side", "gate_passed")


def entries(report, fields=ENTRY_FIELDS):
    return [tuple(entry[field] for field in fields) for entry in report["processes"]]


def committed(log):
    commits = [call[1] for call in log if call[0] == "commit"]
    assert len(commits) == 1, log
    return commits[0]


# Small pieces --------------------------------------------------------------------------------


@pytest.mark.parametrize(("side", "other"), [("a", "b"), ("b", "a")], ids=["a", "b"])
def test_other_side(side, other):
    assert rollout.other_side(side) == other


@pytest.mark.parametrize(
    ("items", "size", "groups"),
    [
        pytest.param([1, 2, 3], 1, [[1], [2], [3]], id="ones"),
        pytest.param([1, 2, 3, 4, 5], 2, [[1, 2], [3, 4], [5]], id="last-group-short"),
        pytest.param([1, 2], 5, [[1, 2]], id="larger-than-items"),
        pytest.param([1, 2], 0, [[1], [2]], id="zero-means-one"),
        pytest.param([1, 2], "2", [[1, 2]], id="string-size"),
        pytest.param([], 2, [], id="empty"),
    ],
)
def test_groups_of(items, size, groups):
    assert rollout.groups_of(items, size) == groups


@pytest.mark.parametrize(
    ("running", "wanted", "replace_all", "steps"),
    [
        pytest.param({1: "a", 2: "b"}, [1, 2], False, [], id="nothing"),
        pytest.param(
            {2: "b", 1: "a"}, [2, 1], True, [(1, "replace"), (2, "replace")], id="replace-sorted"
        ),
        pytest.param({1: "a"}, [3, 1, 2], False, [(2, "start"), (3, "start")], id="scale-up"),
        pytest.param({1: "a", 3: "b", 2: "a"}, [1], False, [(2, "stop"), (3, "stop")], id="down"),
        pytest.param(
            {1: "a", 3: "b"},
            [1, 2],
            True,
            # Only running slots are replaced; starts come before stops.
            [(1, "replace"), (2, "start"), (3, "stop")],
            id="replace-start-stop",
        ),
    ],
)
def test_plan(running, wanted, replace_all, steps):
    assert rollout.plan(running, wanted, replace_all) == steps


# Call sequences ------------------------------------------------------------------------------

TWO = {1: "a", 2: "a"}
BROKEN_R2_SLOT_2 = {("r2", 2, "b"): broken()}

SEQUENCES = [
    pytest.param(
        {"running": TWO, "replace": True},
        [
            *[("start", 1, "b"), ("gate", 1, "b"), ("point", 1, "b"), ("stop", 1, "a")],
            *[("start", 2, "b"), ("gate", 2, "b"), ("point", 2, "b"), ("stop", 2, "a")],
            ("commit", {1: "b", 2: "b"}),
        ],
        "done",
        id="surge-restart-one-at-a-time",
    ),
    pytest.param(
        {"running": TWO, "replace": True, "group_size": 2},
        [
            *[("start", 1, "b"), ("start", 2, "b"), ("gate", 1, "b"), ("gate", 2, "b")],
            *[("point", 1, "b"), ("point", 2, "b"), ("stop", 1, "a"), ("stop", 2, "a")],
            ("commit", {1: "b", 2: "b"}),
        ],
        "done",
        id="surge-restart-group-of-two",
    ),
    pytest.param(
        {"running": {1: "a", 2: "b"}, "replace": True, "can_surge": False},
        [
            *[("stop", 1, "a"), ("start", 1, "a"), ("gate", 1, "a")],
            *[("stop", 2, "b"), ("start", 2, "b"), ("gate", 2, "b")],
            ("commit", {1: "a", 2: "b"}),
        ],
        "done",
        id="in-place-restart",
    ),
    pytest.param(
        {"running": TWO, "replace": True, "can_surge": False, "group_size": 2},
        [
            *[("stop", 1, "a"), ("stop", 2, "a"), ("start", 1, "a"), ("start", 2, "a")],
            *[("gate", 1, "a"), ("gate", 2, "a"), ("commit", TWO)],
        ],
        "done",
        id="in-place-restart-group-of-two",
    ),
    pytest.param(
        {"running": {1: "a", 2: "b"}},
        [*checked((1, "a"), (2, "b")), ("commit", {1: "a", 2: "b"})],
        "unchanged",
        id="nothing",
    ),
    pytest.param(
        {"running": TWO, "release": "r1", "wanted": [2, 1]},
        [*checked((1, "a"), (2, "a")), ("commit", TWO)],
        "unchanged",
        id="release-already-live",
    ),
    pytest.param(
        {"running": {1: "a", 3: "b"}, "replace": True},
        [*surge(1, "a", "b"), *surge(3, "b", "a"), ("commit", {1: "b", 3: "a"})],
        "done",
        id="wanted-left-out-keeps-the-running-slots",
    ),
    pytest.param(
        {"running": {1: "b"}, "wanted": [1, 2]},
        [*started(2), *checked((1, "b")), ("commit", {1: "b", 2: "a"})],
        "done",
        id="scale-up",
    ),
    pytest.param(
        {"running": {1: "a", 2: "b", 3: "a"}, "wanted": [1]},
        [
            *[("forget", 2), ("stop", 2, "b"), ("forget", 3), ("stop", 3, "a")],
            *checked((1, "a")),
            ("commit", {1: "a"}),
        ],
        "done",
        id="scale-down",
    ),
    pytest.param(
        {"running": {1: "a", 2: "b"}, "orphans": [(1, "b")], "replace": True},
        # The orphan goes first: its side is the one the surge starts next.
        [("stop", 1, "b"), *surge(1, "a", "b"), *surge(2, "b", "a"), ("commit", {1: "b", 2: "a"})],
        "done",
        id="orphan-stopped-before-surge",
    ),
    pytest.param(
        {"running": TWO, "orphans": [(2, "b")]},
        [("stop", 2, "b"), *checked((1, "a"), (2, "a")), ("commit", TWO)],
        "done",
        id="orphan-alone-is-a-change",
    ),
    pytest.param(
        {"running": TWO, "orphans": [(2, "b")], "fail_stop": {(2, "b")}},
        # An orphan that will not stop does not stop the rollout.
        [("stop", 2, "b"), *checked((1, "a"), (2, "a")), ("commit", TWO)],
        "done",
        id="orphan-stop-raises",
    ),
    pytest.param(
        {"running": TWO, "gates": {(ANY, 1, "a"): broken()}},
        [("gate", 1, "a"), ("commit", TWO)],
        "failed",
        id="untouched-slot-fails-its-check",
    ),
    pytest.param(
        {"running": {1: "a", 2: "b"}, "release": "r2"},
        [("switch", "r2"), *surge(1, "a", "b"), *surge(2, "b", "a"), ("commit", {1: "b", 2: "a"})],
        "done",
        id="deploy-surge",
    ),
    pytest.param(
        {"running": TWO, "release": "r2", "can_surge": False},
        [("switch", "r2"), *in_place(1, "a"), *in_place(2, "a"), ("commit", TWO)],
        "done",
        id="deploy-in-place",
    ),
    pytest.param(
        {"running": {1: "a", 3: "a"}, "wanted": [1, 2], "release": "r2"},
        [
            ("switch", "r2"),
            *surge(1, "a", "b"),
            *started(2),
            *[("forget", 3), ("stop", 3, "a"), ("commit", {1: "b", 2: "a"})],
        ],
        "done",
        id="deploy-replaces-then-starts-then-stops",
    ),
    pytest.param(
        {"running": TWO, "release": "r2", "gates": BROKEN_R2_SLOT_2},
        [
            ("switch", "r2"),
            *surge(1, "a", "b"),
            *[("start", 2, "b"), ("gate", 2, "b"), ("stop", 2, "b")],
            ("restore", "r1", "r0"),
            *surge(1, "b", "a"),
            ("commit", TWO),
        ],
        "rolled_back",
        id="deploy-surge-gate-fails-rolls-back",
    ),
    pytest.param(
        {"running": TWO, "release": "r2", "group_size": 2, "gates": BROKEN_R2_SLOT_2},
        [
            ("switch", "r2"),
            *[("start", 1, "b"), ("start", 2, "b"), ("gate", 1, "b"), ("gate", 2, "b")],
            # The group never pointed at its successors: they go, nothing to roll back.
            *[("stop", 1, "b"), ("stop", 2, "b"), ("restore", "r1", "r0"), ("commit", TWO)],
        ],
        "rolled_back",
        id="deploy-surge-group-gate-fails",
    ),
    pytest.param(
        {"running": TWO, "release": "r2", "can_surge": False, "gates": {("r2", 1, "a"): broken()}},
        [
            ("switch", "r2"),
            *in_place(1, "a"),
            ("restore", "r1", "r0"),
            *in_place(1, "a"),
            ("commit", TWO),
        ],
        "rolled_back",
        id="deploy-in-place-gate-fails-rolls-back",
    ),
    pytest.param(
        {
            "running": {1: "a"},
            "wanted": [1, 2],
            "release": "r2",
            "gates": {("r2", 2, "a"): broken()},
        },
        [
            ("switch", "r2"),
            *surge(1, "a", "b"),
            *[("start", 2, "a"), ("gate", 2, "a"), ("stop", 2, "a")],
            ("restore", "r1", "r0"),
            *surge(1, "b", "a"),
            *started(2),  # the slot that failed to come up, started on the old release
            ("commit", TWO),
        ],
        "rolled_back",
        id="deploy-new-slot-fails-rolls-back",
    ),
    pytest.param(
        {"running": TWO, "wanted": [1, 2, 3], "release": "r2", "gates": BROKEN_R2_SLOT_2},
        [
            ("switch", "r2"),
            *surge(1, "a", "b"),
            *[("start", 2, "b"), ("gate", 2, "b"), ("stop", 2, "b")],
            ("restore", "r1", "r0"),
            *surge(1, "b", "a"),
            # Slot 3 never started on r2, yet the rollback brings it up on r1.
            *started(3),
            ("commit", {1: "a", 2: "a", 3: "a"}),
        ],
        "rolled_back",
        id="deploy-rollback-starts-a-slot-never-tried",
    ),
    pytest.param(
        {
            "running": TWO,
            "release": "r2",
            "gates": {**BROKEN_R2_SLOT_2, ("r1", 1, "a"): broken(reason="port in use")},
        },
        [
            ("switch", "r2"),
            *surge(1, "a", "b"),
            *[("start", 2, "b"), ("gate", 2, "b"), ("stop", 2, "b")],
            ("restore", "r1", "r0"),
            *[("start", 1, "a"), ("gate", 1, "a"), ("stop", 1, "a")],
            # Slot 1 still runs its successor: that is what must come back at boot.
            ("commit", {1: "b", 2: "a"}),
        ],
        "rollback_failed",
        id="deploy-rollback-fails",
    ),
    pytest.param(
        {"running": TWO, "replace": True, "gates": {(ANY, 2, "b"): broken()}},
        [
            *surge(1, "a", "b"),
            *[("start", 2, "b"), ("gate", 2, "b"), ("stop", 2, "b")],
            # No release switched: no roll back, slot 2 stays on its old process.
            ("commit", {1: "b", 2: "a"}),
        ],
        "failed",
        id="restart-surge-gate-fails",
    ),
    pytest.param(
        {"running": TWO, "replace": True, "fail_start": {(2, "b")}},
        [*surge(1, "a", "b"), ("start", 2, "b"), ("stop", 2, "b"), ("commit", {1: "b", 2: "a"})],
        "failed",
        id="restart-start-raises",
    ),
    pytest.param(
        {"running": TWO, "replace": True, "can_surge": False, "fail_stop": {(1, "a")}},
        [("stop", 1, "a"), ("commit", TWO)],
        "failed",
        id="restart-in-place-stop-raises",
    ),
    pytest.param(
        {"running": {1: "a", 2: "b"}, "wanted": [1], "fail_stop": {(2, "b")}},
        # forget comes first so that boot no longer starts what is going away.
        [("forget", 2), ("stop", 2, "b"), ("commit", {1: "a", 2: "b"})],
        "failed",
        id="scale-down-stop-raises",
    ),
]


@pytest.mark.parametrize(("setup", "calls", "outcome"), SEQUENCES)
def test_call_sequence(setup, calls, outcome):
    report, log = run(**setup)
    assert log == calls
    assert report["outcome"] == outcome


# Reports -------------------------------------------------------------------------------------


def test_surge_restart_reports_every_field():
    report, _log = run(
        running=TWO,
        replace=True,
        connections={(1, "a"): 40, (2, "a"): 7},
        gates={(ANY, 2, "b"): (True, 2, "")},
    )

    def replaced(slot, connections, attempts):
        return {
            "process": slot,
            "action": "replace",
            "phase": "rollout",
            "mode": "surge",
            "old_side": "a",
            "new_side": "b",
            "connections_before": connections,
            # One clock step between the start and the gate, and around the stop.
            "drain_seconds": STEP,
            "start_to_healthy_seconds": STEP,
            "gate_passed": True,
            "attempts": attempts,
            "release": "r1",
            "reason": "",
        }

    assert report == {
        "outcome": "done",
        "mode": "surge",
        "release_before": "r1",
        "release_after": "r1",
        "previous_after": "r0",
        "switched": False,
        "interrupted": False,
        "planned": [{"process": 1, "action": "replace"}, {"process": 2, "action": "replace"}],
        "processes": [replaced(1, 40, 1), replaced(2, 7, 2)],
        "failure": None,
        "rollback_failure": None,
        "committed": True,  # what manager.commit() said: the boot set changed
        # 10 clock readings: run start, 4 per slot (start, gate, stop before/after), finish.
        "seconds": 9 * STEP,
    }


def test_surge_group_counts_start_to_healthy_from_each_start():
    report, _log = run(running=TWO, replace=True, group_size=2)
    # Both start before either is gated: slot 1 waits for slot 2's start too.
    assert entries(report, ("process", "start_to_healthy_seconds", "drain_seconds")) == [
        (1, 2 * STEP, STEP),
        (2, 2 * STEP, STEP),
    ]


def test_in_place_restart_keeps_the_sides():
    report, log = run(
        running={1: "a", 2: "b"}, replace=True, can_surge=False, connections={(2, "b"): 3}
    )
    assert report["mode"] == "in_place"
    assert entries(report, (*ENTRY_FIELDS, "connections_before", "drain_seconds")) == [
        (1, "rollout", "replace", "in_place", "a", "a", True, 0, STEP),
        (2, "rollout", "replace", "in_place", "b", "b", True, 3, STEP),
    ]
    assert ("point", 1, "a") not in log  # the address never moves in place


def test_nothing_to_do_only_checks_the_running_processes():
    report, log = run(running={1: "a", 2: "b"}, release="r1")
    assert report["outcome"] == "unchanged"
    assert report["switched"] is False
    assert report["planned"] == []
    assert report["committed"] is False
    assert not [call for call in log if call[0] in ("start", "stop", "point", "forget")]
    assert entries(report, (*ENTRY_FIELDS, "attempts")) == [
        (1, "rollout", "check", "check", "a", "a", True, 1),
        (2, "rollout", "check", "check", "b", "b", True, 1),
    ]
    assert (report["release_after"], report["previous_after"]) == ("r1", "r0")


def test_untouched_slot_failing_its_check_fails_the_rollout():
    report, _log = run(running=TWO, wanted=[1, 2, 3], gates={(ANY, 1, "a"): broken(attempts=4)})
    assert report["outcome"] == "failed"
    assert report["failure"] == (
        "process 1 (app) failed its health gate after 4 attempts: handshake refused"
    )
    assert entries(report, ("process", "action", "gate_passed"))[-1] == (1, "check", False)


def test_orphans_are_stopped_and_reported():
    report, _log = run(running=TWO, orphans=[(2, "b")])
    assert report["outcome"] == "done"
    assert report["planned"] == []
    orphan = report["processes"][0]
    assert (orphan["process"], orphan["action"], orphan["mode"], orphan["phase"]) == (
        2,
        "orphan",
        "orphan",
        "rollout",
    )
    assert (orphan["old_side"], orphan["new_side"], orphan["drain_seconds"]) == ("b", None, STEP)
    assert orphan["connections_before"] is None  # not the live process: no clients to count


def test_scaling_reports_start_and_stop_entries():
    report, _log = run(running={1: "a", 3: "b"}, wanted=[1, 2], connections={(3, "b"): 5})
    fields = (*ENTRY_FIELDS, "connections_before", "attempts")
    assert entries(report, fields) == [
        (2, "rollout", "start", "start", None, "a", True, None, 1),
        (3, "rollout", "stop", "stop", "b", None, None, 5, 0),
        (1, "rollout", "check", "check", "a", "a", True, None, 1),
    ]
    assert report["planned"] == [
        {"process": 2, "action": "start"},
        {"process": 3, "action": "stop"},
    ]


def test_deploy_switches_the_release_first():
    report, log = run(running={1: "a", 2: "b"}, release="r2")
    assert log[0] == ("switch", "r2")
    assert report["switched"] is True
    assert (report["release_before"], report["release_after"], report["previous_after"]) == (
        "r1",
        "r2",
        "r1",
    )
    assert [entry["release"] for entry in report["processes"]] == ["r2", "r2"]
    assert committed(log) == {1: "b", 2: "a"}


@pytest.mark.parametrize(
    ("label", "name"),
    [pytest.param({}, "app", id="default-label"), pytest.param({"label": "web"}, "web", id="web")],
)
def test_deploy_gate_failure_rolls_back_the_replaced_slots(label, name):
    report, _log = run(running=TWO, release="r2", gates=BROKEN_R2_SLOT_2, **label)
    assert report["outcome"] == "rolled_back"
    assert report["failure"] == (
        f"process 2 ({name}) failed its health gate after 3 attempts: handshake refused"
    )
    assert report["rollback_failure"] is None
    assert (report["release_after"], report["previous_after"]) == ("r1", "r0")
    reason = "failed its health gate after 3 attempts: handshake refused"
    assert entries(report, (*ENTRY_FIELDS, "attempts", "release", "reason")) == [
        (1, "rollout", "replace", "surge", "a", "b", True, 1, "r2", ""),
        (2, "rollout", "replace", "surge", "a", "b", False, 3, "r2", reason),
        (1, "rollback", "replace", "surge", "b", "a", True, 1, "r1", ""),
    ]


def test_in_place_deploy_failing_at_slot_1_restarts_it_on_the_old_release():
    report, _log = run(
        running=TWO, release="r2", can_surge=False, gates={("r2", 1, "a"): broken(attempts=5)}
    )
    assert report["outcome"] == "rolled_back"
    assert report["failure"].startswith("process 1 (app) failed its health gate after 5 attempts")
    assert entries(report, (*ENTRY_FIELDS, "release")) == [
        (1, "rollout", "replace", "in_place", "a", "a", False, "r2"),
        (1, "rollback", "replace", "in_place", "a", "a", True, "r1"),
    ]
    assert (report["release_after"], report["previous_after"]) == ("r1", "r0")


@pytest.mark.parametrize(
    ("rollback_breaks", "rollback_failure"),
    [
        pytest.param(
            {"gates": {**BROKEN_R2_SLOT_2, ("r1", 1, "a"): broken(reason="port in use")}},
            "process 1 (app) failed its health gate after 3 attempts: port in use",
            id="rollback-gate-fails",
        ),
        pytest.param(
            {"gates": BROKEN_R2_SLOT_2, "fail_start": {(1, "a")}},
            "process 1 (app) did not start: exit status 1",
            id="rollback-start-raises",
        ),
    ],
)
def test_failed_rollback_reports_both_failures(rollback_breaks, rollback_failure):
    report, _log = run(running=TWO, release="r2", **rollback_breaks)
    assert report["outcome"] == "rollback_failed"
    assert report["failure"] == (
        "process 2 (app) failed its health gate after 3 attempts: handshake refused"
    )
    assert report["rollback_failure"] == rollback_failure
    # The links went back even though a process could not.
    assert (report["release_after"], report["previous_after"]) == ("r1", "r0")
    assert entries(report, ("process", "phase", "gate_passed"))[-1] == (1, "rollback", False)


def test_restart_gate_failure_leaves_the_old_side_serving():
    report, log = run(running=TWO, replace=True, gates={(ANY, 2, "b"): broken()})
    assert report["outcome"] == "failed"
    assert report["failure"] == (
        "process 2 (app) failed its health gate after 3 attempts: handshake refused"
    )
    assert report["rollback_failure"] is None
    assert not [call for call in log if call[0] in ("switch", "restore")]
    assert ("point", 2, "b") not in log
    assert committed(log) == {1: "b", 2: "a"}
    assert (report["release_after"], report["previous_after"]) == ("r1", "r0")
    assert [entry["phase"] for entry in report["processes"]] == ["rollout", "rollout"]


def test_start_that_raises_is_reported_as_did_not_start():
    report, _log = run(running=TWO, replace=True, fail_start={(2, "b")})
    assert report["failure"] == "process 2 (app) did not start: exit status 1"
    failed = report["processes"][-1]
    assert (failed["process"], failed["gate_passed"], failed["attempts"]) == (2, False, 0)
    assert failed["reason"] == "did not start: exit status 1"
    assert failed["start_to_healthy_seconds"] is None


def test_a_slot_address_that_cannot_be_switched_keeps_the_old_process():
    report, log = run(running=TWO, replace=True, fail_point={(1, "b")})
    assert report["outcome"] == "failed"
    assert report["failure"] == (
        "process 1 (app) could not be given its slot's address: nft: no such table"
    )
    # The successor goes; the old process was never stopped, and slot 2 was not touched.
    assert log[:4] == [("start", 1, "b"), ("gate", 1, "b"), ("point", 1, "b"), ("stop", 1, "b")]
    assert ("stop", 1, "a") not in log and ("start", 2, "b") not in log
    assert committed(log) == {1: "a", 2: "a"}


def test_a_boot_record_that_fails_fails_a_rollout_that_did_its_work():
    report, log = run(running=TWO, replace=True, fail_commit=True)
    assert report["outcome"] == "failed"
    assert report["failure"] == "could not record what starts at boot: read-only file system"
    assert log[: len(surge(1, "a", "b"))] == surge(1, "a", "b")


def test_stop_that_raises_is_reported_as_did_not_stop():
    report, _log = run(running=TWO, replace=True, can_surge=False, fail_stop={(1, "a")})
    assert report["failure"] == "process 1 (app) did not stop: still running after 30s"
    assert report["processes"][0]["drain_seconds"] is None


# Check mode ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "planned", "outcome", "release_after"),
    [
        pytest.param(
            {"running": TWO, "release": "r2"},
            [(1, "replace"), (2, "replace")],
            "done",
            "r2",
            id="deploy",
        ),
        pytest.param(
            {"running": TWO, "release": "r2", "can_surge": False},
            [(1, "replace"), (2, "replace")],
            "done",
            "r2",
            id="deploy-in-place",
        ),
        pytest.param(
            {"running": TWO, "replace": True},
            [(1, "replace"), (2, "replace")],
            "done",
            "r1",
            id="restart",
        ),
        pytest.param(
            {"running": {1: "a", 3: "b"}, "wanted": [1, 2]},
            [(2, "start"), (3, "stop")],
            "done",
            "r1",
            id="scale",
        ),
        pytest.param({"running": TWO, "release": "r1"}, [], "unchanged", "r1", id="nothing"),
    ],
)
def test_check_mode_changes_nothing(setup, planned, outcome, release_after):
    report, log = run(check_mode=True, **setup)
    assert log == []  # no start, stop, point, forget, commit, gate, switch or restore
    assert report["planned"] == [{"process": slot, "action": action} for slot, action in planned]
    assert report["outcome"] == outcome
    assert report["release_after"] == release_after
    assert report["processes"] == []
    assert report["seconds"] == STEP  # two clock readings: nothing waited


# Regressions: check mode, rollbacks of half-done surges, and the report's own fields -----------


def test_check_mode_predicts_previous_after_like_a_real_run():
    predicted, _log = run(running=TWO, release="r2", check_mode=True)
    real, _log = run(running=TWO, release="r2")
    assert (predicted["release_after"], predicted["previous_after"]) == (
        real["release_after"],
        real["previous_after"],
    )


def test_check_mode_predicts_orphans_like_a_real_run():
    predicted, _log = run(running=TWO, orphans=[(2, "b")], check_mode=True)
    real, _log = run(running=TWO, orphans=[(2, "b")])
    assert real["outcome"] == "done"
    assert predicted["outcome"] == real["outcome"]


def test_deploy_rollback_covers_a_slot_whose_old_side_did_not_stop():
    report, log = run(running=TWO, release="r2", fail_stop={(1, "a")})
    assert report["failure"] == "process 1 (app) did not stop: still running after 30s"
    assert report["outcome"] == "rolled_back"
    # The links say r1 again: slot 1 must not stay on the successor started on r2.
    assert (1, "rollback") in entries(report, ("process", "phase"))
    assert committed(log)[1] == "a"


@pytest.mark.parametrize(
    "breaks",
    [
        pytest.param({"fail_start": {(2, "b")}}, id="surge-second-start-raises"),
        pytest.param({"gates": {(ANY, 1, "b"): broken()}}, id="surge-first-gate-fails"),
        pytest.param(
            {"can_surge": False, "gates": {(ANY, 1, "a"): broken()}}, id="in-place-first-gate-fails"
        ),
    ],
)
def test_report_entries_hold_only_the_documented_fields(breaks):
    report, _log = run(running=TWO, replace=True, group_size=2, **breaks)
    assert report["outcome"] == "failed"
    for entry in report["processes"]:
        assert not [key for key in entry if key.startswith("_")], entry


# A rollout cut short after its switch ------------------------------------------------------


def test_a_rollout_cut_short_after_its_switch_is_finished_by_the_next_run():
    host, log = make(running=TWO, wanted=[1, 2])
    host.links.pending = True  # the switch happened, the controller died before the end
    report = host.run()
    assert report["interrupted"] is True
    assert log[:8] == surge(1, "a", "b") + surge(2, "a", "b")
    assert report["outcome"] == "done"
    assert host.links.pending is False


def test_a_deploy_settles_once_every_process_runs_the_release():
    host, _log = make(running=TWO, release="r2")
    report = host.run()
    assert (report["outcome"], report["interrupted"]) == ("done", False)
    assert host.links.pending is False


def test_a_rollback_that_failed_leaves_the_rollout_to_be_finished():
    host, _log = make(
        running=TWO, release="r2", gates={(ANY, 2, "b"): broken(), (ANY, 1, "a"): broken()}
    )
    report = host.run()
    assert report["outcome"] == "rollback_failed"
    assert host.links.pending is True


def test_check_mode_plans_to_finish_a_rollout_cut_short():
    host, log = make(running=TWO, wanted=[1, 2], check_mode=True)
    host.links.pending = True
    report = host.run()
    assert [step["action"] for step in report["planned"]] == ["replace", "replace"]
    assert (report["outcome"], log) == ("done", [])
