#!/usr/bin/env bash
# ansible-test sanity on this checkout: it must sit at ansible_collections/wsfleet/deploy, so
# the files git knows (committed or not, minus ignored ones) are copied into such a tree.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/.venv/bin:$PATH"

# The pip version ansible-test bootstraps its test virtualenvs with.
pip_version=$(python3 - <<'PY'
import re, ansible_test, pathlib
source = (pathlib.Path(ansible_test.__file__).parent / "_internal/python_requirements.py").read_text()
print(re.search(r"pip='([0-9.]+)'", source).group(1))
PY
)
cache=~/.ansible/test/cache
mkdir -p "$cache"
cp scripts/get_pip_stand_in.py "$cache/get_pip_${pip_version//./_}.py"

tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
collection="$tree/ansible_collections/wsfleet/deploy"
mkdir -p "$collection"
# What the collection ships (galaxy.yml's build_ignore keeps the rest out) and its unit tests:
# the fleet, the molecule scenarios, the benchmarks and their support library are project
# tooling, not collection content, and follow ruff's rules instead of ansible-test's.
git ls-files -z --cached --others --exclude-standard \
  | grep -z -v -E '^(bench|molecule|fleet|examples|scripts|ee|inventories|docs|support)/|^tests/bench/' \
  | xargs -0 -I{} cp --parents {} "$collection/"
cd "$collection"
git init -q && git add -A && git -c user.name=sanity -c user.email=sanity@localhost commit -qm tree
ansible-test sanity --python "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
  --requirements --color no
