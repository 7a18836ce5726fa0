#!/usr/bin/env bash
# Build the execution environment image (ee/): ansible-core, ansible-runner and this collection
# on a Debian base image made here, or on yours (--base-image IMAGE). Prints the image's tag.
# Reuses the image when nothing that went into it changed; --force builds it anyway.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/bootstrap.sh >&2
exec .venv/bin/python ee/build.py "$@"
