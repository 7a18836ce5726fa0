"""host_config on real files in a temporary folder; dpkg, systemctl and the checks are
stand-ins that answer from the test's table and record what ran."""

import grp
import os
import pwd
from pathlib import Path

import pytest
from ansible_collections.wsfleet.deploy.plugins.module_utils import host_config as host_config_utils
from ansible_collections.wsfleet.deploy.plugins.modules import host_config
from module_runner import Commands, run_module

USER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


class FakeHost:
    """What dpkg and systemctl answer, and what a check says of a file (validators: a part of
    the check command -> function of the new file's path giving its rc); systemctl's changes
    are kept, with the files as they were when each ran."""

    def __init__(self, installed=(), active=(), enabled=(), validators=None, failing=()):
        self.installed = set(installed)
        self.active, self.enabled = set(active), set(enabled)
        self.validators = validators or {}
        self.failing = dict(failing)
        self.seen = {}

    def answer(self, argv):
        if argv[0] == "dpkg-query":
            names = argv[4:]
            out = "".join(
                f"{name} install ok installed\n" for name in names if name in self.installed
            )
            return (0 if all(name in self.installed for name in names) else 1), out, ""
        if argv[:2] == ["systemctl", "is-active"]:
            return (0 if argv[3] in self.active else 3), "", ""
        if argv[:2] == ["systemctl", "is-enabled"]:
            return (0 if argv[3] in self.enabled else 1), "", ""
        if argv[0] in self.validators:
            return self.validators[argv[0]](argv[-1]), "", "bad config"
        return self.failing.get(tuple(argv), (0, "", ""))


@pytest.fixture
def host(monkeypatch):
    fake = FakeHost()
    commands = Commands(fake.answer).install(monkeypatch)
    fake.commands = commands
    monkeypatch.setattr(host_config.time, "sleep", lambda seconds: None)
    return fake


def run(**args):
    return run_module(host_config.main, **args)


READS = (["dpkg-query"], ["systemctl", "is-active"], ["systemctl", "is-enabled"])


def starts(argv, prefix):
    return argv[: len(prefix)] == list(prefix)


def ran(host, *prefixes):
    """What ran that is not a read (dpkg-query, systemctl is-*); only that with one of these
    prefixes, when given."""
    return [
        argv
        for argv in host.commands.calls
        if not any(starts(argv, read) for read in READS)
        and (not prefixes or any(starts(argv, prefix) for prefix in prefixes))
    ]


def mode_of(path):
    return "%04o" % (os.stat(path).st_mode & 0o7777)


def test_a_bare_host_gets_folders_files_and_links_and_a_second_run_changes_nothing(tmp_path, host):
    conf, app = tmp_path / "etc" / "echo", tmp_path / "srv" / "echo"
    args = dict(
        directories=[{"path": str(app), "owner": USER, "group": GROUP, "mode": "0750"}],
        files=[
            {"path": str(conf / "echo.conf"), "content": "port = 8001\n", "mode": "0640"},
            # Its folder is made too, though no entry of directories names it.
            {"path": str(tmp_path / "units" / "echo.service.d" / "limits.conf"), "content": "x"},
        ],
        links=[{"path": str(app / "current"), "src": "releases/1.0"}],
    )
    ok, result = run(**args)
    assert ok, result
    assert result["changed"]
    assert result["changed_paths"] == [
        str(app),
        str(app / "current"),
        str(conf / "echo.conf"),
        str(tmp_path / "units" / "echo.service.d" / "limits.conf"),
    ]
    assert mode_of(app) == "0750"
    assert (conf / "echo.conf").read_text() == "port = 8001\n"
    assert mode_of(conf / "echo.conf") == "0640"
    assert mode_of(tmp_path / "units" / "echo.service.d" / "limits.conf") == "0644"
    assert os.readlink(app / "current") == "releases/1.0"
    # Nothing written half is left beside them.
    assert sorted(os.listdir(conf)) == ["echo.conf"]

    ok, again = run(**args)
    assert ok
    assert not again["changed"]
    assert again["changed_paths"] == []


