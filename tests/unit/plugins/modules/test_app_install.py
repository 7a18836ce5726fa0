"""app_install into real release folders from a real archive of wheels; the venv, pip and
dpkg are stand-ins."""

import io
import json
import os
import tarfile

import pytest
from ansible_collections.wsfleet.deploy.plugins.modules import app_install
from module_runner import Commands, run_module

RELEASE = "1.1.0-abc123"


def make_archive(path, members=None):
    """A tar archive of these {name: bytes} (default: two wheels)."""
    members = members or {
        "echo-1.1.0-py3-none-any.whl": b"echo",
        "websockets-13.1-cp311-cp311-manylinux.whl": b"ws",
    }
    with tarfile.open(path, "w") as archive:
        for name, data in members.items():
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            archive.addfile(entry, io.BytesIO(data))
    return str(path)


class Host:
    """python -m venv makes the venv's folder; pip installs, or fails with its error."""

    def __init__(self):
        self.installed = {"python3-venv"}
        self.pip = (0, "Successfully installed echo-1.1.0", "")
        self.wheels_at_pip = None

    def answer(self, argv):
        if argv[0] == "dpkg-query":
            out = "".join(
                f"{name} install ok installed\n" for name in argv[4:] if name in self.installed
            )
            return 0, out, ""
        if argv[1:3] == ["-m", "venv"]:
            os.makedirs(os.path.join(argv[3], "bin"))
            return 0, "", ""
        if argv[0].endswith("/venv/bin/pip"):
            folder = argv[argv.index("--find-links") + 1]
            self.wheels_at_pip = sorted(os.listdir(folder))
            return self.pip
        raise AssertionError(f"unexpected command {argv}")


@pytest.fixture
def host(monkeypatch):
    fake = Host()
    fake.commands = Commands(fake.answer).install(monkeypatch)
    return fake


def run(tmp_path, **changes):
    args = dict(
        base_dir=str(tmp_path / "srv" / "echo"),
        release=RELEASE,
        archive=make_archive(tmp_path / "wheels.tar"),
        package="echo",
        version="1.1.0",
        min_free_space_mb=0,
    )
    args.update(changes)
    return run_module(app_install.main, **args)


def release_dir(tmp_path, release=RELEASE):
    return tmp_path / "srv" / "echo" / "releases" / release


def steps(host):
    return [
        argv[0] if argv[0] == "dpkg-query" else os.path.basename(argv[0])
        for argv in host.commands.calls
    ]


def test_a_release_is_installed_from_its_wheels_and_recorded_last(tmp_path, host):
    ok, result = run(tmp_path, record={"wheels": {"echo": "sha256:1"}}, python="/opt/python3.11")
    assert ok, result
    assert result["changed"] and result["installed"]
    assert result["free_space_mb"] > 0
    path = release_dir(tmp_path)
    assert sorted(os.listdir(path)) == ["release.env", "release.json", "venv", "wheels"]
    assert (path / "release.env").read_text() == f"WSFLEET_RELEASE={RELEASE}\n"
    record = json.loads((path / "release.json").read_text())
    assert {key: record[key] for key in ("id", "package", "version", "wheels")} == {
        "id": RELEASE,
        "package": "echo",
        "version": "1.1.0",
        "wheels": {"echo": "sha256:1"},
    }
    assert record["installed_at"].endswith("Z")
    venv, pip = host.commands.calls
    assert venv == ["/opt/python3.11", "-m", "venv", str(path / "venv")]
    assert pip == [
        str(path / "venv" / "bin" / "pip"),
        "install",
        "--no-index",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--find-links",
        str(path / "wheels"),
        "echo==1.1.0",
    ]
    assert host.wheels_at_pip == [
        "echo-1.1.0-py3-none-any.whl",
        "websockets-13.1-cp311-cp311-manylinux.whl",
    ]
    assert oct(os.stat(path / "wheels" / "echo-1.1.0-py3-none-any.whl").st_mode & 0o777) == "0o644"


@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check-mode"])
def test_an_installed_release_is_left_alone(tmp_path, host, check_mode):
    path = release_dir(tmp_path)
    path.mkdir(parents=True)
    (path / "release.json").write_text(json.dumps({"id": RELEASE, "installed_at": "x"}))
    # Neither the free space nor the packages matter any more.
    ok, result = run(
        tmp_path,
        min_free_space_mb=10**12,
        packages=["python3-missing"],
        _ansible_check_mode=check_mode,
    )
    assert ok, result
    assert (result["changed"], result["installed"]) == (False, False)
    assert host.commands.calls == []
    assert os.listdir(path) == ["release.json"]


def test_an_interrupted_install_is_done_again_from_scratch(tmp_path, host):
    path = release_dir(tmp_path)
    (path / "venv" / "lib").mkdir(parents=True)
    (path / "venv" / "lib" / "half-written.py").write_text("")
    ok, result = run(tmp_path)
    assert ok, result
    assert result["installed"]
    assert not (path / "venv" / "lib").exists()
    assert (path / "release.json").exists()


