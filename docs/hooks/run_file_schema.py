"""MkDocs hook: the run file's schema (docs/reference/run-file.md), read from a fresh run file.

The schema grows by migrations; a table copied by hand into the page would miss the next one. At
build time this hook creates an empty run file through ``bsa.runfile`` in a temporary folder, reads
``sqlite_master`` and ``PRAGMA table_info`` / ``foreign_key_list`` of every table, and replaces
the marker line with one table of columns per SQLite table. ``tests/test_docs_reference.py``
loads this file by path and checks the text it makes.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path
from typing import Any

MARKER = "<!-- bsa-run-file-schema -->"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the marker with the generated schema (MkDocs calls this for every page)."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, run_file_schema_markdown())


def run_file_schema_markdown() -> str:
    """One section per table of a new run file, in the order the migrations create them."""
    with tempfile.TemporaryDirectory() as folder:
        connection = _fresh_run_file(Path(folder) / "schema.sqlite")
        try:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            sections = [_table_section(connection, name) for name in table_names(connection)]
        finally:
            connection.close()
    intro = f"A run file of this version has schema version {version} (`PRAGMA user_version`)."
    return "\n".join([intro, "", *sections])


def _fresh_run_file(path: Path) -> sqlite3.Connection:
    from bsa.runfile.store import RunStore

    RunStore(path).close()
    return sqlite3.connect(path)


def table_names(connection: sqlite3.Connection) -> list[str]:
    """The run file's own tables (SQLite's internal ``sqlite_*`` tables left out)."""
    rows = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY rowid"
    )
    return [name for (name,) in rows]


def _table_section(connection: sqlite3.Connection, table: str) -> str:
    columns = connection.execute(f"PRAGMA table_info({table})").fetchall()
    references = {
        row[3]: f"{row[2]}({row[4]})"
        for row in connection.execute(f"PRAGMA foreign_key_list({table})")
    }
    key = [row[1] for row in sorted(columns, key=lambda row: row[5]) if row[5]]
    lines = [
        f"### Table `{table}`",
        "",
        f"Primary key: {', '.join(f'`{name}`' for name in key)}.",
        "",
        "| column | type | null | default | references |",
        "|---|---|---|---|---|",
    ]
    for _cid, name, kind, not_null, default, _pk in columns:
        reference = references.get(name, "")
        lines.append(
            f"| `{name}` | {kind} | {'no' if not_null else 'yes'} | "
            f"{'' if default is None else f'`{default}`'} | "
            f"{f'`{reference}`' if reference else ''} |"
        )
    return "\n".join([*lines, ""])
