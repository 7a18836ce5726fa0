"""The pure logic behind app_wheelhouse: platform tags, wheel names, release ids."""

import pytest
from ansible_collections.wsfleet.deploy.plugins.module_utils import wheelhouse
from ansible_collections.wsfleet.deploy.plugins.module_utils.wheelhouse import (
    describe_source,
    file_sha256,
    git_pip_spec,
    git_remote_url,
    index_args,
    is_pinned,
    manylinux_platforms,
    normalize_project_name,
    parse_ls_remote,
    parse_requirement,
    parse_wheel_name,
    pip_download_args,
    pip_wheel_args,
    redact_url,
    release_id,
    resolve_git_ref,
    target_key,
)


def test_target_key_names_python_cpu_and_glibc():
    target = {"python_version": "3.13", "machine": "aarch64", "glibc_version": "2.41"}
    assert target_key(target) == "cp313-aarch64-glibc2.41"


def test_manylinux_platforms_cover_every_glibc_down_to_2_17():
    tags = manylinux_platforms("x86_64", "2.36")
    assert tags[0] == "manylinux_2_36_x86_64"
    assert "manylinux_2_17_x86_64" in tags
    assert "manylinux2014_x86_64" in tags
    assert "manylinux_2_16_x86_64" not in tags
    assert len(tags) == 36 - 17 + 1 + 1


def test_manylinux_platforms_reject_a_non_glibc2_version():
    with pytest.raises(ValueError, match="glibc"):
        manylinux_platforms("x86_64", "3.1")


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("wsfleet_echo-1.0.0-py3-none-any.whl", ("wsfleet_echo", "1.0.0")),
        (
            "websockets-17.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            ("websockets", "17.4"),
        ),
        ("/some/dir/pkg-2.0rc1-1-py3-none-any.whl", ("pkg", "2.0rc1")),
    ],
)
def test_parse_wheel_name(filename, expected):
    assert parse_wheel_name(filename) == expected


def test_parse_wheel_name_rejects_other_files():
    with pytest.raises(ValueError, match="not a wheel"):
        parse_wheel_name("pkg-1.0.tar.gz")


def test_release_id_ignores_the_order_wheels_were_found_in():
    digests = {"a/x.whl": "11", "b/y.whl": "22"}
    reordered = dict(reversed(list(digests.items())))
    assert release_id("1.0.0", digests) == release_id("1.0.0", reordered)


def test_release_id_changes_with_any_wheel():
    before = release_id("1.0.0", {"a/x.whl": "11", "b/y.whl": "22"})
    after = release_id("1.0.0", {"a/x.whl": "11", "b/y.whl": "23"})
    assert before != after
    assert before.startswith("1.0.0-")
    assert len(before.split("-")[1]) == 12


def test_release_id_keeps_only_path_safe_characters():
    assert "/" not in release_id("1.0/evil", {"a": "1"})


def test_file_sha256(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert file_sha256(str(path)) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


# Requirements


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("wsfleet-echo", ("wsfleet-echo", [])),
        ("wsfleet-echo==1.0.0", ("wsfleet-echo", [("==", "1.0.0")])),
        (" Wsfleet_Echo >= 1.0 , < 2 ", ("Wsfleet_Echo", [(">=", "1.0"), ("<", "2")])),
        ("pkg~=1.4.2", ("pkg", [("~=", "1.4.2")])),
        ("pkg===1.0+local", ("pkg", [("===", "1.0+local")])),
        ("pkg!=1.0.*,>=0.9rc1", ("pkg", [("!=", "1.0.*"), (">=", "0.9rc1")])),
        ("a", ("a", [])),
    ],
)
def test_parse_requirement(text, expected):
    assert parse_requirement(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("wsfleet-echo[fast]==1.0", "extras"),
        ('wsfleet-echo; python_version > "3.10"', "markers"),
        ("./examples/echo_app", "not a project name"),
        ("/abs/path", "not a project name"),
        ("wsfleet-echo @ https://example.com/x.whl", "not a project name"),
        ("--index-url=http://evil", "not a project name"),
        ("wsfleet-echo==", "not a project name"),
        ("wsfleet-echo 1.0", "not a project name"),
        ("-pkg", "not a project name"),
        ("pkg-", "not a project name"),
    ],
)
def test_parse_requirement_rejects(text, message):
    with pytest.raises(ValueError, match=message):
        parse_requirement(text)


