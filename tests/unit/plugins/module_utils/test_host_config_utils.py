"""host_config's decisions over plain data: missing prerequisites, what differs in a file,
what each service needs after a change, which commands run."""

import pytest
from ansible_collections.wsfleet.deploy.plugins.module_utils.host_config import (
    commands_to_run,
    file_diff,
    file_differences,
    installed_packages,
    missing_groups,
    missing_packages,
    mode_string,
    needs_daemon_reload,
    present_packages,
    service_actions,
    touched,
    user_needs,
    validate_argv,
)

DPKG = """\
nginx install ok installed
haproxy deinstall ok config-files
ssl-cert install ok installed
python3-venv unknown ok not-installed
"""


def test_installed_packages_are_those_dpkg_says_are_installed():
    calls = []

    def run_command(argv):
        calls.append(argv)
        # dpkg-query exits 1 when it does not know a name at all.
        return 1, DPKG, "dpkg-query: no packages found matching nope\n"

    names = ["nginx", "haproxy", "ssl-cert", "python3-venv", "nope"]
    assert installed_packages(run_command, names) == {"nginx", "ssl-cert"}
    assert calls == [["dpkg-query", "-W", "-f", "${Package} ${Status}\\n", *names]]


def test_no_package_asked_asks_dpkg_nothing():
    def run_command(argv):
        raise AssertionError("dpkg-query ran")

    assert installed_packages(run_command, []) == set()


@pytest.mark.parametrize(
    ("wanted", "installed", "missing", "present"),
    [
        ([], set(), [], []),
        (["nginx", "ssl-cert"], {"nginx", "ssl-cert"}, [], ["nginx", "ssl-cert"]),
        (["ssl-cert", "nginx", "curl"], {"nginx"}, ["ssl-cert", "curl"], ["nginx"]),
        (["haproxy"], set(), ["haproxy"], []),
    ],
    ids=["none", "all-installed", "order-kept", "none-installed"],
)
def test_packages_to_install_and_to_purge(wanted, installed, missing, present):
    assert missing_packages(wanted, installed) == missing
    assert present_packages(wanted, installed) == present


def test_only_groups_that_do_not_exist_are_created():
    wanted = [{"name": "echo", "system": True}, {"name": "ssl-cert", "system": True}]
    assert missing_groups(wanted, {"root", "ssl-cert"}) == [{"name": "echo", "system": True}]


ECHO = {"name": "echo", "group": "echo", "groups": None, "system": True, "home": "/srv/echo"}


@pytest.mark.parametrize(
    ("user", "accounts", "memberships", "needed"),
    [
        (ECHO, {"root"}, {}, ECHO),
        (ECHO, {"root", "echo"}, {}, None),
        (
            {"name": "www-data", "groups": ["ssl-cert", "echo"]},
            {"www-data"},
            {"ssl-cert": ["www-data"], "echo": []},
            {"name": "www-data", "groups": ["echo"], "append": True},
        ),
        (
            {"name": "www-data", "groups": ["ssl-cert"], "shell": "/bin/sh"},
            {"www-data"},
            {"ssl-cert": ["haproxy", "www-data"]},
            None,
        ),
        (
            # A group that does not exist yet has no members.
            {"name": "www-data", "groups": ["new"]},
            {"www-data"},
            {},
            {"name": "www-data", "groups": ["new"], "append": True},
        ),
    ],
    ids=[
        "new-user-whole",
        "existing-user-left-alone",
        "existing-user-lacking-a-group",
        "existing-user-in-its-groups",
        "group-to-come",
    ],
)
def test_what_a_user_needs(user, accounts, memberships, needed):
    assert user_needs(user, accounts, memberships) == needed


def test_a_new_user_entry_is_a_copy():
    needed = user_needs(ECHO, set(), {})
    needed["name"] = "changed"
    assert ECHO["name"] == "echo"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("0644", "0644"), ("644", "0644"), (0o640, "0640"), ("2750", "2750"), (None, None)],
    ids=["string", "no-leading-zero", "int", "setgid", "none"],
)
def test_modes_compare_in_one_form(mode, expected):
    assert mode_string(mode) == expected


CURRENT = {"content": b"old", "mode": "0644", "owner": "root", "group": "root"}


