# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic behind app_wheelhouse: pip tags for a target host, release ids, wheel names."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re

# The oldest glibc that manylinux_2_x tags describe (manylinux2014 == manylinux_2_17).
OLDEST_MANYLINUX_GLIBC_MINOR = 17

_WHEEL_NAME = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")


def target_key(target):
    """A short stable name for a host's Python ABI and platform, e.g. cp311-x86_64-glibc2.36."""
    return "cp%s-%s-glibc%s" % (
        target["python_version"].replace(".", ""),
        target["machine"],
        target["glibc_version"],
    )


def manylinux_platforms(machine, glibc_version):
    """Every manylinux platform tag a host with this glibc can load, newest first.

    pip expands only the legacy manylinux2014 alias to older tags, so a host's full set
    (manylinux_2_36 down to manylinux_2_17, plus legacy aliases) must be listed explicitly.
    """
    major, minor = (int(part) for part in glibc_version.split(".")[:2])
    if major != 2:
        raise ValueError("unsupported glibc version %r" % glibc_version)
    tags = [
        "manylinux_2_%d_%s" % (m, machine)
        for m in range(minor, OLDEST_MANYLINUX_GLIBC_MINOR - 1, -1)
    ]
    if minor >= OLDEST_MANYLINUX_GLIBC_MINOR:
        tags.append("manylinux2014_%s" % machine)
    return tags


_WHEEL_TAGS = re.compile(r"-(?P<python>[^-]+)-(?P<abi>[^-]+)-(?P<platform>[^-]+)\.whl$")
# What pip says of a requirement that no file it may take satisfies (with --only-binary=:all:,
# a project published only as an sdist).
_UNSATISFIED = re.compile(
    r"(?:No matching distribution found for|Could not find a version that satisfies the "
    r"requirement) (?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)"
)


def is_pure_wheel(filename):
    """Whether a wheel installs on any platform and Python 3 ABI (its tags end in none-any)."""
    match = _WHEEL_TAGS.search(os.path.basename(filename))
    return bool(match) and (match.group("abi"), match.group("platform")) == ("none", "any")


def unsatisfied_requirement(pip_output):
    """The project pip could not find a file for, from its error output; None if not that."""
    match = _UNSATISFIED.search(pip_output)
    return match.group("name") if match else None


def wheels_of(project, filenames):
    """The wheel files of one project among filenames (names compared as pip normalises them)."""
    wanted = normalize_project_name(project)
    return sorted(
        name
        for name in filenames
        if name.endswith(".whl") and normalize_project_name(parse_wheel_name(name)[0]) == wanted
    )


def no_wheel_message(project, target, built):
    """Why the hosts of target (a target key) cannot get project, and what to do about it;
    built: the wheels of it this controller built from its sdist, if it did."""
    if built:
        why = (
            "its sdist builds a wheel for one platform only (%s on this controller), not one "
            "that installs anywhere" % ", ".join(built)
        )
    else:
        why = "no wheel of it could be built on this controller"
    return (
        "%s has no wheel for %s on the index, and %s: the hosts' wheels cannot be built here. "
        "Publish wheels of it for the hosts' Python and platform (manylinux), or build them on "
        "a host of each platform (pip wheel %s) and give their folder to pip with "
        "wsfleet_app_pip_args: ['--find-links', '/path/to/wheels']."
        % (project, target, why, project)
    )


def parse_wheel_name(filename):
    """(distribution, version) of a wheel file name, normalised as pip names them."""
    match = _WHEEL_NAME.match(os.path.basename(filename))
    if not match:
        raise ValueError("not a wheel file name: %r" % filename)
    return match.group("name"), match.group("version")


