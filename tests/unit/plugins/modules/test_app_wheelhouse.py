# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""app_wheelhouse with real pip, git and files: the example app from a path, git and an index.

The path build downloads websockets from pip's configured index (PyPI); the requirement
tests then serve exactly those wheels from a local PEP 503 index on 127.0.0.1, with pip's
configuration turned off, so they can only succeed from that index.
"""

import functools
import hashlib
import html
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from ansible_collections.wsfleet.deploy.plugins.modules import app_wheelhouse
from module_runner import run_module

ECHO_APP = Path(__file__).resolve().parents[4] / "examples" / "echo_app"

TARGETS = [
    {"python_version": "3.11", "machine": "x86_64", "glibc_version": "2.36"},
    {"python_version": "3.13", "machine": "x86_64", "glibc_version": "2.36"},
]
CP311, CP313 = "cp311-x86_64-glibc2.36", "cp313-x86_64-glibc2.36"
APP_WHEEL = "wsfleet_echo-1.0.0-py3-none-any.whl"
# Extra pip arguments, as the role passes its wsfleet_app_pip_args.
PIP_ARGS = ["--progress-bar", "off"]
EDIT = "\n# Changed by test_app_wheelhouse.\n"


def run_wheelhouse(**args):
    return run_module(app_wheelhouse.main, **args)


def build(**args):
    ok, result = run_wheelhouse(**{"targets": TARGETS, "pip_args": PIP_ARGS, **args})
    assert ok, result
    return result


def build_fails(**args):
    ok, result = run_wheelhouse(**{"targets": TARGETS, **args})
    assert not ok, result
    return result


def copy_app(dest):
    shutil.copytree(
        ECHO_APP,
        dest,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "dist", "build", "*.egg-info"),
    )
    return dest


def git(repo, *args):
    identity = ["-c", "user.name=t", "-c", "user.email=t@t"]
    no_signing = ["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"]
    return subprocess.run(
        ["git", "-C", str(repo), *identity, *no_signing, *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def wheel_names(result, key):
    return sorted(name.split("/", 1)[1] for name in result["wheels"] if name.startswith(key + "/"))


def websockets_wheel(result, key):
    (name,) = [name for name in wheel_names(result, key) if name.startswith("websockets-")]
    return name


def read_from_wheel(result, member):
    path = os.path.join(result["wheelhouses"][CP311], APP_WHEEL)
    with zipfile.ZipFile(path) as wheel:
        return wheel.read(member).decode()


# Shared builds


@pytest.fixture(scope="session")
def app_source(tmp_path_factory):
    """A copy of the example app, so that builds leave the checkout alone."""
    return copy_app(tmp_path_factory.mktemp("source") / "echo_app")


@pytest.fixture(scope="session")
def path_build(app_source, tmp_path_factory):
    dest = tmp_path_factory.mktemp("path-build")
    return build(source=str(app_source), dest=str(dest))


@pytest.fixture(scope="session")
def git_repo(tmp_path_factory):
    """A repo with the app on main, annotated tag v1.0.0 on it, and branch next one edit ahead."""
    repo = copy_app(tmp_path_factory.mktemp("git") / "echo_app")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "wsfleet-echo 1.0.0")
    git(repo, "tag", "-a", "v1.0.0", "-m", "1.0.0")
    main = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "next")
    with open(repo / "src" / "wsfleet_echo" / "server.py", "a") as handle:
        handle.write(EDIT)
    git(repo, "commit", "-q", "-am", "an edit on next")
    following = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    return {"url": repo.as_uri(), "main": main, "next": following}


class IndexHandler(SimpleHTTPRequestHandler):
    requested = None

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.requested.append(self.path)
        super().do_GET()


def write_project_page(directory, wheels):
    directory.mkdir(parents=True)
    links = []
    for wheel in wheels:
        shutil.copy2(wheel, directory / wheel.name)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        links.append(f'<a href="{html.escape(wheel.name)}#sha256={digest}">{wheel.name}</a><br>')
    body = "\n".join(links)
    page = f"<!DOCTYPE html><html><body>\n{body}\n</body></html>\n"
    (directory / "index.html").write_text(page)


@pytest.fixture(scope="session")
def package_index(path_build, tmp_path_factory):
    """A PEP 503 index on 127.0.0.1 serving the app wheel and its dependencies' wheels that
    the path build downloaded (websockets, prometheus-client), each project on its page:
    {"url": base URL, "requested": paths pip asked for}."""
    root = tmp_path_factory.mktemp("index")
    wheels = {
        Path(path) / name
        for path in path_build["wheelhouses"].values()
        for name in os.listdir(path)
    }
    by_project = {}
    for wheel in wheels:
        # PEP 503 names: lower case, runs of "_" "-" "." as one "-".
        project = re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()
        by_project.setdefault(project, {})[wheel.name] = wheel
    for project, named in by_project.items():
        write_project_page(root / "simple" / project, sorted(named.values()))
    links = "".join(f'<a href="{project}/">{project}</a>' for project in sorted(by_project))
    (root / "simple" / "index.html").write_text(links + "\n")

    requested = []
    handler = type("Handler", (IndexHandler,), {"requested": requested})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_port}/simple/", "requested": requested}
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


@pytest.fixture
def only_the_local_index(monkeypatch):
    """Turn off pip's configured indexes, find-links and cert, and any proxy for 127.0.0.1."""
    for name in list(os.environ):
        if name.startswith("PIP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    for name in ("no_proxy", "NO_PROXY"):
        previous = os.environ.get(name)
        monkeypatch.setenv(name, ",".join(filter(None, [previous, "127.0.0.1", "localhost"])))


@pytest.fixture(scope="session")
def ca_bundle():
    """A real CA bundle that exists wherever pip does."""
    from pip._vendor import certifi

    return certifi.where()


# Path source


def test_path_source_builds_the_app_and_its_dependencies_per_target(path_build, app_source):
    assert path_build["changed"] is False
    assert path_build["package"] == "wsfleet_echo"
    assert path_build["version"] == "1.0.0"
    assert path_build["release_id"].startswith("1.0.0-")
    assert path_build["source"] == f"path:{app_source}"
    assert "git_commit" not in path_build
    assert sorted(path_build["wheelhouses"]) == [CP311, CP313]
    for key, directory in path_build["wheelhouses"].items():
        assert sorted(os.listdir(directory)) == wheel_names(path_build, key)
        assert APP_WHEEL in os.listdir(directory)
    # websockets has compiled speedups: one wheel per Python ABI.
    assert "-cp311-" in websockets_wheel(path_build, CP311)
    assert "-cp313-" in websockets_wheel(path_build, CP313)
    assert websockets_wheel(path_build, CP311) != websockets_wheel(path_build, CP313)
    assert (
        path_build["wheels"][f"{CP311}/{APP_WHEEL}"] == path_build["wheels"][f"{CP313}/{APP_WHEEL}"]
    )


def test_path_source_gives_the_same_release_id_on_a_second_run(path_build, app_source):
    dest = os.path.dirname(path_build["wheelhouses"][CP311])
    again = build(source=str(app_source), dest=dest)
    assert again["release_id"] == path_build["release_id"]
    assert again["wheels"] == path_build["wheels"]


def pip_must_not_run(module, args):
    raise AssertionError(f"pip ran for a build that is kept: {args}")


def test_a_kept_build_is_reused_without_pip(path_build, app_source, monkeypatch):
    dest = os.path.dirname(os.path.dirname(path_build["wheelhouses"][CP311]))
    monkeypatch.setattr(app_wheelhouse, "run_pip", pip_must_not_run)
    again = build(source=str(app_source), dest=dest)
    assert again["cached"] is True
    assert again["release_id"] == path_build["release_id"]
    assert again["wheels"] == path_build["wheels"]


def test_force_or_a_lost_wheel_builds_again(app_source, tmp_path):
    first = build(source=str(app_source), dest=str(tmp_path))
    forced = build(source=str(app_source), dest=str(tmp_path), force=True)
    assert (first["cached"], forced["cached"]) == (False, False)
    assert forced["release_id"] == first["release_id"]
    os.unlink(os.path.join(first["wheelhouses"][CP313], APP_WHEEL))
    rebuilt = build(source=str(app_source), dest=str(tmp_path))
    assert rebuilt["cached"] is False
    assert APP_WHEEL in os.listdir(rebuilt["wheelhouses"][CP313])


def test_path_source_gives_a_new_release_id_when_a_file_changes(path_build, tmp_path):
    source = copy_app(tmp_path / "echo_app")
    with open(source / "src" / "wsfleet_echo" / "server.py", "a") as handle:
        handle.write(EDIT)
    changed = build(source=str(source), dest=str(tmp_path / "build"))
    assert changed["release_id"] != path_build["release_id"]
    app_key = f"{CP311}/{APP_WHEEL}"
    assert changed["wheels"][app_key] != path_build["wheels"][app_key]
    websockets_key = f"{CP311}/{websockets_wheel(path_build, CP311)}"
    assert changed["wheels"][websockets_key] == path_build["wheels"][websockets_key]


# Git source


def test_git_source_at_a_tag_matches_the_path_source_of_the_same_tree(
    git_repo, path_build, tmp_path
):
    result = build(git_url=git_repo["url"], git_ref="v1.0.0", dest=str(tmp_path))
    assert result["git_commit"] == git_repo["main"]
    assert result["source"] == f"git:{git_repo['url']}@v1.0.0"
    assert result["package"] == "wsfleet_echo"
    assert result["release_id"] == path_build["release_id"]
    assert result["wheels"] == path_build["wheels"]


def test_git_source_at_a_branch_builds_that_branch(git_repo, path_build, tmp_path):
    result = build(git_url="git+" + git_repo["url"], git_ref="next", dest=str(tmp_path))
    assert result["git_commit"] == git_repo["next"]
    assert result["source"] == f"git:git+{git_repo['url']}@next"
    assert result["release_id"] != path_build["release_id"]
    assert read_from_wheel(result, "wsfleet_echo/server.py").endswith(EDIT)


def test_git_source_with_a_bad_ref_names_it(git_repo, tmp_path):
    result = build_fails(git_url=git_repo["url"], git_ref="no-such-ref", dest=str(tmp_path))
    assert "'no-such-ref'" in result["msg"]
    assert git_repo["url"] in result["msg"]


def test_git_source_needs_git_on_the_path(git_repo, tmp_path, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = build_fails(git_url=git_repo["url"], dest=str(tmp_path / "build"))
    assert "needs git on the controller's PATH" in result["msg"]


# Requirement source


@pytest.mark.usefixtures("only_the_local_index")
@pytest.mark.parametrize("requirement", ["wsfleet-echo==1.0.0", "wsfleet_echo>=1"])
def test_requirement_source_from_a_local_index(
    requirement, package_index, path_build, ca_bundle, tmp_path
):
    del package_index["requested"][:]
    result = build(
        requirement=requirement,
        index_url=package_index["url"],
        ca_bundle=ca_bundle,
        dest=str(tmp_path),
    )
    assert result["package"] == "wsfleet_echo"
    assert result["version"] == "1.0.0"
    assert result["source"] == f"pip:{requirement} from {package_index['url']}"
    assert "git_commit" not in result
    assert result["release_id"] == path_build["release_id"]
    assert result["wheels"] == path_build["wheels"]
    requested = set(package_index["requested"])
    assert "/simple/wsfleet-echo/" in requested
    assert "/simple/websockets/" in requested


@pytest.mark.usefixtures("only_the_local_index")
def test_requirement_source_in_check_mode_builds_too(package_index, path_build, tmp_path):
    result = build(
        requirement="wsfleet-echo==1.0.0",
        index_url=package_index["url"],
        dest=str(tmp_path),
        _ansible_check_mode=True,
    )
    assert result["changed"] is False
    assert result["release_id"] == path_build["release_id"]


@pytest.mark.usefixtures("only_the_local_index")
def test_requirement_source_that_the_index_lacks_fails(package_index, tmp_path):
    result = build_fails(
        requirement="wsfleet-echo==9.9.9",
        index_url=package_index["url"],
        dest=str(tmp_path),
        pip_args=PIP_ARGS,
    )
    assert result["msg"].startswith("pip failed:")
    assert f"--index-url {package_index['url']}" in result["msg"]
    assert "wsfleet-echo==9.9.9" in result["stderr"]


# Argument errors


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "one of the following is required: source, requirement, git_url"),
        ({"source": None}, "one of the following is required: source, requirement, git_url"),
        (
            {"source": str(ECHO_APP), "requirement": "wsfleet-echo==1.0.0"},
            "parameters are mutually exclusive: source|requirement|git_url",
        ),
        (
            {"requirement": "wsfleet-echo", "git_url": "https://h/app.git"},
            "parameters are mutually exclusive: source|requirement|git_url",
        ),
        ({"source": "/no/such/dir"}, "source /no/such/dir is not a directory"),
        ({"requirement": "wsfleet-echo[fast]"}, "extras"),
        ({"requirement": "./examples/echo_app"}, "not a project name"),
        ({"git_url": "git@github.com:ops/app.git"}, "scp-like"),
        ({"requirement": " "}, "requirement is empty"),
    ],
)
def test_argument_errors(args, message, tmp_path):
    result = build_fails(dest=str(tmp_path / "build"), **args)
    assert message in result["msg"]
    assert not (tmp_path / "build").exists()


