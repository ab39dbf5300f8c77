"""The latest scores of the key's book, page by page or as one file, and one prediction from a
feature row.

Pages and exports share one order, highest churn probability first and then customer id, so
paging is stable while the scores stay the same; both read the risk board's rows
(`engine.accounts.board`), so a CSM key sees exactly its own book.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from engine.accounts import board
from engine.api import serving
from engine.api.auth import Caller, Reader, ScoresRead
from engine.api.errors import documented
from engine.api.models import (
    FeatureSchema,
    PredictionRow,
    PredictionsPage,
    PredictRequest,
    PredictResult,
    contract_json,
)
from engine.churn import status as churn_status
from engine.churn.risk import Tier
from engine.core.contracts import records
from engine.core.kept import Kept
from engine.data.warehouse import Warehouse

router = APIRouter(tags=["predictions"])

MAX_PAGE_SIZE = 1000
CSV_CHUNK_ROWS = 5000
PARQUET_CHUNK_BYTES = 1 << 20
ORDER = (["churn_probability", "customer_id"], [False, True])


# The book's scores sorted once per published snapshot and book, since a CRM sync pages
# through the same scores again and again; a new snapshot (new scores) has a new generation.
_boards: Kept[pd.DataFrame] = Kept(8)


def _sorted_board(wh: Warehouse, caller: Caller) -> pd.DataFrame:
    viewer = caller.viewer
    by, ascending = ORDER
    return _boards.get(
        (str(wh.path), wh.generation, None if viewer.sees_everyone else viewer.book_owner),
        lambda: (
            board.board_frame(wh, viewer).sort_values(by, ascending=ascending, kind="stable").reset_index(drop=True)
        ),
    )


def _latest_scores(wh: Warehouse, caller: Caller, tier: str | None, owner: str | None) -> pd.DataFrame:
    frame = _sorted_board(wh, caller)
    if not tier and not owner:
        return frame
    filters = board.BoardFilters(tiers=(tier,) if tier else (), owners=(owner,) if owner else ())
    return board.filter_board(frame, filters).reset_index(drop=True)


@router.get(
    "/predictions",
    response_model=PredictionsPage,
    summary="The latest churn scores, a page at a time (highest probability first)",
)
def predictions(
    caller: ScoresRead,
    wh: Reader,
    tier: Annotated[Tier | None, Query(description="only this risk tier")] = None,
    owner: Annotated[str | None, Query(description="only accounts of this CSM (csm_owner)")] = None,
    page: Annotated[int, Query(ge=1, description="page number, from 1")] = 1,
    page_size: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"rows per page, at most {MAX_PAGE_SIZE}")
    ] = 100,
) -> Response:
    scores = _latest_scores(wh, caller, tier, owner)
    rows = board.export_frame(scores.iloc[(page - 1) * page_size : page * page_size])
    as_of = scores["as_of"].max() if len(scores) else None
    pages = max(1, -(-len(scores) // page_size))
    return contract_json(
        PredictionsPage(
            items=[PredictionRow.model_validate(r) for r in records(rows)],
            page=page,
            page_size=page_size,
            total=len(scores),
            pages=pages,
            as_of=pd.Timestamp(as_of).date() if as_of is not None and pd.notna(as_of) else None,
            model_version=str(scores["model_version"].iloc[0]) if len(scores) else None,
            note=_empty_page_note(wh, caller, tier, owner, page, pages, len(scores)) if rows.empty else None,
        )
    )


def _empty_page_note(
    wh: Warehouse, caller: Caller, tier: str | None, owner: str | None, page: int, pages: int, total: int
) -> str:
    """Why a page holds no rows, so a CRM sync can tell "nothing yet" from "nothing matches"."""
    if total:
        return f"Page {page} is past the last page ({pages})."
    readiness = churn_status.model_readiness(wh, caller.data_dir)
    if readiness.pending:  # the app's message goes on about its pages; a client needs the date
        return f"No churn scores yet. {churn_status.too_young(wh)}"
    if not readiness.ready:
        return readiness.message
    if len(_sorted_board(wh, caller)):
        asked = ", ".join(f"{name} {value!r}" for name, value in (("tier", tier), ("owner", owner)) if value)
        return f"No account in the latest scores matches {asked}."
    return "No active account of this key's book has a score in the latest scoring run."


def _csv_chunks(frame: pd.DataFrame) -> Iterator[bytes]:
    for start in range(0, max(len(frame), 1), CSV_CHUNK_ROWS):
        chunk = frame.iloc[start : start + CSV_CHUNK_ROWS]
        yield chunk.to_csv(index=False, header=start == 0, date_format="%Y-%m-%d").encode()


def _parquet_chunks(frame: pd.DataFrame) -> Iterator[bytes]:
    # Parquet's footer comes last, so the file is written whole, then sent in pieces.
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    data = buffer.getbuffer()
    for start in range(0, len(data), PARQUET_CHUNK_BYTES):
        yield bytes(data[start : start + PARQUET_CHUNK_BYTES])


@router.get(
    "/predictions/export",
    summary="Every latest score of the key's book as one CSV or Parquet file (for a CRM sync)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}}},
)
def export(
    caller: ScoresRead,
    wh: Reader,
    file_format: Annotated[Literal["csv", "parquet"], Query(alias="format")] = "csv",
    tier: Annotated[Tier | None, Query(description="only this risk tier")] = None,
    owner: Annotated[str | None, Query(description="only accounts of this CSM (csm_owner)")] = None,
) -> StreamingResponse:
    scores = board.export_frame(_latest_scores(wh, caller, tier, owner))
    as_of = pd.Timestamp(scores["as_of"].max()).date() if len(scores) else None
    name = f"predictions_{as_of or 'none'}.{file_format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "X-Total-Count": str(len(scores))}
    if file_format == "parquet":
        return StreamingResponse(_parquet_chunks(scores), media_type="application/vnd.apache.parquet", headers=headers)
    return StreamingResponse(_csv_chunks(scores), media_type="text/csv; charset=utf-8", headers=headers)


@router.get(
    "/predict/schema",
    response_model=FeatureSchema,
    summary="The features POST /v1/predict accepts: names, kinds and known categories",
    responses=documented(503),
)
def predict_schema(caller: ScoresRead) -> Response:
    version, model = serving.production_model(caller.data_dir)
    return contract_json(serving.feature_schema(version, model))


@router.post(
    "/predict",
    response_model=PredictResult,
    summary="One churn prediction from a feature row, with the production model",
    responses=documented(503),
)
def predict(body: PredictRequest, caller: ScoresRead) -> Response:
    version, model = serving.production_model(caller.data_dir)
    return contract_json(serving.predict(version, model, body.features))
