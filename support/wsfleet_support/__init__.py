"""Support code shared by the benchmarks (bench/), the molecule verifiers (molecule/*/tests)
and the controller tests (tests/): installed into .venv in editable mode, so each imports it
without touching sys.path.

- paths: where the project and the local fleets' state are.
- stats: nearest-rank percentiles and the balance of open connections over processes.
- fleet: a local fleet's hosts (fleet/localfleet.py's state) and a molecule scenario's hosts.
- ssh: commands and the host-side scripts (remote/) run on a fleet host over SSH.
- playbooks: ansible-playbook runs, timed, and what their recap says changed.
- wsload: the WebSocket load generator.
- remote/: scripts that run on fleet hosts, shipped as files (see remote/__init__.py).
- checks/: what the molecule scenarios' testinfra checks share.
"""
