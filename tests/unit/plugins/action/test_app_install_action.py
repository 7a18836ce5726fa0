"""The app_install action plugin: the wheels of a controller folder go to the host as one flat
archive, the module installs from it, and the archives on both sides are removed."""

import posixpath
import tarfile
from unittest import mock

import pytest
from ansible.errors import AnsibleActionFail
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible_collections.wsfleet.deploy.plugins.action.app_install import (
    ActionModule,
    pack_wheels,
)

MODULE = "wsfleet.deploy.app_install"
REMOTE_TMP = "/root/.ansible/tmp/ansible-tmp-1-2"
WHEELS = ["echo-1.1.0-py3-none-any.whl", "websockets-13.1-cp311-cp311-manylinux.whl"]


@pytest.fixture
def wheelhouse(tmp_path):
    folder = tmp_path / "wheelhouse"
    folder.mkdir()
    for name in reversed(WHEELS):
        (folder / name).write_bytes(name.encode())
    (folder / "build.log").write_text("not a wheel")
    (folder / "nested").mkdir()
    (folder / "nested" / "other-1.0-py3-none-any.whl").write_text("not here")
    return folder


def members(archive_path):
    with tarfile.open(archive_path) as archive:
        return [(entry.name, entry.isfile()) for entry in archive.getmembers()]


def test_the_archive_holds_the_folders_wheels_flat_and_sorted(wheelhouse, tmp_path):
    pack_wheels(str(wheelhouse), str(tmp_path / "wheels.tar"))
    assert members(tmp_path / "wheels.tar") == [(name, True) for name in WHEELS]
    with tarfile.open(tmp_path / "wheels.tar") as archive:
        assert archive.extractfile(WHEELS[0]).read() == WHEELS[0].encode()


class Host:
    """The plugin's ways to the host: what it transferred (the archive's entries, read as it
    went), the module calls, the temporary folders made and removed."""

    def __init__(self, results):
        self.results, self.calls = list(results), []
        self.transferred, self.made, self.removed = [], [], []
        self.connection = mock.MagicMock()
        self.connection._shell.tmpdir = None
        self.connection._shell.join_path.side_effect = posixpath.join

    def execute_module(self, module_name, module_args=None, task_vars=None):
        self.calls.append((module_name, dict(module_args)))
        if module_name != MODULE:
            return {"changed": True}
        return dict(self.results.pop(0))

    def make_tmp_path(self, *args):
        self.made.append(REMOTE_TMP)
        self.connection._shell.tmpdir = REMOTE_TMP
        return REMOTE_TMP

    def transfer_file(self, local, remote):
        self.transferred.append((local, remote, members(local)))

    def remove_tmp_path(self, path, force=False):
        self.removed.append(path)


def run_action(host, args, check_mode=False):
    task = Task()
    task.action, task.args = MODULE, dict(args)
    context = PlayContext()
    context.check_mode = check_mode
    action = ActionModule(
        task, host.connection, context, loader=None, templar=None, shared_loader_obj=None
    )
    with (
        mock.patch.object(ActionModule, "_execute_module", side_effect=host.execute_module),
        mock.patch.object(ActionModule, "_make_tmp_path", side_effect=host.make_tmp_path),
        mock.patch.object(ActionModule, "_transfer_file", side_effect=host.transfer_file),
        mock.patch.object(ActionModule, "_fixup_perms2"),
        mock.patch.object(ActionModule, "_remove_tmp_path", side_effect=host.remove_tmp_path),
    ):
        return action.run(task_vars={"inventory_hostname": "app1"})


def arguments(wheelhouse):
    return {"base_dir": "/srv/echo", "release": "1.1.0-abc", "wheelhouse": str(wheelhouse)}


def test_the_wheels_go_over_as_one_archive_and_both_copies_are_removed(wheelhouse):
    host = Host([{"changed": True, "installed": True, "free_space_mb": 900}])
    result = run_action(host, arguments(wheelhouse))
    assert result["changed"] and result["installed"]
    [(local, remote, entries)] = host.transferred
    assert remote == f"{REMOTE_TMP}/wheels.tar"
    assert entries == [(name, True) for name in WHEELS]
    assert host.calls == [
        (MODULE, {"base_dir": "/srv/echo", "release": "1.1.0-abc", "archive": remote})
    ]
    assert not posixpath.exists(local)
    assert host.removed == [REMOTE_TMP]


def test_missing_packages_are_installed_and_the_module_runs_again(wheelhouse):
    host = Host(
        [
            {"changed": False, "installed": False, "needs": {"packages": ["python3-venv"]}},
            {"changed": False, "installed": True},
        ]
    )
    result = run_action(host, arguments(wheelhouse))
    assert [name for name, _args in host.calls] == [MODULE, "ansible.builtin.apt", MODULE]
    assert host.calls[1][1]["name"] == ["python3-venv"]
    assert host.calls[0][1] == host.calls[2][1]
    assert len(host.transferred) == 1
    assert result["changed"] is True
    assert result["installed"] is True
    assert "needs" not in result


def test_a_failed_install_is_reported_and_cleaned_up(wheelhouse):
    failed = {"failed": True, "msg": "installing release 1.1.0-abc failed", "needs": {}}
    host = Host([failed])
    result = run_action(host, arguments(wheelhouse))
    assert result["failed"] and result["msg"] == failed["msg"]
    assert [name for name, _args in host.calls] == [MODULE]
    assert not posixpath.exists(host.transferred[0][0])
    assert host.removed == [REMOTE_TMP]


def test_an_error_on_the_way_still_removes_both_archives(wheelhouse):
    host = Host([])

    def unreachable(local, remote):
        host.transferred.append((local, remote, []))
        raise OSError("connection lost")

    host.transfer_file = unreachable
    with pytest.raises(OSError, match="connection lost"):
        run_action(host, arguments(wheelhouse))
    assert not posixpath.exists(host.transferred[0][0])
    assert host.removed == [REMOTE_TMP]
    assert host.calls == []


def test_check_mode_asks_the_module_and_carries_nothing(wheelhouse):
    host = Host([{"changed": True, "installed": True}])
    result = run_action(host, arguments(wheelhouse), check_mode=True)
    assert result["changed"]
    assert host.calls == [(MODULE, {"base_dir": "/srv/echo", "release": "1.1.0-abc"})]
    assert host.transferred == []


@pytest.mark.parametrize(
    "where", [None, "missing", "a-file"], ids=["not-given", "missing", "a-file"]
)
def test_the_wheelhouse_must_be_a_folder_on_the_controller(tmp_path, where):
    args = {"base_dir": "/srv/echo", "release": "1.1.0-abc"}
    if where:
        (tmp_path / "a-file").write_text("x")
        args["wheelhouse"] = str(tmp_path / where)
    host = Host([])
    with pytest.raises(AnsibleActionFail, match="wheelhouse must be a folder of wheels"):
        run_action(host, args)
    assert host.calls == []
    assert host.transferred == []
