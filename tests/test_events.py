"""Raw event logs rolled up into usage_daily by DuckDB (engine.data.ingest.events): timestamps
in every shape, values, globs, the three modes, unknown customers, and refusals that name rows
and write nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine import cli
from engine.data import cli as data_cli
from engine.data.ingest import IngestError, events, load_file, validate_file
from engine.data.warehouse import get_warehouse

DAYS = "SELECT customer_id, date, event_type, events, active_users, value FROM usage_daily ORDER BY ALL"


@pytest.fixture
def wh(empty_dir):
    """A warehouse with customers c1 and c2 and no usage yet."""
    wh = get_warehouse(empty_dir)
    wh.execute(
        "INSERT INTO customers (customer_id, name, signup_date, status) VALUES "
        "('c1', 'Acme', DATE '2023-01-01', 'active'), ('c2', 'Beta', DATE '2023-01-01', 'active')"
    )
    return wh


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def snapshot(wh) -> list[tuple]:
    return wh.rows(DAYS)


# Five events: c1 logs in three times on 2024-03-01 (two users, values 1.5 + 2 + none) and views
# a report on 03-02; c2 logs in on 03-01. As UTC times:
MOMENTS = [
    ("c1", datetime(2024, 3, 1, 9, 0), "login", "u1", "1.5"),
    ("c1", datetime(2024, 3, 1, 23, 30), "login", "u2", "2"),
    ("c1", datetime(2024, 3, 1, 0, 0), "login", "u1", ""),
    ("c1", datetime(2024, 3, 2, 8, 15), "report_view", "", "4"),
    ("c2", datetime(2024, 3, 1, 12, 0), "login", "u7", ""),
]
EXPECTED = [
    ("c1", date(2024, 3, 1), "login", 3, 2, 3.5),
    ("c1", date(2024, 3, 2), "report_view", 1, None, 4.0),
    ("c2", date(2024, 3, 1), "login", 1, 1, None),
]


def log_text(stamp) -> str:
    lines = ["customer_id,timestamp,event_type,user_id,value"]
    lines += [f"{c},{stamp(t)},{e},{u},{v}" for c, t, e, u, v in MOMENTS]
    return "\n".join(lines) + "\n"


def epoch_seconds(t: datetime) -> int:
    return int(t.replace(tzinfo=UTC).timestamp())


SHAPES = {
    "iso": (lambda t: t.isoformat(sep=" "), None),
    "iso_t_z": (lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"), None),
    # The same moments written in New York time with their offset: the day is still the UTC day.
    "offset": (
        lambda t: t.replace(tzinfo=UTC).astimezone(pd.Timestamp("2024-03-01", tz="America/New_York").tz).isoformat(),
        None,
    ),
    "epoch_s": (lambda t: str(epoch_seconds(t)), "s"),
    "epoch_ms": (lambda t: str(epoch_seconds(t) * 1000), "ms"),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_every_timestamp_shape_gives_the_same_usage_daily(shape, wh, tmp_path):
    stamp, epoch = SHAPES[shape]
    report = events.load_events(wh, write(tmp_path, "log.csv", log_text(stamp)), epoch=epoch)
    assert snapshot(wh) == EXPECTED
    assert (report.table, report.rows_in_file, report.inserted, report.updated) == ("usage_daily", 5, 3, 0)
    assert "Rolled up 5 events into 3 usage_daily rows" in report.summary()


def test_offsets_become_the_utc_day(wh, tmp_path):
    # 01:30 in UTC+2 is 23:30 the day before in UTC; 20:00 in UTC-5 is 01:00 the next day.
    text = (
        "customer_id,timestamp,event_type\n"
        "c1,2024-03-02T01:30:00+02:00,login\n"
        "c1,2024-03-01T20:00:00-05:00,login\n"
        "c1,2024-03-01 12:00,login\n"
    )
    events.load_events(wh, write(tmp_path, "tz.csv", text))
    assert wh.rows("SELECT date, events FROM usage_daily ORDER BY date") == [
        (date(2024, 3, 1), 2),
        (date(2024, 3, 2), 1),
    ]


def test_dates_and_typed_parquet_columns(wh, tmp_path):
    frame = pd.DataFrame(
        {
            "customer_id": ["c1", "c1", "c2"],
            "timestamp": pd.to_datetime(["2024-03-01 09:00:00", "2024-03-01 23:59:59", "2024-03-02 00:00:00"]),
            "event_type": ["login", "login", "export"],
            "value": [1.0, 2.5, None],
        }
    )
    frame.to_parquet(tmp_path / "typed.parquet")
    events.load_events(wh, tmp_path / "typed.parquet")
    dates = "customer_id,timestamp,event_type\nc2,2024-03-03,export\n"
    events.load_events(wh, write(tmp_path, "dates.csv", dates))
    assert wh.rows("SELECT customer_id, date, event_type, events, value FROM usage_daily ORDER BY ALL") == [
        ("c1", date(2024, 3, 1), "login", 2, 3.5),
        ("c2", date(2024, 3, 2), "export", 1, None),
        ("c2", date(2024, 3, 3), "export", 1, None),
    ]
    # Unix times typed as integers in Parquet need their unit.
    ints = pd.DataFrame({"customer_id": ["c1"], "timestamp": [1709337600000], "event_type": ["x"]})
    ints.to_parquet(tmp_path / "ints.parquet")
    with pytest.raises(IngestError, match="--epoch s .* or --epoch ms"):
        events.load_events(wh, tmp_path / "ints.parquet")
    events.load_events(wh, tmp_path / "ints.parquet", epoch="ms")
    assert wh.scalar("SELECT date FROM usage_daily WHERE event_type = 'x'") == date(2024, 3, 2)


def test_a_glob_of_two_files_is_one_log(wh, tmp_path):
    text = log_text(SHAPES["iso"][0]).splitlines()
    write(tmp_path, "part-1.csv", "\n".join(text[:3]) + "\n")
    # The second file orders its columns differently and uses ';': each file is read by its own header.
    rest = pd.read_csv(pd.io.common.StringIO("\n".join([text[0], *text[3:]])), dtype=str, keep_default_na=False)
    rest[["value", "event_type", "timestamp", "customer_id", "user_id"]].to_csv(
        tmp_path / "part-2.csv", sep=";", index=False
    )
    report = events.load_events(wh, str(tmp_path / "part-*.csv"))
    assert snapshot(wh) == EXPECTED
    assert report.rows_in_file == 5 and report.source == "2 files (part-1.csv … part-2.csv)"
    # Parquet globs too.
    wh.execute("DELETE FROM usage_daily")
    for i, chunk in enumerate((MOMENTS[:2], MOMENTS[2:])):
        pd.DataFrame(
            {
                "customer_id": [m[0] for m in chunk],
                "timestamp": [m[1] for m in chunk],
                "event_type": [m[2] for m in chunk],
                "user_id": [m[3] or None for m in chunk],
                "value": [float(m[4]) if m[4] else None for m in chunk],
            }
        ).to_parquet(tmp_path / f"p{i}.parquet")
    events.load_events(wh, str(tmp_path / "p*.parquet"))
    assert snapshot(wh) == EXPECTED


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_large_log_rolled_up_in_passes_gives_the_same_totals(kind, wh, tmp_path, monkeypatch):
    """Passes over disjoint customers (bounded memory) add up to the one-pass roll-up."""
    path = write(tmp_path, "log.csv", log_text(SHAPES["iso"][0]))
    if kind == "parquet":
        pd.read_csv(path, dtype=str, keep_default_na=False).replace("", None).astype({"value": "float64"}).to_parquet(
            tmp_path / "log.parquet"
        )
        path = tmp_path / "log.parquet"
    monkeypatch.setattr(events, "_rows_per_pass", lambda: 1)
    monkeypatch.setattr(events, "CSV_BYTES_PER_ROW", 1)
    events.load_events(wh, path)
    assert snapshot(wh) == EXPECTED


@pytest.mark.parametrize("passes", [1, 7])
def test_users_values_and_counts_match_an_independent_roll_up(passes, wh, tmp_path, monkeypatch):
    """20,000 events of two customers, with users that repeat within a day and across days,
    some without a user or a value: the roll-up equals pandas' own (count, distinct users, sum),
    in one pass and in several."""
    rng = np.random.default_rng(3)
    n = 20_000
    log = pd.DataFrame(
        {
            "customer_id": rng.choice(["c1", "c2"], n),
            "timestamp": pd.Timestamp("2024-03-01") + pd.to_timedelta(rng.integers(0, 30 * 86400, n), unit="s"),
            "event_type": rng.choice(["login", "export", "search"], n),
            "user_id": pd.Series(rng.choice([f"u{i}" for i in range(40)] + [None], n), dtype="str"),
            "value": np.where(rng.random(n) < 0.3, np.nan, rng.random(n).round(2)),
        }
    )
    log.to_parquet(tmp_path / "log.parquet", index=False)
    monkeypatch.setattr(events, "_rows_per_pass", lambda: -(-n // passes))
    events.load_events(wh, tmp_path / "log.parquet")
    grouped = log.assign(date=log["timestamp"].dt.normalize()).groupby(["customer_id", "date", "event_type"])
    expected = grouped.agg(
        events=("value", "size"), users=("user_id", "nunique"), value=("value", lambda v: v.sum(min_count=1))
    )
    got = wh.df(DAYS).set_index(["customer_id", "date", "event_type"])
    assert len(got) == len(expected)
    assert got["events"].to_dict() == expected["events"].to_dict()
    assert got["active_users"].to_dict() == expected["users"].to_dict()
    assert np.allclose(got["value"].to_numpy(float), expected.loc[got.index, "value"].to_numpy(float), equal_nan=True)


@pytest.mark.parametrize(
    ("limit", "rows"),
    [("2GB", 40_000_000), ("512MB", 10_240_000), ("4GiB", 80_000_000), (" 3 gb ", 60_000_000), ("lots", 40_000_000)],
)
def test_a_pass_holds_rows_in_proportion_to_the_memory_limit(limit, rows, monkeypatch):
    monkeypatch.setenv("RADAR_INGEST_MEMORY", limit)
    assert events._rows_per_pass() == rows


# -- modes: a partial day is never silently lost ----------------------------------------------------------
MORNING = "customer_id,timestamp,event_type,value\n" + "c1,2024-03-01 09:00,login,1\n" * 7
AFTERNOON = (
    "customer_id,timestamp,event_type,value\n" + "c1,2024-03-01 15:00,login,2\n" * 4 + ("c1,2024-03-02 10:00,login,\n")
)


def test_new_days_refuses_days_already_loaded_and_names_the_choices(wh, tmp_path):
    events.load_events(wh, write(tmp_path, "am.csv", MORNING))
    before = snapshot(wh)
    with pytest.raises(IngestError) as caught:
        load_file(wh, "events", write(tmp_path, "pm.csv", AFTERNOON))  # the default mode is new-days
    message = str(caught.value)
    assert "1 of the file's usage rows (1 customer-day, e.g. c1 on 2024-03-01) already have totals" in message
    assert "--mode append" in message and "--mode replace-days" in message
    assert snapshot(wh) == before  # the new day 03-02 was not written either
    # The same file again: refused too, and said to look loaded already.
    with pytest.raises(IngestError, match="looks loaded already"):
        events.load_events(wh, write(tmp_path, "am2.csv", MORNING))


def test_append_adds_the_file_to_the_days_totals(wh, tmp_path):
    events.load_events(wh, write(tmp_path, "am.csv", MORNING))
    report = events.load_events(wh, write(tmp_path, "pm.csv", AFTERNOON), mode="append")
    assert wh.rows("SELECT date, events, value FROM usage_daily ORDER BY date") == [
        (date(2024, 3, 1), 11, 15.0),  # 7 + 4 events, 7 x 1 + 4 x 2
        (date(2024, 3, 2), 1, None),
    ]
    assert (report.inserted, report.updated) == (1, 1)
    assert "Mode append: 1 usage rows added, 1 added to" in report.summary()


def test_replace_days_replaces_those_days_and_is_idempotent(wh, tmp_path):
    events.load_events(wh, write(tmp_path, "am.csv", MORNING))
    wh.execute(
        "INSERT INTO usage_daily (customer_id, date, event_type, events) VALUES ('c1', DATE '2024-03-01', 'export', 3)"
    )
    path = write(tmp_path, "pm.csv", AFTERNOON)
    report = events.load_events(wh, path, mode="replace-days")
    assert wh.rows("SELECT date, event_type, events FROM usage_daily ORDER BY ALL") == [
        (date(2024, 3, 1), "export", 3),  # a type the file does not carry is kept
        (date(2024, 3, 1), "login", 4),  # replaced: the file holds the whole day
        (date(2024, 3, 2), "login", 1),
    ]
    assert (report.inserted, report.updated, report.unchanged) == (1, 1, 0)
    assert "1 replaced" in report.summary()
    again = events.load_events(wh, path, mode="replace-days")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)


def test_checking_a_file_writes_nothing(wh, tmp_path):
    path = write(tmp_path, "am.csv", MORNING)
    report = validate_file(wh, "events", path)
    assert report.checked_only and report.inserted == 1
    assert snapshot(wh) == []


# -- refusals ----------------------------------------------------------------------------------------------------
def test_unknown_customers_are_one_problem(wh, tmp_path):
    text = "customer_id,timestamp,event_type\n" + "".join(f"ghost{i},2024-03-01,login\n" for i in range(7))
    with pytest.raises(IngestError) as caught:
        events.load_events(wh, write(tmp_path, "g.csv", text + "c1,2024-03-01,login\n"))
    assert caught.value.problem_count == 1
    assert "load customers first: 7 customer ids are unknown, e.g. ghost0, ghost1, ghost2" in str(caught.value)
    assert snapshot(wh) == []


BAD = """\
customer_id,timestamp,event_type,value
c1,2024-03-01 09:00,login,1