@pytest.mark.parametrize(
    ("before", "spec", "changed", "content", "mode"),
    [
        ("a\n", {"content": "a\n", "mode": "0644"}, False, "a\n", "0644"),
        ("a\n", {"content": "b\n", "mode": "0644"}, True, "b\n", "0644"),
        ("a\n", {"content": "a\n", "mode": "0600"}, True, "a\n", "0600"),
        ("a\n", {"content": "a\n"}, False, "a\n", "0644"),
        (
            "a\n",
            {"content": "a\n", "mode": 0o644, "owner": USER, "group": GROUP},
            False,
            "a\n",
            "0644",
        ),
    ],
    ids=["same", "content", "mode-only", "mode-not-given", "mode-as-int-same"],
)
def test_a_file_is_changed_only_where_it_differs(
    tmp_path, host, before, spec, changed, content, mode
):
    path = tmp_path / "a.conf"
    path.write_text(before)
    os.chmod(path, 0o644)
    inode = os.stat(path).st_ino
    ok, result = run(files=[dict(spec, path=str(path))])
    assert ok, result
    assert result["changed"] is changed
    assert path.read_text() == content
    assert mode_of(path) == mode
    if content == before:
        # Attributes change in place; the file is not written again.
        assert os.stat(path).st_ino == inode


def test_rewriting_a_file_keeps_the_mode_it_had_when_none_is_given(tmp_path, host):
    path = tmp_path / "secret.key"
    path.write_text("old")
    os.chmod(path, 0o600)
    ok, result = run(secret_files=[{"path": str(path), "content": "new"}])
    assert ok, result
    assert path.read_text() == "new"
    assert mode_of(path) == "0600"


def test_files_with_a_check_are_written_after_the_others_they_read(tmp_path, host):
    ca, conf, drop_in = tmp_path / "ca.pem", tmp_path / "nginx.conf", tmp_path / "extra.conf"
    seen = {}

    def nginx_t(new_file):
        # The check reads the CA and the drop-in written in the same call.
        seen["ca"], seen["drop_in"] = ca.read_text(), drop_in.read_text()
        seen["new"] = Path(new_file).read_text()
        return 0

    host.validators["nginx"] = nginx_t
    ok, result = run(
        files=[
            {"path": str(conf), "content": "events {}\n", "validate": "nginx -t -q -c %s"},
            {"path": str(drop_in), "content": "include x;\n"},
        ],
        secret_files=[{"path": str(ca), "content": "CA\n"}],
    )
    assert ok, result
    assert seen == {"ca": "CA\n", "drop_in": "include x;\n", "new": "events {}\n"}
    assert result["changed_paths"] == [str(drop_in), str(ca), str(conf)]
    assert conf.read_text() == "events {}\n"


def test_a_file_that_fails_its_check_leaves_the_live_one_and_nothing_beside_it(tmp_path, host):
    conf = tmp_path / "haproxy.cfg"
    conf.write_text("live\n")
    host.validators["haproxy"] = lambda new_file: 1
    ok, result = run(
        files=[
            {"path": str(tmp_path / "other.cfg"), "content": "x\n"},
            {"path": str(conf), "content": "broken\n", "validate": "haproxy -c -f %s"},
        ],
        services=[{"name": "haproxy.service", "reload_on": [str(tmp_path)]}],
        after=[{"argv": ["touch", "after"]}],
    )
    assert not ok
    assert "did not pass its check" in result["msg"]
    assert "bad config" in result["msg"]
    assert conf.read_text() == "live\n"
    assert sorted(os.listdir(tmp_path)) == ["haproxy.cfg", "other.cfg"]
    # What was written before the check is reported; nothing after it ran.
    assert result["changed_paths"] == [str(tmp_path / "other.cfg")]
    # The check ran once, on a new file beside the live one; no reload, no after command.
    [check] = ran(host)
    assert check[:3] == ["haproxy", "-c", "-f"]
    assert os.path.dirname(check[3]) == str(tmp_path)
    assert os.path.basename(check[3]).startswith(".haproxy.cfg.")


