"""Role conventions ansible-lint cannot check: the collection's variable prefixes, every public
option documented in meta/argument_specs.yml with the default it really has, and each role's
README listing every option of its role with that default."""

import html
import importlib.util
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES_DIR = ROOT / "roles"
ROLES = sorted(path.name for path in ROLES_DIR.iterdir() if (path / "tasks").is_dir())

# The fleet role's options are the fleet's shared names, read by every playbook and role: they
# carry no wsfleet_fleet_ prefix, so the fleet role may define these and only these besides.
FLEET_SHARED_NAMES = {
    "wsfleet_app_hosts",
    "wsfleet_edge_hosts",
    "wsfleet_monitoring_hosts",
    "wsfleet_edge_floating_addresses",
    "wsfleet_router",
}
FLEET_SHARED_PREFIXES = ("wsfleet_rolling_", "wsfleet_switch_", "wsfleet_check_")

SCRIPT = ROOT / "scripts/readme_variables.py"
_spec = importlib.util.spec_from_file_location("readme_variables", SCRIPT)
readme_variables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme_variables)


def load(role, relative):
    path = ROLES_DIR / role / relative
    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def options_of(role):
    return readme_variables.options(role)


def is_public_name_of(role, name):
    if name.startswith(f"wsfleet_{role}_"):
        return True
    return role == "fleet" and (
        name in FLEET_SHARED_NAMES or name.startswith(FLEET_SHARED_PREFIXES)
    )


def readme_table(role):
    """The README's variables table, as {variable: (type, default cell)}."""
    readme = (ROLES_DIR / role / "README.md").read_text(encoding="utf-8")
    begin, end = readme.find(readme_variables.BEGIN), readme.find(readme_variables.END)
    assert 0 <= begin < end, f"roles/{role}/README.md has no variables table between markers"
    rows = {}
    for line in readme[begin:end].splitlines():
        cells = [html.unescape(cell.strip()) for cell in line.strip().strip("|").split(" | ")]
        match = re.fullmatch(r"`(wsfleet_\w+)`", cells[0])
        if match:
            assert match.group(1) not in rows, f"{match.group(1)} listed twice"
            rows[match.group(1)] = (cells[1], cells[2])
    return rows


def documented_default_matches(cell, default):
    """Read a default cell back (`empty`, a string on one line, or YAML) against the real one."""
    if cell == "empty":
        return default in ("", None)
    assert cell.startswith("`") and cell.endswith("`"), f"default cell {cell!r} is not code"
    text = cell[1:-1]
    if isinstance(default, str):
        return text == re.sub(r"\s*\n\s*", " ", default.strip())
    return yaml.safe_load(text) == default


@pytest.mark.parametrize("role", ROLES)
def test_public_variables_carry_the_role_prefix(role):
    defaults = load(role, "defaults/main.yml")
    assert defaults, f"roles/{role} has no defaults"
    assert [name for name in defaults if not is_public_name_of(role, name)] == []


def test_the_fleet_defines_its_shared_names():
    defaults = load("fleet", "defaults/main.yml")
    assert set(defaults) >= FLEET_SHARED_NAMES
    for prefix in FLEET_SHARED_PREFIXES:
        assert any(name.startswith(prefix) for name in defaults), f"no {prefix}* in the fleet"


def test_no_variable_is_defined_by_two_roles():
    owners = {}
    for role in ROLES:
        for name in load(role, "defaults/main.yml"):
            owners.setdefault(name, []).append(role)
    assert {name: roles for name, roles in owners.items() if len(roles) > 1} == {}


@pytest.mark.parametrize("role", ROLES)
def test_internal_variables_carry_the_double_underscore_prefix(role):
    internal = load(role, "vars/main.yml")
    assert [name for name in internal if not name.startswith(f"__wsfleet_{role}_")] == []


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_documented_with_its_real_default(role):
    defaults = load(role, "defaults/main.yml")
    options = options_of(role)
    assert sorted(options) == sorted(defaults)
    for name, spec in options.items():
        assert spec.get("description"), f"{name} has no description"
        assert spec.get("type"), f"{name} has no type"
        assert spec.get("default") == defaults[name], f"{name}: documented default differs"


@pytest.mark.parametrize("role", ROLES)
def test_the_role_readme_documents_every_option_with_its_real_default(role):
    defaults = load(role, "defaults/main.yml")
    options = options_of(role)
    table = readme_table(role)
    assert list(table) == list(options), f"roles/{role}/README.md: run {SCRIPT.name}"
    for name, (kind, cell) in table.items():
        assert kind.split(" ")[0] == options[name]["type"], f"{name}: documented type differs"
        assert documented_default_matches(cell, defaults[name]), (
            f"{name}: README default {cell} differs from {defaults[name]!r}"
        )


@pytest.mark.parametrize("role", ROLES)
def test_the_role_readme_table_is_what_the_script_writes(role):
    readme = (ROLES_DIR / role / "README.md").read_text(encoding="utf-8")
    assert readme_variables.with_table(readme, role) == readme, f"run scripts/{SCRIPT.name}"


def test_the_front_readme_links_every_role_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert [role for role in ROLES if f"(roles/{role}/README.md)" not in readme] == []
