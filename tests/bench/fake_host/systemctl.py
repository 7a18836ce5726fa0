"""A fake systemctl for units APP@<slot><side>.service: start spawns a fake process
(process.py in FAKE_STATE) on FAKE_RUNTIME/<slot><side>.sock and returns at once
(Type=exec); stop waits until it is gone. Every call is logged to FAKE_STATE/calls."""

import os
import signal
import subprocess
import sys
import time

runtime, state = os.environ["FAKE_RUNTIME"], os.environ["FAKE_STATE"]
with open(os.path.join(state, "calls"), "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\n")


def name(unit):
    return unit.split("@", 1)[1].removesuffix(".service")


def start(unit):
    socket = os.path.join(runtime, name(unit) + ".sock")
    # Like a unit's process, it shares no file with systemctl's caller.
    quiet = subprocess.DEVNULL
    process = subprocess.Popen(
        [sys.executable, os.path.join(state, "process.py"), socket],
        start_new_session=True,
        stdin=quiet,
        stdout=quiet,
        stderr=quiet,
    )
    with open(os.path.join(state, name(unit) + ".pid"), "w") as pid:
        pid.write(str(process.pid))


def stop(unit):
    pid_file = os.path.join(state, name(unit) + ".pid")
    if not os.path.exists(pid_file):
        return
    with open(pid_file) as pid:
        os.kill(int(pid.read()), signal.SIGTERM)
    os.unlink(pid_file)
    while os.path.exists(os.path.join(runtime, name(unit) + ".sock")):
        time.sleep(0.01)


command, units = sys.argv[1], sys.argv[2:]
for unit in units:
    if command == "start":
        start(unit)
    elif command == "stop":
        stop(unit)
    elif command == "restart":
        stop(unit)
        start(unit)
