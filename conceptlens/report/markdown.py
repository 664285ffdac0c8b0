"""GitHub Markdown of the report's tables, so that the README's tables are printed from a
run's files by the same code as the report's (``benchmarks/readme_tables.py``)."""

from __future__ import annotations

from conceptlens.report.table_models import Cell, Row, Table


def _cell_text(cell: Cell) -> str:
    text = f"{cell.text} {cell.se}".strip() if cell.se else cell.text
    return text.replace("|", "\\|").replace("\n", " ")


def _header(columns: list[str]) -> list[str]:
    return ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]


def table_markdown(table: Table) -> str:
    """``table`` as Markdown: its caption, then one Markdown table a group (a group row
    becomes a bold line above its own table), then its notes."""
    lines = [f"*{table.caption}*", ""]
    body: list[str] = []

    def flush() -> None:
        if body:
            lines.extend(_header(table.columns) + body + [""])
            body.clear()

    for row in table.rows:
        if row.cls == "group":
            flush()
            lines.extend([f"**{_cell_text(row.cells[0])}**", ""])
        else:
            body.append(_row_text(row))
    flush()
    lines.extend(f"{note}" for note in table.notes)
    return "\n".join(lines).rstrip() + "\n"


def _row_text(row: Row) -> str:
    return "| " + " | ".join(_cell_text(c) for c in row.cells) + " |"