def file_sha256(path, chunk_size=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def release_id(version, wheel_digests):
    """One id for the same set of wheels, whatever order they were found in.

    Content-addressed so that redeploying the same source reuses the release already
    installed instead of making a new one: the version keeps it readable for people.
    """
    joined = "\n".join(sorted("%s %s" % (name, digest) for name, digest in wheel_digests.items()))
    content = hashlib.sha256(joined.encode("utf-8")).hexdigest()[:12]
    return "%s-%s" % (re.sub(r"[^A-Za-z0-9.+_]", "_", version), content)


# App sources: requirement strings, git refs and the pip arguments for each.

# A PEP 508 requirement reduced to what a release can be built from: a project name and
# optional version specifiers. ansible-core vendors no `packaging` into module_utils, and the
# module may run under an interpreter without it, so this small grammar stands in for it.
_PROJECT_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_SPECIFIER = r"(?:===|==|!=|~=|<=|>=|<|>)\s*[A-Za-z0-9][A-Za-z0-9.*+!_-]*"
_REQUIREMENT = re.compile(
    r"^\s*(?P<name>%s)\s*(?P<specifiers>%s(?:\s*,\s*%s)*)?\s*$"
    % (_PROJECT_NAME, _SPECIFIER, _SPECIFIER)
)
_SPECIFIER_PARTS = re.compile(r"^(?P<op>===|==|!=|~=|<=|>=|<|>)\s*(?P<version>.+)$")

_FULL_COMMIT = re.compile(r"^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$")
_GIT_URL = re.compile(r"^(?:git\+)?(?:https?|ssh|git|file)://", re.IGNORECASE)
_SCP_LIKE_URL = re.compile(r"^[^/:@]+@[^/:]+:")
_URL_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<userinfo>[^/@]*)@")


def parse_requirement(text):
    """(name, [(operator, version), ...]) of a requirement such as wsfleet-echo==1.0.0.

    Accepts a project name with optional comma-separated version specifiers. Rejects
    extras, environment markers, URLs and paths: extras and markers would be silently
    lost, since dependencies are resolved again from the app wheel for each target, and
    URLs and paths are what git_url and source are for.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("requirement is empty")
    if "[" in text:
        raise ValueError("requirement %r has extras, which are not supported" % text)
    if ";" in text:
        raise ValueError("requirement %r has environment markers, which are not supported" % text)
    match = _REQUIREMENT.match(text)
    if not match:
        raise ValueError(
            "requirement %r is not a project name with optional version specifiers,"
            " such as wsfleet-echo==1.0.0 or wsfleet-echo>=1.0,<2" % text
        )
    specifiers = []
    if match.group("specifiers"):
        for part in match.group("specifiers").split(","):
            parts = _SPECIFIER_PARTS.match(part.strip())
            specifiers.append((parts.group("op"), parts.group("version").strip()))
    return match.group("name"), specifiers


def is_pinned(specifiers):
    """Whether version specifiers allow exactly one version (== without a wildcard, or ===)."""
    return any(op == "===" or (op == "==" and "*" not in version) for op, version in specifiers)


def normalize_project_name(name):
    """PEP 503 normalised name: wsfleet_echo, Wsfleet.Echo and wsfleet-echo are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def index_args(index_url=None, ca_bundle=None):
    """pip options for a package index and the CA bundle to verify it with."""
    args = []
    if index_url:
        args += ["--index-url", index_url]
    if ca_bundle:
        args += ["--cert", ca_bundle]
    return args


def pip_wheel_args(app_dir, spec, common_args):
    """pip arguments that build or fetch the app's own wheel (not its dependencies) into app_dir.

    spec is a path, a requirement or a git+URL@commit; common_args are the index arguments
    followed by the user's pip_args, so that the user has the last word.
    """
    return ["wheel", "--no-deps", "--wheel-dir", app_dir, *common_args, spec]


def pip_dependency_wheels_args(app_wheel, wheel_dir, common_args):
    """pip arguments that build every dependency of the app wheel into wheels for this
    controller: an sdist-only dependency becomes a wheel, pure when its code is pure Python."""
    return ["wheel", "--wheel-dir", wheel_dir, *common_args, app_wheel]


def pip_download_args(app_wheel, target_dir, target, common_args):
    """pip arguments that download the app wheel's dependencies as binary wheels for a target.
    (To also take pure wheels built from sdists, common_args carry --find-links to them.)"""
    args = [
        "download",
        "--only-binary=:all:",
        "--dest",
        target_dir,
        "--python-version",
        target["python_version"],
        "--implementation",
        "cp",
    ]
    for tag in manylinux_platforms(target["machine"], target["glibc_version"]):
        args += ["--platform", tag]
    return args + list(common_args) + [app_wheel]


