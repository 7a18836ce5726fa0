"""Role conventions ansible-lint cannot check: the collection's variable prefixes, and every
public option documented in meta/argument_specs.yml with the default it really has."""

from pathlib import Path

import pytest
import yaml

ROLES_DIR = Path(__file__).resolve().parents[2] / "roles"
ROLES = sorted(path.name for path in ROLES_DIR.iterdir() if (path / "tasks").is_dir())


def load(role, relative):
    path = ROLES_DIR / role / relative
    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


@pytest.mark.parametrize("role", ROLES)
def test_public_variables_carry_the_role_prefix(role):
    defaults = load(role, "defaults/main.yml")
    assert defaults, f"roles/{role} has no defaults"
    assert [name for name in defaults if not name.startswith(f"wsfleet_{role}_")] == []


@pytest.mark.parametrize("role", ROLES)
def test_internal_variables_carry_the_double_underscore_prefix(role):
    internal = load(role, "vars/main.yml")
    assert [name for name in internal if not name.startswith(f"__wsfleet_{role}_")] == []


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_documented_with_its_real_default(role):
    defaults = load(role, "defaults/main.yml")
    options = load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert sorted(options) == sorted(defaults)
    for name, spec in options.items():
        assert spec.get("description"), f"{name} has no description"
        assert spec.get("type"), f"{name} has no type"
        assert spec.get("default") == defaults[name], f"{name}: documented default differs"


@pytest.mark.parametrize("role", ROLES)
def test_the_readme_documents_every_option(role):
    readme = (ROLES_DIR.parent / "README.md").read_text(encoding="utf-8")
    options = load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert [name for name in options if f"`{name}`" not in readme] == []