,2024-03-01 09:00,login,1
c1,yesterday,login,1
c1,1709280000,login,1
c1,2024-03-01 10:00,login,-2
c1,2024-03-01 10:00,login,lots
c1,1850-01-01,login,
c1,2024-03-01 11:00,,
"""


def test_bad_rows_are_refused_with_their_rows_and_nothing_is_written(wh, tmp_path):
    before = snapshot(wh)
    with pytest.raises(IngestError) as caught:
        events.load_events(wh, write(tmp_path, "bad.csv", BAD))
    error = caught.value
    message = str(error)
    # The blank line is skipped and not counted, as everywhere else.
    assert "row 3, column customer_id: is empty, but every row needs a customer_id" in message
    assert "row 4, column timestamp: 'yesterday' is not a date-time" in message
    assert "row 5, column timestamp: '1709280000' is not a date-time; it looks like Unix seconds" in message
    assert "load with --epoch s" in message
    assert "row 6, column value: '-2' is below 0" in message
    assert "row 7, column value: 'lots' is not a number" in message
    assert "row 8, column timestamp: '1850-01-01' is before 1990-01-01" in message
    assert "row 9, column event_type: is empty" in message
    assert error.problem_count == 7 and error.report.rejected == 7 and error.report.rows_in_file == 8
    assert snapshot(wh) == before


def test_unix_times_in_the_wrong_unit_are_named_by_the_unit_they_look_like(wh, tmp_path):
    """An export in milliseconds read as seconds was "in the future ... check the source system's
    clock"; with no unit said, "load with --epoch s or --epoch ms". 13 digits are milliseconds."""
    before = snapshot(wh)
    log = write(tmp_path, "ms.csv", "customer_id,timestamp,event_type\nc1,1761955204000,login\n")
    with pytest.raises(IngestError) as caught:
        events.load_events(wh, log, epoch="s")
    assert "read as Unix seconds, but it looks like Unix milliseconds" in str(caught.value)
    assert caught.value.problems[0].fix == "load with --epoch ms"
    with pytest.raises(IngestError) as caught:
        events.load_events(wh, log)
    assert caught.value.problems[0].message.endswith("it looks like Unix milliseconds")
    seconds = write(tmp_path, "s.csv", "customer_id,timestamp,event_type\nc1,1709280000,login\n")
    with pytest.raises(IngestError) as caught:
        events.load_events(wh, seconds, epoch="ms")  # 1970-01-20: before the earliest date
    assert caught.value.problems[0].fix == "load with --epoch s"
    assert snapshot(wh) == before
    assert events.unix_unit("1761955204") == "s" and events.unix_unit("1761955204000.5") == "ms"
    assert events.unix_unit("123456789012") is None and events.unix_unit("2025-11-01") is None