@pytest.mark.parametrize(
    ("text", "pinned"),
    [
        ("pkg==1.0.0", True),
        ("pkg===1.0.0", True),
        ("pkg>=1.0,==1.2", True),
        ("pkg", False),
        ("pkg>=1.0", False),
        ("pkg==1.*", False),
        ("pkg~=1.0", False),
    ],
)
def test_is_pinned(text, pinned):
    assert is_pinned(parse_requirement(text)[1]) is pinned


def test_normalize_project_name():
    assert normalize_project_name("Wsfleet_Echo") == "wsfleet-echo"
    assert normalize_project_name("wsfleet.._-echo") == "wsfleet-echo"


# pip arguments

TARGET = {"python_version": "3.13", "machine": "x86_64", "glibc_version": "2.36"}


def test_index_args():
    assert index_args() == []
    assert index_args("https://pypi.example.com/simple") == [
        "--index-url",
        "https://pypi.example.com/simple",
    ]
    assert index_args("https://i/simple", "/etc/ca.pem") == [
        "--index-url",
        "https://i/simple",
        "--cert",
        "/etc/ca.pem",
    ]
    assert index_args(ca_bundle="/etc/ca.pem") == ["--cert", "/etc/ca.pem"]


def test_pip_wheel_args_put_index_then_user_args_before_the_spec():
    common = [*index_args("https://i/simple", "/ca.pem"), "--retries", "1"]
    assert pip_wheel_args("/b/app", "wsfleet-echo==1.0.0", common) == [
        "wheel",
        "--no-deps",
        "--wheel-dir",
        "/b/app",
        "--index-url",
        "https://i/simple",
        "--cert",
        "/ca.pem",
        "--retries",
        "1",
        "wsfleet-echo==1.0.0",
    ]


def test_pip_download_args_name_the_target_and_end_with_the_app_wheel():
    args = pip_download_args("/b/app/a.whl", "/b/t", TARGET, ["--index-url", "https://i/simple"])
    assert args[:8] == [
        "download",
        "--only-binary=:all:",
        "--dest",
        "/b/t",
        "--python-version",
        "3.13",
        "--implementation",
        "cp",
    ]
    platforms = [args[i + 1] for i, arg in enumerate(args) if arg == "--platform"]
    assert platforms == manylinux_platforms("x86_64", "2.36")
    assert args[-3:] == ["--index-url", "https://i/simple", "/b/app/a.whl"]


# git


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://git.example.com/ops/app.git", "https://git.example.com/ops/app.git"),
        ("git+https://git.example.com/ops/app.git", "https://git.example.com/ops/app.git"),
        ("ssh://git@git.example.com/ops/app.git", "ssh://git@git.example.com/ops/app.git"),
        ("file:///srv/git/app", "file:///srv/git/app"),
        (" GIT+FILE:///srv/git/app ", "FILE:///srv/git/app"),
    ],
)
def test_git_remote_url(url, expected):
    assert git_remote_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("git@github.com:ops/app.git", "scp-like"),
        ("/srv/git/app", "must start with"),
        ("--upload-pack=touch /tmp/x", "must start with"),
        ("ftp://example.com/app", "must start with"),
    ],
)
def test_git_remote_url_rejects(url, message):
    with pytest.raises(ValueError, match=message):
        git_remote_url(url)


def test_git_pip_spec():
    commit = "0f5e7d4c1b2a39688776655443322110ffeeddcc"
    assert git_pip_spec("git+https://h/app.git", commit) == "git+https://h/app.git@" + commit


A = "a" * 40
B = "b" * 40
C = "c" * 40
TAG_OBJECT = "d" * 40

LS_REMOTE = (
    f"{A}\tHEAD\n"
    f"{A}\trefs/heads/main\n"
    f"{B}\trefs/heads/next\n"
    f"{B}\trefs/heads/same\n"
    f"{C}\trefs/heads/clash\n"
    f"{TAG_OBJECT}\trefs/tags/v1.0.0\n"
    f"{A}\trefs/tags/v1.0.0^{{}}\n"
    f"{B}\trefs/tags/light\n"
    f"{B}\trefs/tags/same\n"
    f"{A}\trefs/tags/clash\n"
    f"{C}\trefs/pull/7/head\n"
)