@pytest.mark.parametrize(
    ("wanted", "current", "differences"),
    [
        ({"content": b"new"}, None, ["state"]),
        ({"content": b"old", "mode": "644", "owner": "root", "group": "root"}, CURRENT, []),
        ({"content": b"new"}, CURRENT, ["content"]),
        ({"content": b"old", "mode": "0600"}, CURRENT, ["mode"]),
        ({"content": b"old", "mode": 0o644}, CURRENT, []),
        (
            {"content": b"new", "owner": "www-data", "group": "ssl-cert"},
            CURRENT,
            ["content", "owner", "group"],
        ),
        # Unset attributes are left as they are.
        ({"content": b"old", "mode": None, "owner": None, "group": None}, CURRENT, []),
        # A folder has no content to compare.
        ({"mode": "0755"}, {"mode": "0755", "owner": "root", "group": "root"}, []),
        (
            {"mode": "0750", "group": "echo"},
            {"mode": "0755", "owner": "root", "group": "root"},
            ["mode", "group"],
        ),
    ],
    ids=[
        "missing",
        "same",
        "content",
        "mode",
        "mode-as-int",
        "content-owner-group",
        "unset-left",
        "folder-same",
        "folder-mode-group",
    ],
)
def test_file_differences(wanted, current, differences):
    assert file_differences(wanted, current) == differences


@pytest.mark.parametrize(
    ("changed", "reload"),
    [
        ([], False),
        (["/etc/nginx/nginx.conf"], False),
        (["/etc/systemd/system/nginx.service.d/limits.conf"], True),
        (["/etc/nginx/nginx.conf", "/lib/systemd/system/echo@.service"], True),
        (["/usr/lib/systemd/system/haproxy.service"], True),
        (["/etc/systemd/system.conf"], False),
    ],
    ids=["nothing", "config", "drop-in", "unit-among-others", "usr-lib-unit", "systemd-own-conf"],
)
def test_systemd_reads_its_units_again_only_when_one_changed(changed, reload):
    assert needs_daemon_reload(changed) is reload


@pytest.mark.parametrize(
    ("keys", "changed", "expected"),
    [
        (["/etc/nginx"], ["/etc/nginx/nginx.conf"], True),
        (["/etc/nginx/"], ["/etc/nginx/conf.d/a.conf"], True),
        (["/etc/nginx"], ["/etc/nginx"], True),
        (["/etc/nginx"], ["/etc/nginx-extra/x.conf"], False),
        (["/etc/nginx/nginx.conf"], ["/etc/nginx/nginx.conf.bak"], False),
        (["packages"], ["packages"], True),
        (["users"], ["packages"], False),
        ([], ["/etc/nginx/nginx.conf"], False),
        (None, ["/etc/nginx/nginx.conf"], False),
    ],
    ids=[
        "file-in-folder",
        "folder-with-slash",
        "folder-itself",
        "sibling-prefix",
        "file-prefix",
        "prerequisite-key",
        "other-prerequisite",
        "no-keys",
        "none",
    ],
)
def test_touched(keys, changed, expected):
    assert touched(keys, changed) is expected


NGINX_CONF = ["/etc/nginx/nginx.conf"]


def nginx(**service):
    return dict({"name": "nginx.service", "reload_on": ["/etc/nginx"], "restart_on": []}, **service)


@pytest.mark.parametrize(
    ("service", "active", "enabled", "changed", "actions"),
    [
        (nginx(state="started", enabled=True), True, True, [], []),
        (nginx(state="started", enabled=True), True, True, NGINX_CONF, ["reload"]),
        (nginx(state="started", enabled=True), False, False, NGINX_CONF, ["enable", "start"]),
        # Started now: it reads its files as it starts, no reload on top.
        (nginx(state="started"), False, True, NGINX_CONF, ["start"]),
        (nginx(restart_on=["/etc/nginx/nginx.conf"]), True, True, NGINX_CONF, ["restart"]),
        (nginx(restart_on=["/etc/default/nginx"]), True, True, NGINX_CONF, ["reload"]),
        (nginx(state="stopped", enabled=False), True, True, NGINX_CONF, ["disable", "stop"]),
        (nginx(state="stopped"), False, True, NGINX_CONF, []),
        (nginx(), False, False, NGINX_CONF, []),
        (nginx(enabled=False), False, False, [], []),
        (nginx(enabled=True), False, True, [], []),
        (nginx(reload_on=["users"]), True, True, ["users"], ["reload"]),
        (nginx(), True, False, ["/etc/haproxy/haproxy.cfg"], []),
    ],
    ids=[
        "nothing-changed",
        "config-changed-reload",
        "enable-and-start",
        "start-no-reload",
        "restart-wins",
        "restart-on-other-file",
        "disable-and-stop",
        "stopped-already",
        "not-running-left-so",
        "disabled-already",
        "enabled-already",
        "user-added-to-group",
        "other-files",
    ],
)
def test_service_actions(service, active, enabled, changed, actions):
    assert service_actions(service, active, enabled, changed) == actions