def test_the_timestamp_unit_is_guessed_only_when_every_cell_agrees():
    assert events.guess_epoch(["1761955204000", "", None, "NA", 1761955205000.0]) == "ms"
    assert events.guess_epoch(pd.Series([1761955204, 1761955300], dtype="int64")) == "s"
    assert events.guess_epoch(["1761955204", "1761955204000"]) is None  # mixed units: the person decides
    assert events.guess_epoch(["1761955204", "2025-11-01"]) is None
    assert events.guess_epoch(["2025-11-01T10:00:00"]) is None and events.guess_epoch([]) is None


def test_bad_rows_in_a_glob_and_in_parquet_name_the_file(wh, tmp_path):
    write(tmp_path, "a.csv", "customer_id,timestamp,event_type\nc1,2024-03-01,login\n")
    write(tmp_path, "b.csv", "customer_id,timestamp,event_type\nc1,2024-03-01,login\nc1,2124-03-01,login\n")
    with pytest.raises(IngestError, match=r"row 3, column timestamp: '2124-03-01' is in the future .*\(in b.csv\)"):
        events.load_events(wh, str(tmp_path / "*.csv"))
    frame = pd.DataFrame({"customer_id": ["c1", "c1", None], "timestamp": ["2024-03-01"] * 3, "event_type": ["x"] * 3})
    frame.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(IngestError, match="row 4, column customer_id: is empty"):
        events.load_events(wh, tmp_path / "bad.parquet")
    assert snapshot(wh) == []


