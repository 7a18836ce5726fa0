#!/usr/bin/env bash
# Build the collection into ee/ and make the execution environment's build context with
# ansible-builder (ee/context/). With --build, also build the image with podman (needs the
# base image named in ee/execution-environment.yml).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/.venv/bin:$PATH"

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
ansible-galaxy collection build --force --output-path "$workdir" . >/dev/null
cp "$workdir"/wsfleet-deploy-*.tar.gz ee/wsfleet-deploy.tar.gz

cd ee
ansible-builder create --file execution-environment.yml --context context --output-filename Containerfile
if [[ "${1:-}" == "--build" ]]; then
    ansible-builder build --file execution-environment.yml --context context \
        --container-runtime podman --tag wsfleet-deploy-ee:latest
fi
