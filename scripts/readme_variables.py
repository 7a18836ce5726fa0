"""Write each role's variable table into its README from its meta/argument_specs.yml.

    .venv/bin/python scripts/readme_variables.py          # rewrite roles/*/README.md
    .venv/bin/python scripts/readme_variables.py --check  # exit 1 if a README is out of date

The table goes between the markers below, under the README's "## Variables" (added at the end
of a README that has no markers yet). The specs are the one source of truth;
tests/unit/test_role_variables.py checks that each role's README names every option of its role
with its documented default.
"""

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

ROLES = Path(__file__).resolve().parent.parent / "roles"
MARKUP = re.compile(r"[OC]\(([^)=]*)(=[^)]*)?\)")
BEGIN = "<!-- BEGIN VARIABLES (scripts/readme_variables.py) -->"
END = "<!-- END VARIABLES -->"
BLOCK = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)


def first_sentence(description):
    text = " ".join(description if isinstance(description, list) else [description])
    sentence = re.split(r"(?<=\.)\s", text, maxsplit=1)[0]
    return MARKUP.sub(lambda m: f"`{m.group(1)}{m.group(2) or ''}`", sentence)


def shown_default(default):
    """The default as YAML writes it (`false`, `[]`, `["a"]`), a string on one line."""
    if default in ("", None):
        return "empty"
    if not isinstance(default, str):
        return f"`{json.dumps(default)}`"
    return "`" + re.sub(r"\s*\n\s*", " ", default.strip()) + "`"


def options(role):
    """A role's options: its main entry point's, or for a role without tasks of its own (fleet,
    router: other roles and plays list it for its settings) its preflight's."""
    specs = yaml.safe_load((ROLES / role / "meta/argument_specs.yml").read_text())["argument_specs"]
    return specs.get("main", specs.get("preflight"))["options"]


def table(role):
    rows = ["| variable | type | default | what it does |", "|---|---|---|---|"]
    for name, option in options(role).items():
        kind = option["type"]
        if "choices" in option:
            kind += " (" + ", ".join(option["choices"]) + ")"
        cells = [
            f"`{name}`",
            kind,
            shown_default(option.get("default")),
            first_sentence(option["description"]),
        ]
        rows.append("| " + " | ".join(cell.replace("|", "&#124;") for cell in cells) + " |")
    return "\n".join(rows)


def with_table(readme, role):
    block = f"{BEGIN}\n{table(role)}\n{END}"
    if BLOCK.search(readme):
        return BLOCK.sub(lambda _: block, readme, count=1)
    return readme.rstrip("\n") + f"\n\n## Variables\n\n{block}\n"


def roles():
    return sorted(
        path.name for path in ROLES.iterdir() if (path / "meta/argument_specs.yml").is_file()
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report READMEs out of date")
    args = parser.parse_args()
    stale = []
    for role in roles():
        path = ROLES / role / "README.md"
        current = f"# wsfleet.deploy.{role}\n"
        if path.exists():
            current = path.read_text(encoding="utf-8")
        wanted = with_table(current, role)
        if wanted != current:
            stale.append(path.relative_to(ROLES.parent))
            if not args.check:
                path.write_text(wanted, encoding="utf-8")
    for path in stale:
        print(f"{'out of date' if args.check else 'written'}: {path}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