def test_too_little_free_space_fails_before_anything_changes(tmp_path, host):
    ok, result = run(tmp_path, min_free_space_mb=10**12, packages=["python3-venv"])
    assert not ok
    assert "wsfleet_app_min_free_space_mb" in result["msg"]
    assert f"({10**12} MB)" in result["msg"]
    assert isinstance(result["free_space_mb"], int)
    assert host.commands.calls == []
    assert not (tmp_path / "srv").exists()


def test_free_space_is_read_on_the_nearest_folder_that_exists(tmp_path):
    status = os.statvfs(tmp_path)
    expected = status.f_bavail * status.f_frsize // (1024 * 1024)
    assert (
        abs(app_install.free_space_mb(str(tmp_path / "srv" / "echo" / "releases")) - expected) <= 1
    )


@pytest.mark.parametrize(
    ("check_mode", "changed", "installed", "needs"),
    [(False, False, False, {"packages": ["python3-venv"]}), (True, True, True, None)],
    ids=["reported-for-the-action", "check-mode-would-install"],
)
def test_missing_packages(tmp_path, host, check_mode, changed, installed, needs):
    host.installed = set()
    ok, result = run(tmp_path, packages=["python3-venv"], _ansible_check_mode=check_mode)
    assert ok, result
    assert (result["changed"], result["installed"], result.get("needs")) == (
        changed,
        installed,
        needs,
    )
    assert steps(host) == ["dpkg-query"]
    assert not (tmp_path / "srv").exists()


def test_check_mode_would_install_and_writes_nothing(tmp_path, host):
    ok, result = run(tmp_path, archive=None, _ansible_check_mode=True)
    assert ok, result
    assert (result["changed"], result["installed"]) == (True, True)
    assert host.commands.calls == []
    assert not (tmp_path / "srv").exists()


def test_a_failed_pip_leaves_nothing_behind(tmp_path, host):
    host.pip = (
        1,
        "",
        "Looking in links: ...\nERROR: No matching distribution found for echo==1.1.0\n",
    )
    ok, result = run(tmp_path)
    assert not ok
    assert result["msg"].endswith("ERROR: No matching distribution found for echo==1.1.0")
    assert "nothing was switched" in result["msg"]
    assert os.listdir(tmp_path / "srv" / "echo" / "releases") == []


@pytest.mark.parametrize(
    "members",
    [
        {"../evil.whl": b"x"},
        {"sub/echo.whl": b"x"},
        {".hidden.whl": b"x"},
        {"ok.whl": b"x", "/etc/cron.d/evil": b"x"},
    ],
    ids=["parent", "subfolder", "hidden", "absolute"],
)
def test_an_archive_with_unexpected_entries_installs_nothing(tmp_path, host, members):
    ok, result = run(tmp_path, archive=make_archive(tmp_path / "bad.tar", members))
    assert not ok
    assert "unexpected entry" in result["msg"]
    assert os.listdir(tmp_path / "srv" / "echo" / "releases") == []
    assert not (tmp_path / "evil.whl").exists()
    assert host.commands.calls == []


def test_an_archive_with_a_link_installs_nothing(tmp_path, host):
    path = tmp_path / "link.tar"
    with tarfile.open(path, "w") as archive:
        entry = tarfile.TarInfo("echo.whl")
        entry.type, entry.linkname = tarfile.SYMTYPE, "/etc/shadow"
        archive.addfile(entry)
    ok, result = run(tmp_path, archive=str(path))
    assert not ok
    assert "unexpected entry 'echo.whl'" in result["msg"]
    assert os.listdir(tmp_path / "srv" / "echo" / "releases") == []


def test_an_archive_that_is_not_one_installs_nothing(tmp_path, host):
    (tmp_path / "junk.tar").write_bytes(b"not a tar archive at all" * 40)
    ok, result = run(tmp_path, archive=str(tmp_path / "junk.tar"))
    assert not ok
    assert "installing release" in result["msg"]
    assert os.listdir(tmp_path / "srv" / "echo" / "releases") == []


def test_without_an_archive_nothing_is_installed(tmp_path, host):
    ok, result = run(tmp_path, archive=None)
    assert not ok
    assert "archive is required" in result["msg"]
    assert not (tmp_path / "srv").exists()


@pytest.mark.parametrize(
    "release", ["../etc", ".hidden", "a/b", ""], ids=["parent", "hidden", "slash", "empty"]
)
def test_the_release_must_be_a_plain_id(tmp_path, host, release):
    ok, result = run(tmp_path, release=release)
    assert not ok
    assert "release must be a release id" in result["msg"]
    assert not (tmp_path / "srv").exists()