def git_remote_url(url):
    """The URL git understands for git_url, which may carry pip's git+ prefix.

    Only URLs with a scheme are accepted: pip cannot install from scp-like addresses such
    as git@host:org/repo.git.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError("git_url is empty")
    url = url.strip()
    if _SCP_LIKE_URL.match(url) and "://" not in url:
        raise ValueError(
            "git_url %r is an scp-like address, which pip cannot install from;"
            " write it as ssh://user@host/path" % url
        )
    if not _GIT_URL.match(url):
        raise ValueError(
            "git_url %r must start with https://, http://, ssh://, git:// or file://" % url
        )
    return url[4:] if url.lower().startswith("git+") else url


def git_pip_spec(url, commit):
    """The pip requirement that builds url at commit: git+<url>@<commit>."""
    return "git+%s@%s" % (git_remote_url(url), commit)


def parse_ls_remote(output):
    """{ref name: object id} from the output of git ls-remote."""
    refs = {}
    for line in output.splitlines():
        if not line.strip():
            continue
        object_id, _tab, name = line.partition("\t")
        if name:
            refs[name.strip()] = object_id.strip().lower()
    return refs


def resolve_git_ref(refs, ref):
    """The commit a branch, tag, full ref name, HEAD or full commit hash stands for.

    refs is parse_ls_remote's result. Annotated tags resolve to the commit they point at,
    not to the tag object. A name that is both a branch and a tag on different commits is
    refused as ambiguous. A full commit hash that is not the tip of a ref is returned as is,
    for pip to fetch; abbreviated hashes cannot be resolved from the list of refs, so they
    are refused. Raises LookupError when ref names nothing.
    """
    ref = (ref or "HEAD").strip()

    def peeled(name):
        return refs.get(name + "^{}", refs.get(name))

    if ref == "HEAD" or ref.startswith("refs/"):
        commit = peeled(ref)
        if commit:
            return commit
    else:
        found = {}
        for name in ("refs/heads/" + ref, "refs/tags/" + ref):
            commit = peeled(name)
            if commit:
                found[name] = commit
        if len(set(found.values())) > 1:
            raise LookupError(
                "git_ref %r is ambiguous: %s; name one of them in full"
                % (ref, ", ".join("%s is %s" % item for item in sorted(found.items())))
            )
        if found:
            return next(iter(found.values()))
    if _FULL_COMMIT.match(ref):
        return ref.lower()
    raise LookupError(
        "git_ref %r is not a branch, tag or full commit hash of the repository "
        "(abbreviated commit hashes are not supported)" % ref
    )


def redact_url(url):
    """url without the secret it may carry, to show in messages and results.

    Keeps a user name (ssh://git@host) but hides a password, and hides a lone user name
    of an http(s) URL too, since that is where access tokens go.
    """
    match = _URL_USERINFO.match(url or "")
    if not match:
        return url
    user, has_password, _password = match.group("userinfo").partition(":")
    if has_password:
        userinfo = user + ":***"
    elif match.group("scheme").lower().split("+")[-1] in ("http", "https"):
        userinfo = "***"
    else:
        userinfo = user
    return "%s://%s@%s" % (match.group("scheme"), userinfo, url[match.end() :])


def describe_source(source=None, requirement=None, git_url=None, git_ref=None, index_url=None):
    """A short description of where the app came from, for people reading the results."""
    if source:
        return "path:%s" % source
    if requirement:
        return "pip:%s from %s" % (
            requirement.strip(),
            redact_url(index_url) if index_url else "pip's configured index",
        )
    if git_url:
        return "git:%s@%s" % (redact_url(git_url.strip()), (git_ref or "HEAD").strip())
    raise ValueError("no app source")


# Not part of what a source tree builds into: version control, caches and build output.
_NOT_SOURCE_DIRS = frozenset(
    (
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "build",
        "dist",
    )
)
# Bumped when what a cached build holds changes, so that older entries are not reused.
CACHE_FORMAT = "1"


def source_digest(root):
    """SHA-256 over every file of a source tree that can go into its wheel (path and content,
    in a stable order): the same tree gives the same digest wherever it is checked out."""
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(
            name for name in dirs if name not in _NOT_SOURCE_DIRS and not name.endswith(".egg-info")
        )
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = os.path.join(folder, name)
            digest.update(os.path.relpath(path, root).encode("utf-8") + b"\0")
            digest.update(file_sha256(path).encode("ascii") + b"\0")
    return digest.hexdigest()


def cache_key(what_decides):
    """The name of a cached build: a digest of everything that decides what it holds (the
    source's content or pinned version, the targets, the index and pip's arguments)."""
    text = json.dumps([CACHE_FORMAT, what_decides], sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
