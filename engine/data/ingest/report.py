"""What a load did, and what was wrong with a refused one.

`Problem` is one thing to fix: the file row (spreadsheet numbering, None for the whole
file), the column, the cell as read, what is wrong and what to do. `IngestReport` is the
result of a load (or of a check, or of a refused load). `IngestError` refuses a load as a
whole; it carries the problems and reads as one paragraph (or a short list) for a person.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from pydantic import Field

from engine.core.contracts import Contract
from engine.core.errors import BadInputError

MAX_LISTED = 1000  # problems kept on the error/report; the total is always counted
MAX_IN_MESSAGE = 20
MAX_VALUE_CHARS = 200  # a cell is kept up to this length on a problem
SHOWN_VALUE_CHARS = 60  # ... and quoted up to this length in a message


def show(value: Any) -> str:
    """A cell quoted for a message, shortened when long."""
    text = str(value)
    cut = SHOWN_VALUE_CHARS - 3
    return "'" + (text if len(text) <= SHOWN_VALUE_CHARS else text[:cut] + "...") + "'"


class Problem(Contract):
    """One thing to fix before a file can load.

    `row` counts the header as row 1 (the first data row is row 2, as a spreadsheet shows
    it) and is None for a problem with the whole file; `value` is the cell as read.
    """

    row: int | None = None
    column: str | None = None
    value: str | None = None
    message: str
    fix: str = ""

    @property
    def text(self) -> str:
        """The problem as one sentence, e.g. "row 3, column seats: '1.5' is not a whole number; ..."."""
        if self.row is None:
            return " ".join(part for part in (self.message, self.fix) if part)
        where = f"row {self.row}, column {self.column}: " if self.column else f"row {self.row} "
        shown = f"{show(self.value)} " if self.value is not None else ""
        fix = f"; {self.fix}" if self.fix else ""
        return f"{where}{shown}{self.message}{fix}."

    def __str__(self) -> str:
        return self.text


def cell(value: Any) -> str:
    """A cell's text as kept on a problem."""
    text = str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


def problems_table(problems: list[Problem]) -> pd.DataFrame:
    """Problems as rows: row (spreadsheet numbering, empty for the whole file), column, value, problem, fix."""
    frame = pd.DataFrame(
        [(p.row, p.column, p.value, p.message, p.fix) for p in problems],
        columns=["row", "column", "value", "problem", "fix"],
    )
    frame["row"] = frame["row"].astype("Int64")
    return frame


class IngestReport(Contract):
    """What a load did (or, on an `IngestError`, would have done)."""

    table: str
    rows_in_file: int
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    problems: list[Problem] = Field(default_factory=list)
    source: str = ""
    ignored_columns: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    problem_count: int = 0
    seconds: float = 0.0
    checked_only: bool = False  # validate_file: the counts are what a load would do; nothing was written

    def summary(self) -> str:
        source = self.source or "the data"
        if self.problem_count or self.problems:
            count = self.problem_count or len(self.problems)
            text = (
                f"Refused {source} for {self.table}: {count:,} problem{'s' if count != 1 else ''} "
                f"in {self.rejected:,} of {self.rows_in_file:,} rows; nothing was written."
            )
            if self.problems:
                text += f" First: {self.problems[0].text}"
            return text
        if self.checked_only:
            text = (
                f"Checked {source} for {self.table}: all {self.rows_in_file:,} rows pass; loading it would insert "
                f"{self.inserted:,}, update {self.updated:,} and leave {self.unchanged:,} unchanged. "
                "Nothing was written yet."
            )
        else:
            text = (
                f"Loaded {source} into {self.table}: {self.rows_in_file:,} "
                f"row{'s' if self.rows_in_file != 1 else ''} read; {self.inserted:,} inserted, "
                f"{self.updated:,} updated, {self.unchanged:,} unchanged, {self.rejected:,} rejected."
            )
        if self.ignored_columns:
            text += f" Ignored columns (not part of {self.table}): {', '.join(self.ignored_columns)}."
        for note in self.notes:
            text += f" {note[0].upper()}{note[1:]}."
        return text


class IngestError(BadInputError):
    """A load refused as a whole; nothing was written.

    `.problems` lists what to fix (`Problem`s, up to MAX_LISTED), `.problem_count` is the
    total and `.report` the report of the refused load.
    """

    def __init__(self, problems: list[Problem], report: IngestReport | None = None, *, total: int | None = None):
        self.problems = list(problems)
        self.problem_count = total if total is not None else len(self.problems)
        self.report = report
        super().__init__(self._message())

    def _message(self) -> str:
        report = self.report
        heading = f"Could not load {report.source or 'the data'}" if report else "Could not load the data"
        if report is not None and report.table:
            heading += f" into {report.table}"
        count = self.problem_count
        if count == 1 and self.problems[0].row is None:
            return f"{heading}: {self.problems[0].text} Nothing was written."
        lines = [f"{heading}: {count:,} problem{'s' if count != 1 else ''}; nothing was written."]
        if any(p.row is not None for p in self.problems[:MAX_IN_MESSAGE]):
            lines[0] += (
                " Row numbers count the header as row 1, so the first data row is row 2 (as a spreadsheet shows it)."
            )
        lines += [f"  - {p.text}" for p in self.problems[:MAX_IN_MESSAGE]]
        if count > MAX_IN_MESSAGE:
            lines.append(f"  ... and {count - MAX_IN_MESSAGE:,} more problems")
        return "\n".join(lines)


def refuse(table: str, source: str, problem: Problem, rows: int = 0) -> IngestError:
    """The error refusing `source` for one problem (nothing read or written)."""
    report = IngestReport(
        table=table, rows_in_file=rows, rejected=rows, problems=[problem], source=source, problem_count=1
    )
    return IngestError([problem], report)


def file_problem(message: str, fix: str = "") -> Problem:
    """A problem with the whole file (no row): `message` says what is wrong, `fix` what to do."""
    return Problem(message=message, fix=fix)


def map_hint(column: str, source: str = "FILE_COLUMN") -> str:
    """How to say which file column holds `column`, in both places a file is loaded."""
    return f"pick the file column for {column} under Columns on the Data page (command line: --map {column}={source})"