def test_ca_bundle_that_does_not_exist(tmp_path):
    missing = tmp_path / "missing.pem"
    result = build_fails(
        requirement="wsfleet-echo==1.0.0", ca_bundle=str(missing), dest=str(tmp_path / "build")
    )
    assert result["msg"] == f"ca_bundle {missing} is not a readable file"
    assert not (tmp_path / "build").exists()


def test_ca_bundle_that_is_a_directory(tmp_path):
    result = build_fails(source=str(ECHO_APP), ca_bundle=str(tmp_path), dest=str(tmp_path / "b"))
    assert "is not a readable file" in result["msg"]


# Dependencies published only as sdists

# A real project on PyPI published only as an sdist, pure Python.
SDIST_ONLY = "docopt==0.6.2"
DOCOPT_WHEEL_PREFIX = "docopt-0.6.2-"

COMPILED_ONLY_SETUP = '''
from setuptools import Distribution, setup


class OnePlatform(Distribution):
    """Builds a wheel tagged for this platform, as a package with compiled code does."""

    def has_ext_modules(self):
        return True


setup(name="compiled-only", version="1.0", py_modules=["compiled_only"], distclass=OnePlatform)
'''


def app_depending_on(folder, *requirements):
    source = copy_app(folder / "echo_app")
    pyproject = source / "pyproject.toml"
    listed = "".join(f'"{requirement}", ' for requirement in requirements)
    pyproject.write_text(
        pyproject.read_text().replace("dependencies = [", f"dependencies = [{listed}", 1)
    )
    return source


