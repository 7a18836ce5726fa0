"""Build the execution environment image with ansible-builder and podman, offline.

    python ee/build.py [--base-image IMAGE] [--tag TAG] [--force]

Without --base-image it first makes its own base image from Debian's packages (debootstrap, as
the local fleet makes its hosts; cached by the content hash of ee/base/build-rootfs.sh). The
Python packages the image installs are built into wheels on this controller first, so the image
build itself reaches no package index. The image is tagged localhost/wsfleet-deploy-ee:<version>
and labelled with the content hash of everything that went into it: a second run with nothing
changed reuses it. Prints the image's tag.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import yaml

EE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = EE_DIR.parent
BASE_RECIPE = EE_DIR / "base" / "build-rootfs.sh"
BASE_REPOSITORY = "localhost/wsfleet-ee-base"
IMAGE_REPOSITORY = "localhost/wsfleet-deploy-ee"
CONTENT_LABEL = "wsfleet.ee.content"
BUILD_INPUTS = ("execution-environment.yml", "requirements.yml")
# What ansible-builder 3 installs with pip besides the definition's own dependencies: its
# builder stage's tools and the container's init (options.container_init).
BUILDER_PACKAGES = ("bindep", "pyyaml", "packaging", "wheel", "dumb-init==1.2.5")
# Measured on this kind of machine: crun cannot start containers on a cgroups v1/v2 hybrid,
# and podman cannot raise limits above the hard ceiling.
PODMAN_BUILD_ARGS = "--runtime runc --ulimit nofile=20000:20000 --ulimit nproc=32768:32768"
PODMAN = ["podman", "--runtime", "runc"]
BIN = Path(sys.executable).parent


class BuildError(Exception):
    """A step failed; printed without a traceback."""


def run(cmd: list[str], **kwargs) -> str:
    result = subprocess.run(cmd, check=False, text=True, capture_output=True, **kwargs)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip()[-4000:]
        raise BuildError(f"command failed ({result.returncode}): {' '.join(cmd)}\n{detail}")
    return result.stdout.strip()


def say(message: str) -> None:
    print(f"ee: {message}", file=sys.stderr, flush=True)


def image_label(image: str, label: str) -> str | None:
    """The image's label, or None when there is no such image."""
    result = subprocess.run(
        [*PODMAN, "image", "inspect", "--format", f'{{{{index .Labels "{label}"}}}}', image],
        check=False,
        text=True,
        capture_output=True,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def image_id(image: str) -> str:
    return run([*PODMAN, "image", "inspect", "--format", "{{.Id}}", image])


# --- base image ---------------------------------------------------------------------------


def ensure_base_image(suite: str) -> str:
    digest = hashlib.sha256(BASE_RECIPE.read_bytes() + suite.encode()).hexdigest()[:12]
    tag = f"{BASE_REPOSITORY}:{suite}-{digest}"
    if subprocess.run([*PODMAN, "image", "exists", tag], check=False).returncode == 0:
        return tag
    say(f"building base image {tag} with debootstrap (about a minute, cached afterwards)")
    mirror = os.environ.get("WSFLEET_DEBIAN_MIRROR", "")
    with tempfile.TemporaryDirectory(prefix="wsfleet-ee-rootfs-") as workdir:
        root = Path(workdir) / "root"
        run(["bash", str(BASE_RECIPE), suite, str(root), mirror])
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        run([*PODMAN, "import", "--change", 'CMD ["/bin/bash"]', "-", tag], stdin=tar.stdout)
        if tar.wait() != 0:
            raise BuildError("tar of the base root filesystem failed")
    return tag


# --- build context ------------------------------------------------------------------------


def collection_version() -> str:
    return yaml.safe_load((PROJECT_ROOT / "galaxy.yml").read_text())["version"]


def build_collection(dest: Path) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        run(
            [
                str(BIN / "ansible-galaxy"),
                "collection",
                "build",
                "--force",
                "--output-path",
                workdir,
                str(PROJECT_ROOT),
            ]
        )
        shutil.move(next(Path(workdir).glob("wsfleet-deploy-*.tar.gz")), dest)


def tarball_digest(path: Path) -> str:
    """A hash of the tarball's names and contents, not its timestamps."""
    digest = hashlib.sha256()
    with tarfile.open(path) as archive:
        for member in sorted(archive.getmembers(), key=lambda member: member.name):
            digest.update(member.name.encode() + b"\0")
            data = archive.extractfile(member) if member.isfile() else None
            digest.update(data.read() if data else b"")
    return digest.hexdigest()


def ee_python_requirements() -> list[str]:
    """ansible-core, ansible-runner and the user's Python requirements, as in the definition."""
    definition = yaml.safe_load((EE_DIR / "execution-environment.yml").read_text())
    dependencies = definition["dependencies"]
    wanted = [
        dependencies["ansible_core"]["package_pip"],
        dependencies["ansible_runner"]["package_pip"],
    ]
    requirements = (PROJECT_ROOT / "meta" / "ee-requirements.txt").read_text().splitlines()
    wanted += [line.strip() for line in requirements if line.strip() and not line.startswith("#")]
    return wanted + list(BUILDER_PACKAGES)


def build_wheels(dest: Path, *, force: bool) -> None:
    """Every Python package the image installs, as wheels for its Python (the controller's
    CPython 3.11, as Debian 12's); kept while the requirements are the same."""
    requirements = ee_python_requirements()
    stamp = dest / ".requirements"
    if not force and stamp.exists() and stamp.read_text() == "\n".join(requirements):
        return
    shutil.rmtree(dest, ignore_errors=True)
    run([str(BIN / "pip"), "wheel", "--quiet", "--wheel-dir", str(dest), *requirements])
    stamp.write_text("\n".join(requirements))


def content_digest(base_image: str, collection: Path, wheels: Path) -> str:
    digest = hashlib.sha256(image_id(base_image).encode())
    digest.update(tarball_digest(collection).encode())
    for name in BUILD_INPUTS:
        digest.update((EE_DIR / name).read_bytes())
    for wheel in sorted(wheels.glob("*.whl")):
        digest.update(wheel.name.encode())
    return digest.hexdigest()[:16]


# --- image --------------------------------------------------------------------------------


def build_image(base_image: str, tag: str, content: str) -> None:
    say(f"building {tag} with ansible-builder (a few minutes)")
    run(
        [
            str(BIN / "ansible-builder"),
            "build",
            "--file",
            "execution-environment.yml",
            "--context",
            "context",
            "--container-runtime",
            "podman",
            "--tag",
            tag,
            "--build-arg",
            f"EE_BASE_IMAGE={base_image}",
            "--build-arg",
            f"WSFLEET_EE_CONTENT={content}",
            "--extra-build-cli-args",
            PODMAN_BUILD_ARGS,
            "--verbosity",
            "2",
        ],
        cwd=EE_DIR,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-image", help="your own base image (Python 3.11+, pip, ssh, git)")
    parser.add_argument("--suite", default="bookworm", help="Debian suite of the own base image")
    parser.add_argument("--tag", help=f"image tag (default {IMAGE_REPOSITORY}:<version>)")
    parser.add_argument(
        "--force", action="store_true", help="build the wheels and image even if nothing changed"
    )
    args = parser.parse_args(argv)
    tag = args.tag or f"{IMAGE_REPOSITORY}:{collection_version()}"
    try:
        base_image = args.base_image or ensure_base_image(args.suite)
        build_collection(EE_DIR / "wsfleet-deploy.tar.gz")
        build_wheels(EE_DIR / "wheels", force=args.force)
        content = content_digest(base_image, EE_DIR / "wsfleet-deploy.tar.gz", EE_DIR / "wheels")
        if args.force or image_label(tag, CONTENT_LABEL) != content:
            build_image(base_image, tag, content)
        else:
            say(f"{tag} is up to date")
    except BuildError as error:
        say(str(error))
        return 1
    print(tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