def test_malformed_files_and_options_are_refused(wh, tmp_path):
    wide = "customer_id,timestamp,event_type\n" + "c1,2024-03-01,a\n" * 9 + "c1,x,y,z\n"
    with pytest.raises(IngestError, match="line 11 could not be read: Expected Number of Columns: 3 Found: 4"):
        events.load_events(wh, write(tmp_path, "wide.csv", wide))
    with pytest.raises(IngestError, match="missing required column event_type"):
        events.load_events(wh, write(tmp_path, "narrow.csv", "customer_id,timestamp\nc1,2024-03-01\n"))
    with pytest.raises(IngestError, match="no data rows"):
        events.load_events(wh, write(tmp_path, "empty.csv", "customer_id,timestamp,event_type\n"))
    with pytest.raises(IngestError, match="no file matches"):
        events.load_events(wh, str(tmp_path / "nothing-*.csv"))
    with pytest.raises(IngestError, match="unknown mode 'merge'"):
        events.load_events(wh, write(tmp_path, "ok.csv", MORNING), mode="merge")
    assert snapshot(wh) == []


def test_memory_settings_are_restored(wh, tmp_path):
    limit = wh.scalar("SELECT current_setting('memory_limit')")
    events.load_events(wh, write(tmp_path, "am.csv", MORNING))
    assert wh.scalar("SELECT current_setting('memory_limit')") == limit