def test_a_pure_python_sdist_only_dependency_is_built_once_for_every_target(tmp_path):
    result = build(source=str(app_depending_on(tmp_path, SDIST_ONLY)), dest=str(tmp_path / "b"))
    built = {
        key: [name for name in os.listdir(folder) if name.startswith(DOCOPT_WHEEL_PREFIX)]
        for key, folder in result["wheelhouses"].items()
    }
    # One pure wheel, the same in every target's wheelhouse, beside the binary ones.
    assert built[CP311] == built[CP313] == ["docopt-0.6.2-py2.py3-none-any.whl"]
    assert "-cp313-" in websockets_wheel(result, CP313)
    wheel = "docopt-0.6.2-py2.py3-none-any.whl"
    assert result["wheels"][f"{CP311}/{wheel}"] == result["wheels"][f"{CP313}/{wheel}"]
    # Nothing of the build is left beside the releases.
    assert sorted(name for name in os.listdir(tmp_path / "b") if name.startswith(".")) == [".cache"]


@pytest.mark.parametrize(
    "requirements",
    [["compiled-only==1.0"], [SDIST_ONLY, "compiled-only==1.0"]],
    ids=["alone", "after-a-pure-one"],
)
def test_an_sdist_only_dependency_that_builds_for_one_platform_is_refused_by_name(
    tmp_path, requirements
):
    project = tmp_path / "compiled-only"
    project.mkdir()
    (project / "setup.py").write_text(COMPILED_ONLY_SETUP)
    (project / "compiled_only.py").write_text("VALUE = 1\n")
    links = tmp_path / "links"
    subprocess.run(
        [sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(links)],
        cwd=project,
        check=True,
        capture_output=True,
    )
    result = build_fails(
        source=str(app_depending_on(tmp_path, *requirements)),
        dest=str(tmp_path / "b"),
        pip_args=[*PIP_ARGS, "--find-links", str(links)],
    )
    assert result["msg"].startswith(
        f"compiled-only has no wheel for {CP311} on the index, and its sdist builds a wheel for "
        "one platform only"
    )
    assert "compiled_only-1.0-cp3" in result["msg"] and "linux_x86_64.whl" in result["msg"]
    assert "--find-links" in result["msg"]


def test_a_failure_that_is_not_a_missing_wheel_is_pips_own(tmp_path, monkeypatch):
    # An index that cannot be reached: no build on the controller, pip's own error.
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    result = build_fails(
        source=str(copy_app(tmp_path / "echo_app")),
        dest=str(tmp_path / "b"),
        pip_args=["--index-url", "http://127.0.0.1:9/simple/", "--retries", "0", "--timeout", "1"],
    )
    assert result["msg"].startswith("pip failed:")
    assert not any(name.startswith(".sdists-") for name in os.listdir(tmp_path / "b"))
