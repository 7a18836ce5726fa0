"""Markdown documents from Jinja templates: the benchmarks' reports. A template gets the
results and `table(headers, rows)`, a Markdown table whose cells are escaped."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import jinja2


def table_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table, one row a line."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines.extend("| " + " | ".join(table_cell(cell) for cell in row) + " |" for row in rows)
    return "\n".join(lines)


def environment(folder: str | Path) -> jinja2.Environment:
    """Templates of a folder; a missing value is an error, not an empty string."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        autoescape=False,
    )
    env.globals["table"] = markdown_table
    env.filters["cell"] = table_cell
    return env


def render(folder: str | Path, name: str, **context: Any) -> str:
    """A template of a folder rendered as a document: ending with one newline."""
    return environment(folder).get_template(name).render(**context).rstrip("\n") + "\n"
