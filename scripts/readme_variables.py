"""Print the README's variable tables from each role's meta/argument_specs.yml.

    .venv/bin/python scripts/readme_variables.py      # paste under "## Variables"

The specs are the one source of truth; tests/unit/test_role_variables.py checks that the
README names every option.
"""

import re
import sys
from pathlib import Path

import yaml

ROLES = Path(__file__).resolve().parent.parent / "roles"
MARKUP = re.compile(r"[OC]\(([^)=]*)(=[^)]*)?\)")


def first_sentence(description):
    text = " ".join(description if isinstance(description, list) else [description])
    sentence = re.split(r"(?<=\.)\s", text, maxsplit=1)[0]
    return MARKUP.sub(lambda m: f"`{m.group(1)}{m.group(2) or ''}`", sentence)


def shown_default(default):
    if default in ("", None):
        return "empty"
    return f"`{default}`"


def table(role):
    spec = yaml.safe_load((ROLES / role / "meta/argument_specs.yml").read_text())
    rows = ["| variable | type | default | what it does |", "|---|---|---|---|"]
    for name, option in spec["argument_specs"]["main"]["options"].items():
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


def main():
    for role in sorted(path.name for path in ROLES.iterdir() if (path / "meta").is_dir()):
        print(f"### Role `{role}`\n\n{table(role)}\n")


if __name__ == "__main__":
    sys.exit(main())