def test_check_mode_reports_every_change_and_makes_none(tmp_path, host):
    host.active, host.enabled = {"nginx.service", "old.service"}, {"nginx.service", "old.service"}
    host.validators["nginx"] = lambda new_file: 1
    conf, stale, link = tmp_path / "nginx.conf", tmp_path / "stale", tmp_path / "current"
    conf.write_text("old\n")
    stale.write_text("x")
    ok, result = run(
        _ansible_check_mode=True,
        _ansible_diff=True,
        directories=[{"path": str(tmp_path / "new-dir")}],
        files=[{"path": str(conf), "content": "new\n", "validate": "nginx -t -c %s"}],
        links=[{"path": str(link), "src": "releases/2"}],
        absent=[str(stale)],
        prepare=[{"argv": ["make-key"], "creates": str(tmp_path / "key.pem")}],
        after=[{"argv": ["supervisorctl", "update"], "when_changed": [str(conf)]}],
        services=[
            {"name": "old.service", "state": "stopped", "enabled": False},
            {"name": "nginx.service", "state": "started", "reload_on": [str(tmp_path)]},
        ],
    )
    assert ok, result
    assert result["changed"]
    assert result["changed_paths"] == [
        str(tmp_path / "new-dir"),
        str(link),
        str(conf),
        str(stale),
    ]
    assert result["services"] == {"old.service": ["disable", "stop"], "nginx.service": ["reload"]}
    assert result["commands"] == [["make-key"], ["supervisorctl", "update"]]
    assert result["diff"] == [
        {"before_header": str(conf), "after_header": str(conf), "before": "old\n", "after": "new\n"}
    ]
    # Nothing ran but reads (the failing check neither), nothing changed on disk.
    assert ran(host) == []
    assert sorted(os.listdir(tmp_path)) == ["nginx.conf", "stale"]
    assert conf.read_text() == "old\n"


@pytest.mark.parametrize(
    ("service", "active", "enabled", "written", "actions"),
    [
        (
            {"state": "started", "enabled": True, "reload_on": ["conf"]},
            True,
            True,
            ["conf/a"],
            ["reload"],
        ),
        (
            {"state": "started", "reload_on": ["conf"], "restart_on": ["conf/a"]},
            True,
            True,
            ["conf/a"],
            ["restart"],
        ),
        ({"state": "started", "reload_on": ["conf"]}, True, True, ["other/b"], None),
        (
            {"state": "started", "enabled": True, "reload_on": ["conf"]},
            False,
            False,
            ["conf/a"],
            ["enable", "start"],
        ),
        ({"reload_on": ["conf"]}, False, True, ["conf/a"], None),
        ({"state": "started", "restart_on": ["conf/a"]}, True, True, [], None),
    ],
    ids=[
        "reload",
        "restart-over-reload",
        "unrelated-file",
        "start-not-reload",
        "not-running",
        "nothing-written",
    ],
)
def test_services_react_to_the_files_that_changed(
    tmp_path, host, service, active, enabled, written, actions
):
    name = "router.service"
    host.active = {name} if active else set()
    host.enabled = {name} if enabled else set()
    spec = dict(service, name=name)
    for key in ("reload_on", "restart_on"):
        spec[key] = [str(tmp_path / item) for item in spec.get(key, [])]
    files = [{"path": str(tmp_path / item), "content": "x"} for item in written]
    ok, result = run(files=files, services=[spec])
    assert ok, result
    assert result["services"] == ({name: actions} if actions else {})
    # A service about to start or restart first forgets failed starts of the package's own (its
    # start limit), even when active: between failures, a unit that restarts is active.
    starts = bool({"start", "restart"} & set(actions or []))
    forget = [["systemctl", "reset-failed", name]] if starts else []
    assert ran(host, ["systemctl"]) == forget + [
        ["systemctl", action, name] for action in actions or []
    ]


def test_a_service_to_stop_stops_before_its_files_go(tmp_path, host):
    unit = tmp_path / "old-router.conf"
    unit.write_text("how to stop it")
    host.active = {"old.service"}
    present = []
    host.failing = {}
    original = host.answer

    def answer(argv):
        if argv[:2] == ["systemctl", "stop"]:
            present.append(unit.exists())
        return original(argv)

    host.commands.answer = answer
    ok, result = run(absent=[str(unit)], services=[{"name": "old.service", "state": "stopped"}])
    assert ok, result
    assert present == [True]
    assert not unit.exists()
    assert result["services"] == {"old.service": ["stop"]}


def test_prerequisites_installed_before_the_call_reload_the_services_on_them(tmp_path, host):
    host.active = {"nginx.service"}
    service = {"name": "nginx.service", "reload_on": ["users"], "restart_on": ["packages"]}
    result = run(services=[service], prerequisites_changed=["users"])[1]
    assert result["services"] == {"nginx.service": ["reload"]}
    result = run(services=[service], prerequisites_changed=["users", "packages"])[1]
    assert result["services"] == {"nginx.service": ["restart"]}
    result = run(services=[service])[1]
    assert result["services"] == {}
    assert not result["changed"]


@pytest.fixture
def units(tmp_path, monkeypatch):
    """A folder that stands for /etc/systemd/system."""
    folder = tmp_path / "systemd" / "system"
    monkeypatch.setattr(host_config_utils, "SYSTEMD_PATHS", (str(folder) + "/",))
    return folder


