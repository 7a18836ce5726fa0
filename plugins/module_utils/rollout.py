# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout of one host's app processes, as a small state machine.

A host runs N process slots. Each slot is served by one process at a time, on one of two
sides ("a" or "b"). Replacing a slot goes one of two ways:

* surge (start before stop): start the other side, gate it (health check and WebSocket
  handshake with ping), point the slot's address at it, then stop the old side, which closes
  its clients with 1012. No connect is ever refused and the host never runs fewer than N
  processes.
* in place: stop the process (it drains), start it again, gate it. For process managers or
  bindings where two processes cannot share a slot's address.

A rollout switches the live release first when asked, replaces the slots a group at a time,
starts missing slots and stops surplus ones. When a process fails its gate after the release
switched, it goes back by itself: the release links are restored and every slot already
replaced is replaced again onto the release that ran before.

The process manager, the probe and the release links are objects passed in, so that the whole
sequence is tested against fakes (tests/unit/plugins/module_utils/test_rollout.py) and runs
for real in the app_rollout module, with the managers of app_processes, the probe of
health_gate and the ReleaseLinks of releases.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib

SIDES = ("a", "b")

# Outcomes of a host's rollout.
UNCHANGED = "unchanged"
DONE = "done"
FAILED = "failed"
ROLLED_BACK = "rolled_back"
ROLLBACK_FAILED = "rollback_failed"

# What happens to a slot.
REPLACE = "replace"
START = "start"
STOP = "stop"

SURGE = "surge"
IN_PLACE = "in_place"


class RolloutError(Exception):
    """A step that failed; str() is the reason in plain words."""


class GateResult:
    """What the health gate of one process found."""

    def __init__(self, passed, attempts=1, reason="", release=None):
        self.passed = passed
        self.attempts = attempts
        self.reason = reason
        self.release = release


def other_side(side):
    return SIDES[1] if side == SIDES[0] else SIDES[0]


def groups_of(items, size):
    size = max(1, int(size))
    return [items[index : index + size] for index in range(0, len(items), size)]


def plan(running, wanted, replace_all):
    """(slot, action) pairs in the order they run: replacements, then starts, then stops.

    running: {slot: side} of what runs now; wanted: the slot numbers the host should run.
    """
    wanted = sorted(wanted)
    steps = []
    if replace_all:
        steps.extend((slot, REPLACE) for slot in wanted if slot in running)
    steps.extend((slot, START) for slot in wanted if slot not in running)
    steps.extend((slot, STOP) for slot in sorted(running) if slot not in wanted)
    return steps


