"""role_options: a role's option specification without its defaults, for
ansible.builtin.validate_argument_spec to check what a user set before any host changes."""

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.wsfleet.deploy.plugins.filter.role_options import (
    FilterModule,
    role_options,
)

ROLES = Path(__file__).resolve().parents[4] / "roles"


def make_role(tmp_path, argument_specs):
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "argument_specs.yml").write_text(yaml.safe_dump(argument_specs))
    return str(tmp_path)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"port": {"type": "int", "default": "{{ base_port + 1 }}", "description": "A port."}},
            {"port": {"type": "int", "description": "A port."}},
        ),
        (
            {"mode": {"type": "str", "choices": ["tcp", "unix"], "default": "tcp"}},
            {"mode": {"type": "str", "choices": ["tcp", "unix"]}},
        ),
        (
            # Only the key named default goes: an option may itself be called default.
            {"default": {"type": "bool", "required": True}},
            {"default": {"type": "bool", "required": True}},
        ),
        (
            {
                "servers": {
                    "type": "list",
                    "elements": "dict",
                    "default": [],
                    "options": {
                        "name": {"type": "str", "required": True},
                        "weight": {"type": "int", "default": 1},
                        "tls": {
                            "type": "dict",
                            "default": {},
                            "options": {"verify": {"type": "bool", "default": True}},
                        },
                    },
                }
            },
            {
                "servers": {
                    "type": "list",
                    "elements": "dict",
                    "options": {
                        "name": {"type": "str", "required": True},
                        "weight": {"type": "int"},
                        "tls": {"type": "dict", "options": {"verify": {"type": "bool"}}},
                    },
                }
            },
        ),
        (
            # A dict default is a value, not options to strip.
            {"labels": {"type": "dict", "default": {"default": "x"}}},
            {"labels": {"type": "dict"}},
        ),
    ],
    ids=["templated-default", "choices-kept", "option-named-default", "suboptions", "dict-value"],
)
def test_options_lose_their_defaults_at_every_level(tmp_path, options, expected):
    role = make_role(tmp_path, {"argument_specs": {"main": {"options": options}}})
    assert role_options(role) == expected


def test_the_entry_point_is_chosen(tmp_path):
    specs = {
        "main": {"options": {"a": {"type": "str", "default": "x"}}},
        "rollback": {"options": {"b": {"type": "int", "default": 2}}},
    }
    role = make_role(tmp_path, {"argument_specs": specs})
    assert role_options(role, "rollback") == {"b": {"type": "int"}}
    assert role_options(role) == {"a": {"type": "str"}}


def test_an_entry_point_without_options_has_none(tmp_path):
    role = make_role(tmp_path, {"argument_specs": {"main": {"short_description": "x"}}})
    assert role_options(role) == {}


def test_the_specification_on_disk_is_left_as_it_is(tmp_path):
    options = {"port": {"type": "int", "default": 8001}}
    role = make_role(tmp_path, {"argument_specs": {"main": {"options": options}}})
    role_options(role)
    on_disk = yaml.safe_load((tmp_path / "meta" / "argument_specs.yml").read_text())
    assert on_disk["argument_specs"]["main"]["options"] == options


@pytest.mark.parametrize(
    ("content", "entry_point"),
    [
        (None, "main"),
        ({"argument_specs": {"main": {"options": {}}}}, "rollback"),
        ({"something_else": {}}, "main"),
        ("argument_specs: [unclosed", "main"),
        ("", "main"),
    ],
    ids=["no-file", "no-entry-point", "no-argument-specs", "bad-yaml", "empty-file"],
)
def test_a_role_without_the_options_fails_naming_the_file(tmp_path, content, entry_point):
    if content is not None:
        (tmp_path / "meta").mkdir()
        text = content if isinstance(content, str) else yaml.safe_dump(content)
        (tmp_path / "meta" / "argument_specs.yml").write_text(text)
    with pytest.raises(
        AnsibleFilterError, match=rf"entry point {entry_point} in .*argument_specs\.yml"
    ):
        role_options(str(tmp_path), entry_point)


def test_the_filter_is_registered_under_its_name():
    assert FilterModule().filters() == {"role_options": role_options}


def has_default(options):
    return any(
        "default" in option or has_default(option.get("options") or {})
        for option in options.values()
    )


CHECKED_ROLES = sorted(
    path.name for path in ROLES.iterdir() if (path / "meta" / "argument_specs.yml").exists()
)


@pytest.mark.parametrize("role", CHECKED_ROLES)
def test_each_role_of_the_collection_checks_cleanly_with_nothing_set(role):
    """What preflight does: with nothing set, no option fails its check (a templated default
    is not checked)."""
    specs = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())
    # fleet and router have no main (nothing to run): their preflight's options are the role's.
    entry_point = "main" if "main" in specs["argument_specs"] else "preflight"
    options = role_options(str(ROLES / role), entry_point)
    assert options
    assert not has_default(options)
    assert [error for error in errors(options, {}) if "required" not in error] == []


def errors(options, values):
    return [str(error) for error in ArgumentSpecValidator(options).validate(values).errors]


def test_a_templated_default_would_fail_the_check_were_it_kept():
    # Why defaults go: nginx's worker_connections default is a template, not an int.
    spec = yaml.safe_load((ROLES / "nginx" / "meta" / "argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"]["options"]
    assert any("wsfleet_nginx_worker_connections" in error for error in errors(options, {}))
    stripped = role_options(str(ROLES / "nginx"))
    assert errors(stripped, {}) == []
    wrong = errors(stripped, {"wsfleet_nginx_worker_connections": "many"})
    assert len(wrong) == 1
    assert "wsfleet_nginx_worker_connections" in wrong[0]