def test_systemd_reads_its_units_again_before_the_services_only_when_one_changed(
    tmp_path, host, units
):
    host.active = {"echo.service"}
    service = {"name": "echo.service", "restart_on": [str(units), str(tmp_path / "a.conf")]}
    ok, result = run(files=[{"path": str(tmp_path / "a.conf"), "content": "x"}], services=[service])
    assert ok, result
    restart = [
        ["systemctl", "reset-failed", "echo.service"],
        ["systemctl", "restart", "echo.service"],
    ]
    assert ran(host) == restart
    host.commands.calls.clear()
    unit = {"path": str(units / "echo.service.d" / "limits.conf"), "content": "[Service]\n"}
    ok, result = run(files=[unit], services=[service])
    assert ok, result
    assert ran(host) == [["systemctl", "daemon-reload"], *restart]


def test_check_mode_does_not_reload_systemd(tmp_path, host, units):
    unit = {"path": str(units / "echo.service"), "content": "[Unit]\n"}
    ok, result = run(files=[unit], _ansible_check_mode=True)
    assert ok, result
    assert result["changed_paths"] == [unit["path"]]
    assert ran(host) == []


@pytest.mark.parametrize(
    ("when_changed", "creates_exists", "runs"),
    [
        (None, False, True),
        (["conf"], False, True),
        (["conf/a.conf"], False, True),
        (["other"], False, False),
        (None, True, False),
    ],
    ids=["always", "folder-changed", "file-changed", "other-path", "creates-exists"],
)
def test_after_commands_run_when_their_condition_holds(
    tmp_path, host, when_changed, creates_exists, runs
):
    created = tmp_path / "made"
    if creates_exists:
        created.write_text("")
    command = {"argv": ["supervisorctl", "update"]}
    if when_changed:
        command["when_changed"] = [str(tmp_path / item) for item in when_changed]
    else:
        command["creates"] = str(created)
    ok, result = run(
        files=[{"path": str(tmp_path / "conf" / "a.conf"), "content": "x"}], after=[command]
    )
    assert ok, result
    assert ran(host) == ([["supervisorctl", "update"]] if runs else [])
    assert result["commands"] == ([["supervisorctl", "update"]] if runs else [])


def test_prepare_commands_run_before_files_and_are_tried_again(tmp_path, host):
    key = tmp_path / "key.pem"
    tries = []

    def answer(argv):
        if argv[0] == "make-key":
            tries.append(argv)
            if len(tries) < 3:
                return 1, "", "not yet"
            key.write_text("KEY")
        if argv[0] == "check-cert":
            # The file's check reads the key the prepare command made.
            return (0 if key.exists() else 1), "", ""
        return 0, "", ""

    host.commands.answer = answer
    prepare = {"argv": ["make-key"], "creates": str(key), "retries": 2, "delay": 0.1}
    cert = {"path": str(tmp_path / "cert.pem"), "content": "C", "validate": "check-cert %s"}
    ok, result = run(prepare=[prepare], files=[cert])
    assert ok, result
    assert len(tries) == 3
    assert result["commands"] == [["make-key"]]
    ok, result = run(prepare=[prepare], files=[cert])
    assert ok, result
    assert result["commands"] == []
    assert len(tries) == 3, "creates exists: it does not run again"


def test_a_command_that_fails_every_try_fails_naming_it(tmp_path, host):
    host.commands.answer = lambda argv: (1, "", "connection refused")
    ok, result = run(
        files=[{"path": str(tmp_path / "a"), "content": "x"}],
        after=[{"argv": ["client", "reload"], "retries": 1}],
    )
    assert not ok
    assert result["msg"] == "an after command failed: connection refused"
    assert result["changed_paths"] == [str(tmp_path / "a")]
    assert host.commands.calls.count(["client", "reload"]) == 2