def test_parse_ls_remote():
    refs = parse_ls_remote(LS_REMOTE + "\n")
    assert refs["HEAD"] == A
    assert refs["refs/tags/v1.0.0^{}"] == A
    assert len(refs) == 11


@pytest.mark.parametrize(
    ("ref", "commit"),
    [
        ("HEAD", A),
        (None, A),
        ("main", A),
        ("next", B),
        ("v1.0.0", A),  # annotated: the commit, not the tag object
        ("refs/tags/v1.0.0", A),
        ("light", B),
        ("same", B),  # a branch and a tag on one commit is no ambiguity
        ("refs/heads/clash", C),
        ("refs/tags/clash", A),
        ("refs/pull/7/head", C),
        ("E" * 40, "e" * 40),  # a full commit hash that is no ref tip, for pip to fetch
        ("f" * 64, "f" * 64),
    ],
)
def test_resolve_git_ref(ref, commit):
    assert resolve_git_ref(parse_ls_remote(LS_REMOTE), ref) == commit


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("no-such-ref", "'no-such-ref' is not a branch, tag or full commit hash"),
        ("abcdef1", "'abcdef1' is not a branch.*abbreviated"),
        ("refs/heads/v1.0.0", "'refs/heads/v1.0.0' is not"),
        ("clash", "'clash' is ambiguous: refs/heads/clash is c+, refs/tags/clash is a+"),
        ("pull/7/head", "is not a branch"),
    ],
)
def test_resolve_git_ref_fails(ref, message):
    with pytest.raises(LookupError, match=message):
        resolve_git_ref(parse_ls_remote(LS_REMOTE), ref)


def test_resolve_git_ref_without_a_remote_head():
    with pytest.raises(LookupError, match="'HEAD'"):
        resolve_git_ref(parse_ls_remote(f"{A}\trefs/heads/main\n"), "HEAD")


# Descriptions


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (None, None),
        ("", ""),
        ("https://pypi.example.com/simple", "https://pypi.example.com/simple"),
        ("https://user:s3cret@pypi.example.com/simple", "https://user:***@pypi.example.com/simple"),
        ("https://ghp_token@github.com/o/r.git", "https://***@github.com/o/r.git"),
        ("git+https://tok@h/r.git@" + A, "git+https://***@h/r.git@" + A),
        ("ssh://git@github.com/o/r.git", "ssh://git@github.com/o/r.git"),
        ("ssh://git:pw@h/r.git", "ssh://git:***@h/r.git"),
        ("wsfleet-echo==1.0.0", "wsfleet-echo==1.0.0"),
        ("/path/with@sign", "/path/with@sign"),
    ],
)
def test_redact_url(url, expected):
    assert redact_url(url) == expected


def test_describe_source():
    assert describe_source(source="/srv/app") == "path:/srv/app"
    assert (
        describe_source(requirement="wsfleet-echo==1.0.0", index_url="https://u:p@i/simple")
        == "pip:wsfleet-echo==1.0.0 from https://u:***@i/simple"
    )
    assert (
        describe_source(requirement="wsfleet-echo")
        == "pip:wsfleet-echo from pip's configured index"
    )
    assert (
        describe_source(git_url="https://tok@h/app.git", git_ref="v1.0.0")
        == "git:https://***@h/app.git@v1.0.0"
    )
    assert describe_source(git_url="file:///srv/app") == "git:file:///srv/app@HEAD"
    with pytest.raises(ValueError, match="no app source"):
        describe_source()


def write_tree(root, files):
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return str(root)


SOURCE = {"pyproject.toml": "[project]\n", "src/app/__init__.py": "x = 1\n"}