def test_cli_takes_mode_epoch_and_a_glob(wh, empty_dir, tmp_path, capsys):
    assert list(data_cli.EVENT_MODES) == list(events.MODES) and list(data_cli.EPOCH_CHOICES) == list(events.EPOCH_UNITS)
    write(tmp_path, "e1.csv", "account,ts,event_type\nc1,1709280000,login\n")
    write(tmp_path, "e2.csv", "account,ts,event_type\nc1,1709283600,login\n")
    args = ["--data-dir", str(empty_dir), "ingest", "events", str(tmp_path / "e*.csv"), "--epoch", "s"]
    args += ["--map", "customer_id=account", "--map", "timestamp=ts"]
    assert cli.main(args) == 0
    assert "Rolled up 2 events into 1 usage_daily rows" in capsys.readouterr().out
    assert cli.main(args) == 2
    assert "already have totals" in capsys.readouterr().err
    assert cli.main([*args, "--mode", "append"]) == 0
    assert get_warehouse(empty_dir).scalar("SELECT events FROM usage_daily") == 4


def test_data_page_offers_the_three_modes(scored_copy, monkeypatch):
    from engine.data import warehouse
    from tests.apptest import open_page

    wh = warehouse.get_warehouse(scored_copy)
    cid, day, kind, count = wh.rows(
        "SELECT customer_id, date, event_type, events FROM usage_daily ORDER BY date DESC, customer_id LIMIT 1"
    )[0]
    log = f"customer_id,timestamp,event_type\n{cid},{day} 12:00:00,{kind}\n"
    at = open_page("data", "admin", data=scored_copy, monkeypatch=monkeypatch)
    at.selectbox(key="load_table").set_value("events").run()
    at.file_uploader[0].set_value(("more_events.csv", log.encode(), "text/csv"))
    at.run()
    labels = at.selectbox(key="event_mode").options
    assert [label.split(" — ")[0] for label in labels] == list(events.MODES)
    at.button(key="commit_file").click().run()
    assert not at.exception and "already have totals" in at.error[0].value  # new-days: refused, nothing written
    at.selectbox(key="event_mode").set_value("append").run()
    at.button(key="commit_file").click().run()
    assert not at.exception and not at.error
    assert "1 added to" in at.success[0].value
    now = warehouse.get_warehouse(scored_copy).scalar(
        "SELECT events FROM usage_daily WHERE customer_id = ? AND date = ? AND event_type = ?", [cid, day, kind]
    )
    assert now == count + 1