def test_links_not_links_and_absent_paths(tmp_path, host):
    (tmp_path / "cert.pem").symlink_to("/etc/ssl/snakeoil.pem")
    (tmp_path / "key.pem").write_text("a file of its own")
    (tmp_path / "old-dir" / "sub").mkdir(parents=True)
    (tmp_path / "old-file").write_text("x")
    (tmp_path / "current").symlink_to("releases/1")
    (tmp_path / "same").symlink_to("releases/1")
    (tmp_path / "was-a-dir").mkdir()
    ok, result = run(
        not_links=[str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"), str(tmp_path / "none")],
        links=[
            {"path": str(tmp_path / "current"), "src": "releases/2"},
            {"path": str(tmp_path / "same"), "src": "releases/1"},
            {"path": str(tmp_path / "was-a-dir"), "src": "releases/2"},
        ],
        absent=[str(tmp_path / "old-dir"), str(tmp_path / "old-file"), str(tmp_path / "never")],
    )
    assert ok, result
    assert result["changed_paths"] == [
        str(tmp_path / "cert.pem"),
        str(tmp_path / "current"),
        str(tmp_path / "was-a-dir"),
        str(tmp_path / "old-dir"),
        str(tmp_path / "old-file"),
    ]
    assert sorted(os.listdir(tmp_path)) == ["current", "key.pem", "same", "was-a-dir"]
    assert os.readlink(tmp_path / "current") == "releases/2"
    assert os.readlink(tmp_path / "was-a-dir") == "releases/2"


def test_missing_required_paths_fail_before_anything_changes(tmp_path, host):
    (tmp_path / "cert.pem").write_text("C")
    host.active = {"old.service"}
    ok, result = run(
        requires=[str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")],
        files=[{"path": str(tmp_path / "a"), "content": "x"}],
        services=[{"name": "old.service", "state": "stopped"}],
    )
    assert not ok
    assert result["missing"] == [str(tmp_path / "key.pem")]
    assert "key.pem" in result["msg"]
    assert not (tmp_path / "a").exists()
    assert ran(host) == []


def test_a_file_given_by_an_unrendered_template_fails_before_anything_changes(tmp_path, host):
    # Templates are rendered by the action plugin: the module never renders one itself.
    ok, result = run(
        files=[
            {"path": str(tmp_path / "a"), "content": "x"},
            {"path": str(tmp_path / "b"), "template": "b.j2"},
        ]
    )
    assert not ok
    assert str(tmp_path / "b") in result["msg"]
    assert not (tmp_path / "a").exists()
    assert ran(host) == []


def test_missing_prerequisites_are_reported_and_nothing_else_is_done(tmp_path, host):
    host.installed = {"nginx"}
    ok, result = run(
        packages=["nginx", "ssl-cert"],
        absent_packages=["haproxy", "nginx-extras"],
        groups=[{"name": GROUP}, {"name": "wsfleet-no-such-group"}],
        users=[{"name": USER}, {"name": "wsfleet-no-such-user", "group": GROUP}],
        files=[{"path": str(tmp_path / "a"), "content": "x"}],
    )
    assert ok, result
    assert not result["changed"]
    assert result["needs"] == {
        "packages": ["ssl-cert"],
        "absent_packages": [],
        "groups": [{"name": "wsfleet-no-such-group", "system": True}],
        "users": [
            {
                "name": "wsfleet-no-such-user",
                "group": GROUP,
                "groups": None,
                "system": True,
                "home": None,
                "shell": None,
            }
        ],
    }
    assert not (tmp_path / "a").exists()
    assert ran(host) == []


def test_a_package_to_purge_is_a_need(tmp_path, host):
    host.installed = {"haproxy", "nginx"}
    result = run(packages=["nginx"], absent_packages=["haproxy"])[1]
    assert result["needs"]["absent_packages"] == ["haproxy"]
    assert result["needs"]["packages"] == []


def test_check_mode_on_a_host_without_the_prerequisites_compares_files_as_new(tmp_path, host):
    ok, result = run(
        _ansible_check_mode=True,
        packages=["nginx"],
        files=[{"path": str(tmp_path / "a"), "content": "x", "owner": "wsfleet-to-come"}],
    )
    assert ok, result
    assert result["changed"]
    assert result["needs"]["packages"] == ["nginx"]
    assert result["changed_paths"] == [str(tmp_path / "a")]
    assert not (tmp_path / "a").exists()


def test_an_owner_that_does_not_exist_fails(tmp_path, host):
    ok, result = run(
        files=[{"path": str(tmp_path / "a"), "content": "x", "owner": "wsfleet-nobody"}]
    )
    assert not ok
    assert "no such user or group" in result["msg"]
    assert not (tmp_path / "a").exists()


def test_secret_content_stays_out_of_the_diff(tmp_path, host):
    ok, result = run(
        _ansible_diff=True,
        files=[{"path": str(tmp_path / "public"), "content": "p\n"}],
        secret_files=[{"path": str(tmp_path / "secret"), "content": "s3cr3t\n"}],
    )
    assert ok, result
    assert [entry["after_header"] for entry in result["diff"]] == [str(tmp_path / "public")]
    assert "s3cr3t" not in repr(result)
    assert (tmp_path / "secret").read_text() == "s3cr3t\n"