def command(argv, **condition):
    return dict({"argv": argv, "creates": None, "when_changed": None}, **condition)


@pytest.mark.parametrize(
    ("commands", "changed", "existing", "chosen"),
    [
        ([command(["true"])], [], set(), [["true"]]),
        ([command(["mkkey"], creates="/etc/ssl/k.pem")], [], {"/etc/ssl/k.pem"}, []),
        ([command(["mkkey"], creates="/etc/ssl/k.pem")], [], set(), [["mkkey"]]),
        (
            [command(["supervisorctl", "update"], when_changed=["/etc/supervisor/conf.d"])],
            ["/etc/supervisor/conf.d/echo.conf"],
            set(),
            [["supervisorctl", "update"]],
        ),
        (
            [command(["supervisorctl", "update"], when_changed=["/etc/supervisor/conf.d"])],
            ["/etc/nginx/nginx.conf"],
            set(),
            [],
        ),
        (
            # Both conditions must hold.
            [command(["x"], creates="/a", when_changed=["/b"])],
            ["/b"],
            {"/a"},
            [],
        ),
        (
            [command(["first"]), command(["skipped"], when_changed=["/b"]), command(["last"])],
            [],
            set(),
            [["first"], ["last"]],
        ),
    ],
    ids=[
        "unconditional",
        "creates-exists",
        "creates-missing",
        "when-changed-folder",
        "when-changed-other",
        "creates-wins",
        "order-kept",
    ],
)
def test_commands_to_run(commands, changed, existing, chosen):
    picked = commands_to_run(commands, changed, exists=existing.__contains__)
    assert [entry["argv"] for entry in picked] == chosen


def test_creates_is_checked_on_the_host_by_default(tmp_path):
    made = tmp_path / "key.pem"
    made.write_text("k")
    dangling = tmp_path / "link.pem"
    dangling.symlink_to(tmp_path / "nowhere")
    commands = [
        command(["a"], creates=str(made)),
        command(["b"], creates=str(dangling)),
        command(["c"], creates=str(tmp_path / "absent.pem")),
    ]
    assert [entry["argv"] for entry in commands_to_run(commands, [])] == [["c"]]


@pytest.mark.parametrize(
    ("validate", "argv"),
    [
        ("/usr/sbin/nginx -t -q -c %s", ["/usr/sbin/nginx", "-t", "-q", "-c", "/etc/.new"]),
        (
            "haproxy -c -f %s -f '/etc/haproxy/a b.cfg'",
            ["haproxy", "-c", "-f", "/etc/.new", "-f", "/etc/haproxy/a b.cfg"],
        ),
        ("visudo -cf%s", ["visudo", "-cf/etc/.new"]),
    ],
    ids=["nginx", "quoted-argument", "joined"],
)
def test_validate_names_the_new_file(validate, argv):
    assert validate_argv(validate, "/etc/.new") == argv


def test_validate_without_the_new_file_is_refused():
    with pytest.raises(ValueError, match="must contain %s"):
        validate_argv("/usr/sbin/nginx -t", "/etc/.new")


@pytest.mark.parametrize(
    ("before", "expected_before"), [(None, ""), ("old\n", "old\n")], ids=["new-file", "changed"]
)
def test_file_diff(before, expected_before):
    assert file_diff("/etc/a", before, "new\n") == {
        "before_header": "/etc/a",
        "after_header": "/etc/a",
        "before": expected_before,
        "after": "new\n",
    }