class Rollout:
    """One host's rollout. Call run() once; it returns the report (a dict).

    manager: running() -> {slot: side}; can_surge -> bool; start(slot, side);
        stop(slot, side) (returns once the process drained and exited); point(slot, side)
        (make the slot's address reach that side); forget(slot); commit({slot: side})
        (what must run at boot). Failures raise RolloutError.
    probe: connections(slot, side) -> int or None; gate(slot, side) -> GateResult.
    links: current(), previous(), switch(release) -> bool (records that a rollout is under
        way until settle()), restore(current, previous), interrupted() -> bool (a rollout
        switched and never settled), settle().
    clock: a monotonic clock, in seconds.
    """

    def __init__(
        self,
        manager,
        probe,
        links,
        clock,
        wanted,
        release=None,
        replace=False,
        group_size=1,
        check_mode=False,
        label="app",
    ):
        self.label = label
        self.manager = manager
        self.probe = probe
        self.links = links
        self.clock = clock
        # None: the slots that run now, whatever their number (a rolling restart).
        self.wanted = sorted(wanted) if wanted is not None else None
        self.release = release
        self.replace = replace
        self.group_size = group_size
        self.check_mode = check_mode
        self.mode = SURGE if manager.can_surge else IN_PLACE
        self.live = {}
        self.processes = []
        self.report = {}

    # The rollout ---------------------------------------------------------------------------

    def run(self):
        started = self.clock()
        self.live = dict(self.manager.running())
        if self.wanted is None:
            self.wanted = sorted(self.live)
        before = (self.links.current(), self.links.previous())
        switching = bool(self.release) and self.release != before[0]
        # A rollout cut short after its switch (the controller killed) left processes on
        # either release: this run replaces them all onto the live one.
        interrupted = self.links.interrupted()
        steps = plan(self.live, self.wanted, self.replace or switching or interrupted)
        self.report = {
            "outcome": UNCHANGED,
            "mode": self.mode,
            "release_before": before[0],
            "release_after": before[0],
            "previous_after": before[1],
            "switched": switching,
            "interrupted": interrupted,
            "planned": [{"process": slot, "action": action} for slot, action in steps],
            "processes": self.processes,
            "failure": None,
            "rollback_failure": None,
        }
        if self.check_mode:
            if switching or steps or self.manager.orphans():
                self.report["outcome"] = DONE
            if switching:
                self.report["release_after"] = self.release
                self.report["previous_after"] = before[0]
            return self._finish(started)
        orphans = self._stop_orphans()
        if switching:
            self.links.switch(self.release)
        done = []
        try:
            self._run_steps(steps, done, "rollout")
            self._check_untouched(steps)
        except RolloutError as exc:
            self.report["failure"] = str(exc)
            if switching:
                self._go_back(before, done)
            else:
                self.report["outcome"] = FAILED
            self._commit()
            if self.report["outcome"] == ROLLED_BACK:
                self.links.settle()
            return self._finish(started)
        if switching or steps or orphans:
            self.report["outcome"] = DONE
        # Every process runs the live release: settled, whether or not the boot is recorded.
        self.links.settle()
        self._commit()
        return self._finish(started)

    def _commit(self):
        """Record what starts at boot; a failure to do so fails the rollout, which has
        otherwise done its work (the next run records it again)."""
        try:
            self.report["committed"] = self.manager.commit(self.live)
        except RolloutError as exc:
            reason = "could not record what starts at boot: %s" % exc
            self.report["failure"] = self.report["failure"] or reason
            if self.report["outcome"] in (UNCHANGED, DONE):
                self.report["outcome"] = FAILED

    def _stop_orphans(self):
        """Second processes on a slot, left by an interrupted surge: the live one stays."""
        orphans = self.manager.orphans()
        for slot, side in orphans:
            entry = self._entry(slot, "orphan", "rollout", side, None)
            started = self.clock()
            self._quietly_stop(slot, side)
            entry["drain_seconds"] = round(self.clock() - started, 3)
        return orphans

    def _check_untouched(self, steps):
        """Every process this rollout left alone must still pass its gate."""
        touched = set(slot for slot, _action in steps)
        for slot in self.wanted:
            if slot in touched or slot not in self.live:
                continue
            entry = self._entry(slot, "check", "rollout", self.live[slot], self.live[slot])
            entry["_started_at"] = self.clock()
            self._gate(entry, self.live[slot])

    def _finish(self, started):
        if not self.check_mode:
            self.report["release_after"] = self.links.current()
            self.report["previous_after"] = self.links.previous()
        self.report["seconds"] = round(self.clock() - started, 3)
        for entry in self.processes:
            # A step cut short keeps its start time: it is no field of the report.
            entry.pop("_started_at", None)
        return self.report

    def _run_steps(self, steps, done, phase):
        """Run (slot, action) steps; replacements a group at a time. done collects the slots
        that now run something new, for a rollback."""
        replacements = [slot for slot, action in steps if action == REPLACE]
        for group in groups_of(replacements, self.group_size):
            self._replace_group(group, done, phase)
        for slot, action in steps:
            if action == START:
                self._start_slot(slot, phase)
                done.append(slot)
            elif action == STOP:
                self._stop_slot(slot, phase)

    def _go_back(self, before, done):
        """The release that ran before, live again on every slot this rollout touched."""
        self.links.restore(*before)
        touched = sorted(set(done) | set(slot for slot in self.wanted if slot not in self.live))
        steps = [(slot, REPLACE) for slot in touched if slot in self.live]
        steps += [(slot, START) for slot in touched if slot not in self.live]
        try:
            self._run_steps(steps, [], "rollback")
        except RolloutError as exc:
            self.report["rollback_failure"] = str(exc)
            self.report["outcome"] = ROLLBACK_FAILED
            return
        self.report["outcome"] = ROLLED_BACK

    # One slot or group ---------------------------------------------------------------------

    def _entry(self, slot, action, phase, old_side, new_side):
        entry = {
            "process": slot,
            "action": action,
            "phase": phase,
            "mode": self.mode if action == REPLACE else action,
            "old_side": old_side,
            "new_side": new_side,
            "connections_before": None,
            "drain_seconds": None,
            "start_to_healthy_seconds": None,
            "gate_passed": None,
            "attempts": 0,
            "release": None,
            "reason": "",
        }
        self.processes.append(entry)
        return entry

    def _replace_group(self, group, done, phase):
        if self.mode == SURGE:
            self._surge_group(group, done, phase)
        else:
            self._restart_group_in_place(group, done, phase)

    def _surge_group(self, group, done, phase):
        entries = []
        for slot in group:
            old = self.live[slot]
            entry = self._entry(slot, REPLACE, phase, old, other_side(old))
            entry["connections_before"] = self.probe.connections(slot, old)
            entries.append(entry)
        started = []
        try:
            for entry in entries:
                entry["_started_at"] = self.clock()
                started.append(entry)
                self._start(entry, entry["new_side"])
            for entry in entries:
                self._gate(entry, entry["new_side"])
        except RolloutError:
            # The old processes still serve every slot: only the successors go.
            for entry in started:
                self._quietly_stop(entry["process"], entry["new_side"])
            raise
        for index, entry in enumerate(entries):
            try:
                self._point(entry, entry["new_side"])
            except RolloutError:
                # The slots not switched keep their old process: only their successors go.
                for unswitched in entries[index:]:
                    self._quietly_stop(unswitched["process"], unswitched["new_side"])
                raise
            self.live[entry["process"]] = entry["new_side"]
            # From here the slot reaches the successor: a rollback must replace it.
            done.append(entry["process"])
        for entry in entries:
            self._drain(entry, entry["old_side"])

    def _restart_group_in_place(self, group, done, phase):
        entries = []
        for slot in group:
            side = self.live[slot]
            entry = self._entry(slot, REPLACE, phase, side, side)
            entry["connections_before"] = self.probe.connections(slot, side)
            entries.append(entry)
        for entry in entries:
            self._drain(entry, entry["old_side"])
            # From here the slot runs whatever starts next: a rollback must replace it.
            done.append(entry["process"])
        for entry in entries:
            entry["_started_at"] = self.clock()
            self._start(entry, entry["new_side"])
        for entry in entries:
            self._gate(entry, entry["new_side"])

    def _start_slot(self, slot, phase):
        side = SIDES[0]
        entry = self._entry(slot, START, phase, None, side)
        entry["_started_at"] = self.clock()
        try:
            self._start(entry, side)
            self._gate(entry, side)
            self._point(entry, side)
        except RolloutError:
            # A process that never passed its gate, or that its slot's address does not reach,
            # does not stay: the slot stays empty.
            self._quietly_stop(slot, side)
            raise
        self.live[slot] = side

    def _stop_slot(self, slot, phase):
        side = self.live[slot]
        entry = self._entry(slot, STOP, phase, side, None)
        entry["connections_before"] = self.probe.connections(slot, side)
        try:
            self.manager.forget(slot)
        except RolloutError as exc:
            self._fail(entry, "could not be taken off its slot's address: %s" % exc)
        self._drain(entry, side)
        del self.live[slot]

    # Steps ---------------------------------------------------------------------------------

    def _start(self, entry, side):
        try:
            self.manager.start(entry["process"], side)
        except RolloutError as exc:
            self._fail(entry, "did not start: %s" % exc)

    def _point(self, entry, side):
        try:
            self.manager.point(entry["process"], side)
        except RolloutError as exc:
            self._fail(entry, "could not be given its slot's address: %s" % exc)

    def _gate(self, entry, side):
        result = self.probe.gate(entry["process"], side)
        entry.update(
            gate_passed=result.passed,
            attempts=result.attempts,
            release=result.release,
            start_to_healthy_seconds=round(self.clock() - entry.pop("_started_at"), 3),
        )
        if not result.passed:
            self._fail(
                entry,
                "failed its health gate after %d attempts: %s" % (result.attempts, result.reason),
            )

    def _drain(self, entry, side):
        started = self.clock()
        try:
            self.manager.stop(entry["process"], side)
        except RolloutError as exc:
            self._fail(entry, "did not stop: %s" % exc)
        entry["drain_seconds"] = round(self.clock() - started, 3)

    def _quietly_stop(self, slot, side):
        with contextlib.suppress(RolloutError):
            self.manager.stop(slot, side)

    def _fail(self, entry, reason):
        entry.pop("_started_at", None)
        entry["gate_passed"] = False if entry["gate_passed"] is None else entry["gate_passed"]
        entry["reason"] = reason
        raise RolloutError("process %s (%s) %s" % (entry["process"], self.label, reason))
