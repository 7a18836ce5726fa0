"""Support code shared by the benchmarks (bench/), the molecule verifiers (molecule/*/tests)
and the controller tests (tests/): installed into .venv in editable mode (requirements-dev.txt:
-e ./support), so each imports it without touching sys.path.

- paths: where the project and the local fleets' state are.
- fleet: a local fleet's hosts (fleet/localfleet.py's state) and an inventory's hosts as
  testinfra reaches them (molecule's).
- ssh: commands and the host-side scripts of remote/ run on a local fleet's hosts over SSH.
- remote/: scripts that run on fleet hosts, kept as files and shipped when used (probe.py:
  HTTP over an app process's unix socket and what is read or done with it; ws_probe.py: a
  WebSocket client on a host).
- playbooks: ansible-playbook runs, timed, and what their recap says changed.
- stats: nearest-rank percentiles and the balance of open connections over processes.
- wsload: the WebSocket load generator (bench/wsload.py is its command line).
- benchmark: the benchmarks' common command line and results header.
- markdown: Markdown documents from Jinja templates (the benchmark reports).
- echo_app: pytest fixtures running the example app (tests/app, tests/bench).
- checks/: what the molecule scenarios' testinfra checks share, live load included.
"""
