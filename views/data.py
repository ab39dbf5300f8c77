"""Data (admins): data health per table, and loading a CSV/Parquet file through the same
validated, all-or-nothing ingestion as `python -m engine ingest`; then refresh scores."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from components import ops
from components.shared import auth, cache
from components.shared import format as fmt
from components.shared.markdown import plain
from components.shared.status import read_only_notice
from engine.churn import retrain
from engine.core import exports
from engine.core.errors import RadarError
from engine.data import ingest
from engine.data.health import freshness
from engine.data.ingest import IngestError, events
from engine.data.warehouse import trial, writing

FLASH = "data_page_flash"
APP_WRITE_WAIT = 30  # seconds a check or load waits for a command that is writing, before saying so
LOADED = "data_page_loaded"
SAME_NAME = "(column of the same name, if any)"
LOADABLE = list(ingest.LOADABLE)  # customers first; predictions, ground_truth, customer_attributes are not loaded
TABLE_HELP = {
    "customers": "customer_id, signup_date required; any extra column is kept as a custom attribute",
    "subscriptions": "customer_id, product, start_date, mrr[, end_date …] → also derives mrr_history and churn dates",
    ingest.EVENT_LOG: "raw event log: customer_id, timestamp, event_type[, user_id, value] → usage_daily",
}

viewer = auth.require_viewer("data")
st.title("Data")
read_only_notice(viewer)
data_dir = cache.current_data_dir()

flash = st.session_state.pop(FLASH, None)
if flash:
    st.success(plain(flash), icon=":material/check_circle:")


def show_refusal(exc: IngestError) -> None:
    report = exc.report
    # Inert: the message quotes the file's own column names and values (an underscore was read as italics).
    said = report.summary() if report else str(exc).splitlines()[0]
    st.error(plain(ops.in_page_words(said) + " Row numbers count the header as row 1."), icon=":material/block:")
    table = ingest.problems_table(exc.problems)
    for column in ("problem", "fix"):
        table[column] = table[column].map(ops.in_page_words)
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "row": st.column_config.NumberColumn("Row", format="%d"),
            "column": "Column",
            "value": "Value",
            "problem": "Problem",
            "fix": "What to do",
        },
    )
    if exc.problem_count > len(exc.problems):
        st.caption(f"Showing the first {len(exc.problems):,} of {exc.problem_count:,} problems.")
    st.download_button("Problems as CSV", exports.csv_text(table), "load_problems.csv", "text/csv")


# -- data health ----------------------------------------------------------------------------------
st.subheader("Data health")
try:
    health = ops.health(data_dir, ops.data_stamp(data_dir))
except RadarError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()
st.caption(
    f"Data as of **{fmt.day(health.data_as_of)}** ({health.as_of_from}). "
    "Days behind: how far a table's newest row is from that day."
)
if health.date_warning:
    st.warning(health.date_warning, icon=":material/event_busy:")
st.dataframe(
    freshness(health.tables),
    hide_index=True,
    column_config={
        "table": "Table",
        "rows": st.column_config.NumberColumn("Rows", format="localized"),
        "first": "First date",
        "last": "Last date",
        "days_behind": st.column_config.TextColumn("Days behind", width="small"),
        "state": "State",
    },
)
for table, note in zip(health.tables["table"], health.tables["note"], strict=True):
    if isinstance(note, str):
        st.warning(plain(f"{table}: {note}."), icon=":material/schedule:")
with st.expander("Null rates per column"):
    nulls = health.nulls[health.nulls["nulls"] > 0]
    if nulls.empty:
        st.caption("No column has empty values.")
    else:
        st.dataframe(
            nulls,
            hide_index=True,
            column_config={"null_rate": st.column_config.NumberColumn("Null rate", format="percent")},
        )
    st.download_button("Null rates as CSV", exports.csv_text(health.nulls), "null_rates.csv", "text/csv")

# -- load a file ------------------------------------------------------------------------------------
st.subheader("Load a file")
st.caption(
    "Same checks as `.venv/bin/python -m engine ingest`: every row is validated, then the file is written in one "
    "transaction (new rows inserted, changed rows updated), or nothing is written. Load customers first."
)
table = st.selectbox(
    "Table", LOADABLE, key="load_table", format_func=lambda t: f"{t} — {TABLE_HELP[t]}" if t in TABLE_HELP else t
)
upload = st.file_uploader("CSV or Parquet file", type=["csv", "txt", "tsv", "parquet", "pq"], key="load_file")


def event_log_options(guess: str | None) -> tuple[str, str | None]:
    """(mode, epoch) of engine.data.ingest.events.load_events: what an event log holds and how
    its timestamps are written (`guess`, the unit the preview's timestamps are in, is the default)."""
    left, right = st.columns(2)
    mode = left.selectbox(
        ops.EVENT_MODE_LABEL,
        list(events.MODES),
        format_func=lambda m: f"{m} — {events.MODES[m]}",
        key="event_mode",
        help="A log need not hold whole days: say whether its days are new, add to what is loaded, or replace it.",
    )
    stamps = list(ops.TIMESTAMP_CHOICES)
    unit = right.selectbox(
        ops.TIMESTAMPS_LABEL,
        stamps,
        index=stamps.index(guess or "text"),
        format_func=ops.TIMESTAMP_CHOICES.__getitem__,
        # A new guess (another file or timestamp column) is a new default, not the last file's choice.
        key=f"event_epoch_{guess or 'text'}",
        help="Guessed from the preview: 10-digit numbers are Unix seconds, 13-digit ones milliseconds."
        if guess
        else None,
    )
    return mode, None if unit == "text" else unit


def load_section(path: Path, source_name: str) -> None:
    """Preview, column mapping, check and load of one uploaded file (a private copy at `path`)."""
    try:
        preview = ingest.preview_file(path)
    except IngestError as exc:
        show_refusal(exc)
        st.stop()
    st.markdown(f"**Preview** of `{source_name}` (first {len(preview)} rows, as read)")
    st.dataframe(preview, hide_index=True)

    st.markdown("**Columns**")
    spec = ingest.expected_columns(table)
    file_columns = [str(c) for c in preview.columns]
    lower = {c.lower(): c for c in file_columns}
    mapping: dict[str, str] = {}
    guesses = ingest.guess_mapping(table, file_columns)  # "account_id" for customer_id
    grid = st.columns(4)
    for i, column in enumerate(spec):
        options = [SAME_NAME, *file_columns]
        default = lower.get(column.name.lower()) or guesses.get(column.name)
        picked = grid[i % 4].selectbox(
            f"{column.name}{' *' if column.required else ''}",
            options,
            index=options.index(default) if default else 0,
            key=f"map_{table}_{column.name}",
            help=f"{column.type}{', required' if column.required else ', optional'}",
        )
        if picked != SAME_NAME and picked != column.name:
            mapping[column.name] = picked
    st.caption(
        "Columns marked \\* are required. A column left on the first choice is taken from the file column of "
        "the same name."
        + (
            " Picked from the file's own names, check them: "
            + ", ".join(f"{dst} ← {src}" for dst, src in guesses.items())
            + "."
            if guesses
            else ""
        )
    )
    if table == "customers":
        extra = [c for c in file_columns if c.lower() not in {col.name for col in spec} and c not in mapping.values()]
        if extra:
            st.caption(
                f"Kept as custom account attributes (typed number / category / date; mostly unique text is not kept): "
                f"{', '.join(extra)}."
            )

    if table == ingest.EVENT_LOG:
        stamp_column = mapping.get("timestamp") or lower.get("timestamp")
        guess = events.guess_epoch(preview[stamp_column]) if stamp_column in preview else None
        mode, epoch = event_log_options(guess)
    else:
        mode, epoch = None, None
    check, load = st.columns(2)
    if check.button("Check the file", icon=":material/fact_check:", key="check_file", width="stretch"):
        try:
            with trial(data_dir, f"check {table} on the Data page", wait=APP_WRITE_WAIT) as wh:
                report = ingest.validate_file(wh, table, path, mapping, mode=mode, epoch=epoch)
        except IngestError as exc:
            show_refusal(exc)
        except RadarError as exc:
            st.error(plain(ops.in_page_words(str(exc))), icon=":material/error:")
        else:
            st.info(plain(report.summary()), icon=":material/fact_check:")
    if load.button(
        "Load into the warehouse",
        icon=":material/upload:",
        type="primary",
        key="commit_file",
        width="stretch",
        disabled=not viewer.can("load_data"),
    ):
        try:
            viewer.require("load_data")
            with writing(data_dir, f"load {table} from the Data page", wait=APP_WRITE_WAIT) as wh:
                report = ingest.load_file(wh, table, path, mapping, mode=mode, epoch=epoch)
        except IngestError as exc:
            show_refusal(exc)
        except RadarError as exc:
            st.error(plain(ops.in_page_words(str(exc))), icon=":material/error:")
        else:
            ops.after_change()
            st.session_state[LOADED] = True
            st.session_state[FLASH] = report.summary()
            st.rerun()


if upload is not None:
    # A private copy (0600 in a 0700 folder) for the path-based readers, deleted when this run ends.
    source_name = Path(upload.name).name
    with ingest.private_upload(source_name, upload.getvalue()) as path:
        load_section(path, source_name)

# -- refresh scores ----------------------------------------------------------------------------------
st.subheader("Scores")
ready = cache.readiness(data_dir)
# When scores serve, say how many and from when (the line `info` prints), not just the model's name.
said = ready.message
if ready.ready:
    line = cache.score_status(data_dir).text
    said = f"{line[:1].upper()}{line[1:]}."
st.caption(
    said
    + (" New data is loaded: refresh the scores so the risk board uses it." if st.session_state.get(LOADED) else "")
)
if st.button(
    "Refresh scores",
    icon=":material/refresh:",
    key="refresh_scores",
    disabled=ready.status in ("no_model", "model_unavailable") or not viewer.can("load_data"),
):
    try:
        with st.status("Scoring every active customer…", expanded=True) as status:
            bar = st.progress(0.0)

            def advance(fraction: float, message: str) -> None:
                bar.progress(min(fraction, 1.0), text=message)

            result = retrain.refresh_scores(viewer, data_dir, progress=advance)
            status.update(label="Scores refreshed", state="complete", expanded=False)
    except RadarError as exc:
        st.error(str(exc), icon=":material/error:")
    else:
        ops.after_change()
        st.session_state.pop(LOADED, None)
        st.session_state[FLASH] = (
            f"Scored {result.customers:,} customers as of {fmt.day(result.as_of)} with {result.model_version} "
            f"in {result.seconds:.1f} s."
        )
        st.rerun()