@pytest.mark.parametrize(
    "extra, same",
    [
        ({}, True),
        # What never goes into the wheel does not change the digest.
        ({"build/lib/app/__init__.py": "old\n", "src/app/__pycache__/a.pyc": "\0"}, True),
        ({".git/HEAD": "ref\n", "app.egg-info/PKG-INFO": "x\n", "src/app/b.pyc": "\0"}, True),
        # A changed, added or renamed file does.
        ({"src/app/__init__.py": "x = 2\n"}, False),
        ({"src/app/extra.py": ""}, False),
    ],
)
def test_source_digest_follows_what_can_go_into_the_wheel(tmp_path, extra, same):
    reference = wheelhouse.source_digest(write_tree(tmp_path / "a", SOURCE))
    other = wheelhouse.source_digest(write_tree(tmp_path / "elsewhere", {**SOURCE, **extra}))
    assert (other == reference) is same


def test_cache_key_changes_with_anything_that_decides_the_build():
    base = [["path", "d1"], ["cp311-x86_64-glibc2.36"], None, []]
    others = [
        [["path", "d2"], *base[1:]],
        [base[0], ["cp313-x86_64-glibc2.36"], *base[2:]],
        [*base[:2], "https://index.example/simple", []],
        [*base[:3], ["--no-build-isolation"]],
    ]
    keys = {wheelhouse.cache_key(base)} | {wheelhouse.cache_key(other) for other in others}
    assert len(keys) == 5
    assert wheelhouse.cache_key(base) == wheelhouse.cache_key(list(base))


# Dependencies published only as sdists


@pytest.mark.parametrize(
    ("filename", "pure"),
    [
        ("docopt-0.6.2-py2.py3-none-any.whl", True),
        ("wsfleet_echo-1.0.0-py3-none-any.whl", True),
        ("websockets-15.0-cp311-cp311-manylinux_2_17_x86_64.whl", False),
        ("compiled_only-1.0-cp311-cp311-linux_x86_64.whl", False),
        ("abi3_pkg-2.0-cp38-abi3-manylinux2014_x86_64.whl", False),
        ("docopt-0.6.2.tar.gz", False),
    ],
)
def test_is_pure_wheel(filename, pure):
    assert wheelhouse.is_pure_wheel(filename) is pure


@pytest.mark.parametrize(
    ("output", "project"),
    [
        (
            "ERROR: Could not find a version that satisfies the requirement docopt==0.6.2 "
            "(from wsfleet-echo) (from versions: none)\n"
            "ERROR: No matching distribution found for docopt==0.6.2\n",
            "docopt",
        ),
        ("ERROR: No matching distribution found for Compiled_Only>=1\n", "Compiled_Only"),
        ("ERROR: HTTP error 503 while getting https://index.example/x.whl\n", None),
        ("", None),
    ],
)
def test_unsatisfied_requirement_names_the_project_pip_found_nothing_for(output, project):
    assert wheelhouse.unsatisfied_requirement(output) == project


def test_wheels_of_a_project_match_its_name_as_pip_normalises_it():
    names = [
        "Compiled_Only-1.0-cp311-cp311-linux_x86_64.whl",
        "compiled_only_extra-1.0-py3-none-any.whl",
        "docopt-0.6.2-py2.py3-none-any.whl",
        "compiled_only-1.0.tar.gz",
    ]
    assert wheelhouse.wheels_of("compiled-only", names) == [names[0]]
    assert wheelhouse.wheels_of("docopt", names) == [names[2]]
    assert wheelhouse.wheels_of("absent", names) == []


@pytest.mark.parametrize(
    ("built", "why"),
    [
        (
            ["compiled_only-1.0-cp311-cp311-linux_x86_64.whl"],
            "its sdist builds a wheel for one platform only "
            "(compiled_only-1.0-cp311-cp311-linux_x86_64.whl on this controller), not one that "
            "installs anywhere",
        ),
        ([], "no wheel of it could be built on this controller"),
    ],
)
def test_the_refusal_names_the_project_the_target_and_what_to_do(built, why):
    message = wheelhouse.no_wheel_message("compiled-only", "cp313-x86_64-glibc2.36", built)
    assert message.startswith(
        f"compiled-only has no wheel for cp313-x86_64-glibc2.36 on the index, and {why}:"
    )
    assert "--find-links" in message and "manylinux" in message


def test_pip_dependency_wheels_args_build_every_dependency_of_the_app_wheel():
    assert wheelhouse.pip_dependency_wheels_args("/b/app.whl", "/b/built", ["--isolated"]) == [
        "wheel",
        "--wheel-dir",
        "/b/built",
        "--isolated",
        "/b/app.whl",
    ]
