"""Bring-your-own-table mode: `train-table` / `predict-table` through the CLI.

The tables are built here: churn depends on support tickets, monthly spend and plan
(known effects), region is noise, and the id, an email, a constant and a churn date
(a leak) must never become features.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from engine import cli
from engine.churn import registry
from engine.churn import table as table_model
from engine.core import store
from engine.core.contracts import from_json, to_dict, to_json

BAGS = "2"  # two ensemble members keep each training run well under a second


def make_table(n: int, seed: int, labels: tuple[str, str] = ("Yes", "No")) -> pd.DataFrame:
    """A customer table whose churn risk rises with tickets, falls with spend, and is
    highest on the basic plan; `labels` spells churned / retained."""
    rng = np.random.default_rng(seed)
    tickets = rng.poisson(2.0, n)
    spend = rng.gamma(2.0, 200.0, n).round(2)
    plan = rng.choice(["basic", "pro", "enterprise"], n, p=[0.5, 0.35, 0.15])
    logit = -1.6 + 0.6 * tickets - 0.004 * spend + np.select([plan == "basic", plan == "pro"], [0.9, 0.0], -0.9)
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "account": [f"ACC-{seed}-{i:05d}" for i in range(n)],
            "support_tickets": tickets,
            "monthly_spend": spend,
            "plan": plan,
            "region": rng.choice(["EMEA", "NA", "APAC"], n),
            "email": [f"user{i}@example-{seed}.com" for i in range(n)],
            "source": "crm",
            "signup_date": (pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D")).strftime(
                "%Y-%m-%d"
            ),
            "churn_date": np.where(churned, "2025-03-01", ""),
            "churned": np.where(churned, labels[0], labels[1]),
        }
    )


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A data dir with one table model (table-v1) trained through the CLI on a CSV with
    Yes/No labels, and the parsed --json report of that run."""
    root = tmp_path_factory.mktemp("table")
    make_table(1500, seed=11).to_csv(root / "customers.csv", index=False)
    data = root / "data"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = cli.main(
            ["--data-dir", str(data), "train-table", str(root / "customers.csv"), "--id", "account"]
            + ["--label", "churned", "--bags", BAGS, "--json"]
        )
    assert code == 0
    yield {"data": data, "report": json.loads(printed.getvalue()), "text": printed.getvalue()}
    store.dispose_all()


@pytest.fixture
def trained_copy(trained, tmp_path):
    """A private, writable copy of the trained data dir (for tampering)."""
    target = tmp_path / "data"
    shutil.copytree(trained["data"], target)
    yield target
    store.dispose_all()


# -- training ---------------------------------------------------------------------------------
def test_train_table_reports_features_dropped_columns_and_holdout_metrics(trained):
    report = trained["report"]
    assert report["version"] == "table-v1" and report["kind"] == "table"
    assert report["rows"] == 1500
    types = {f["name"]: f["type"] for f in report["features"]}
    assert types == {
        "support_tickets": "numeric",
        "monthly_spend": "numeric",
        "plan": "categorical",
        "region": "categorical",
        "signup_date": "date",
    }
    plan = next(f for f in report["features"] if f["name"] == "plan")
    assert plan["levels"] == ["basic", "enterprise", "pro"]
    reasons = {d["column"]: d["reason"] for d in report["dropped"]}
    assert set(reasons) == {"email", "source", "churn_date"}
    assert "near-unique" in reasons["email"]
    assert "constant" in reasons["source"]
    assert "outcome" in reasons["churn_date"]
    m = report["metrics"]
    assert m["rows"] == 300 and m["test_rows"] == 300 and m["train_rows"] == 900
    assert m["auc"] > 0.75
    assert m["pr_auc"] > 1.5 * m["churn_rate"]
    assert m["brier"] < m["churn_rate"] * (1 - m["churn_rate"])  # beats always predicting the base rate
    top = [item["feature"] for item in report["importance"][:3]]
    assert "support_tickets" in top and "region" not in top


def test_the_id_and_label_are_never_features(trained):
    version, model, schema = table_model.load_table_model(data_dir=trained["data"])
    assert version.kind == "table"
    assert "account" not in schema.names and "churned" not in schema.names
    assert schema.id_column == "account" and schema.label_column == "churned"
    # The schema is stored with the registry row too, and the artifact's copy matches it.
    assert version.data_window["schema"]["columns"] == [to_dict(c) for c in schema.columns]
    assert version.features == schema.names
    assert len(model.features) == len(schema.columns)


def test_registry_stores_the_table_model_with_its_metrics(trained):
    kinds = {v.version: v.kind for v in registry.versions(data_dir=trained["data"])}
    assert kinds == {"table-v1": "table"}
    assert registry.production("churn", trained["data"]) is None
    stored = registry.get("table-v1", trained["data"])
    assert stored.metrics["auc"] == pytest.approx(trained["report"]["metrics"]["auc"])
    assert stored.metrics["churn_rate"] == pytest.approx(trained["report"]["metrics"]["churn_rate"])
    assert stored.data_window["source"] == "customers.csv" and stored.data_window["rows"] == 1500


# -- prediction -------------------------------------------------------------------------------
def test_predict_table_writes_one_score_per_row(trained, capsys, tmp_path):
    fresh = make_table(400, seed=99)
    hidden = (fresh.pop("churned") == "Yes").astype(int).to_numpy()
    fresh = fresh[list(reversed(fresh.columns))]  # column order must not matter
    fresh.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "scores.csv"
    code, stdout, err = run(
        capsys, "--data-dir", trained["data"], "predict-table", tmp_path / "new.csv", "--id", "account", "--out", out
    )
    assert code == 0, err
    assert "Scored 400 rows" in stdout and "table-v" in stdout
    scores = pd.read_csv(out, keep_default_na=False)
    assert list(scores.columns) == ["account", "churn_probability", "ci_low", "ci_high", "top_driver"]
    assert len(scores) == 400
    assert scores["account"].tolist() == fresh["account"].tolist()
    p, lo, hi = (scores[c].to_numpy() for c in ("churn_probability", "ci_low", "ci_high"))
    assert np.all((lo >= 0) & (lo <= p) & (p <= hi) & (hi <= 1))
    assert np.std(hi - lo) > 0.001  # a real interval, not a fixed band
    assert roc_auc_score(hidden, p) > 0.7
    # The riskiest rows are driven by what drives churn here, with the row's own value.
    busy = fresh["support_tickets"].to_numpy() >= 6
    ticket_driven = scores["top_driver"].str.startswith("support_tickets = ").to_numpy()
    assert ticket_driven[busy].mean() > 0.6
    for driver, tickets in zip(
        scores["top_driver"][ticket_driven], fresh["support_tickets"][ticket_driven], strict=True
    ):
        assert driver == f"support_tickets = {tickets}"
    assert not list(tmp_path.glob(".*.tmp"))  # the temp file was renamed into place


def test_ids_do_not_change_the_scores(trained, tmp_path):
    fresh = make_table(200, seed=5).drop(columns=["churned"])
    first = tmp_path / "a.csv"
    second = tmp_path / "b.csv"
    fresh.to_csv(first, index=False)
    fresh.assign(account=[f"other-{i}" for i in range(200, 0, -1)]).to_csv(second, index=False)
    a = table_model.predict_table(first, "account", tmp_path / "a_out.csv", data_dir=trained["data"])
    b = table_model.predict_table(second, "account", tmp_path / "b_out.csv", data_dir=trained["data"])
    assert a.rows == b.rows == 200
    pa = pd.read_csv(tmp_path / "a_out.csv")["churn_probability"]
    pb = pd.read_csv(tmp_path / "b_out.csv")["churn_probability"]
    assert np.allclose(pa, pb)


@pytest.mark.parametrize(
    ("labels", "fmt", "id_kind"),
    [
        (("true", "FALSE"), "parquet", "int"),
        (("1", "0"), "csv", "int"),
        ((1, 0), "parquet", "text"),
        ((True, False), "parquet", "text"),
        (("Churned", "retained"), "csv", "text"),
    ],
)
def test_label_spellings_and_file_formats(labels, fmt, id_kind, capsys, tmp_path):
    table = make_table(1200, seed=3, labels=labels)
    churn_rate = (table["churned"] == labels[0]).mean()
    if id_kind == "int":  # a numeric id would make a fine-looking (useless) feature if not excluded
        table["account"] = np.arange(1, len(table) + 1)
    path = tmp_path / f"table.{fmt}"
    table.to_parquet(path, index=False) if fmt == "parquet" else table.to_csv(path, index=False)
    data = tmp_path / "data"
    code, stdout, err = run(
        capsys,
        "--data-dir",
        data,
        "train-table",
        path,
        "--id",
        "account",
        "--label",
        "churned",
        "--bags",
        BAGS,
        "--json",
    )
    assert code == 0, err
    report = json.loads(stdout)
    assert report["version"] == "table-v1"
    assert report["churn_rate"] == pytest.approx(churn_rate)
    assert report["metrics"]["auc"] > 0.7
    assert "account" not in {f["name"] for f in report["features"]}
    fresh = table.drop(columns=["churned"]).head(50)
    new = tmp_path / f"new.{fmt}"
    fresh.to_parquet(new, index=False) if fmt == "parquet" else fresh.to_csv(new, index=False)
    code, _, err = run(capsys, "--data-dir", data, "predict-table", new, "--id", "account", "--out", tmp_path / "s.csv")
    assert code == 0, err
    assert len(pd.read_csv(tmp_path / "s.csv")) == 50


def test_blank_labels_are_left_out_with_a_note(capsys, tmp_path):
    table = make_table(1200, seed=4)
    table.loc[:29, "churned"] = ""
    table.to_csv(tmp_path / "t.csv", index=False)
    code, stdout, err = run(
        capsys, "--data-dir", tmp_path / "data", "train-table", tmp_path / "t.csv", "--id", "account",
        "--label", "churned", "--bags", BAGS, "--json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(stdout)
    assert report["rows"] == 1170
    assert any("30 row(s) with a blank 'churned'" in n for n in report["notes"])


# -- refusals ---------------------------------------------------------------------------------
def _write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_parquet(path, index=False) if path.suffix == ".parquet" else frame.to_csv(path, index=False)
    return path


def _bad_training_files(tmp_path: Path) -> dict[str, tuple[Path, list[str], list[str]]]:
    """name -> (file, extra CLI args, words the message must contain)."""
    good = make_table(1200, seed=8)
    one_class = good.assign(churned="No")
    few_churners = good.assign(churned=np.where(np.arange(len(good)) < 20, "yes", "no"))
    maybe = good.copy()
    maybe.loc[[3, 7, 9], "churned"] = "maybe"
    duplicated = good.copy()
    duplicated.loc[5, "account"] = duplicated.loc[2, "account"]
    (tmp_path / "book.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    (tmp_path / "broken.parquet").write_bytes(b"this is not parquet at all")
    good_csv = _write(good, tmp_path / "good.csv")
    return {
        "missing file": (tmp_path / "nope.csv", [], ["file not found", "nope.csv"]),
        "not csv or parquet": (tmp_path / "book.xlsx", [], [".xlsx", "CSV"]),
        "unreadable parquet": (tmp_path / "broken.parquet", [], ["could not be read as Parquet"]),
        "id absent": (good_csv, ["--id", "customer"], ["no id column 'customer'", "'account'", "--id"]),
        "label absent": (good_csv, ["--label", "did_churn"], ["no label column 'did_churn'", "'support_tickets'"]),
        "labels not yes/no": (_write(maybe, tmp_path / "maybe.csv"), [], ["'maybe' (3 rows)", "yes/no"]),
        "one class": (
            _write(one_class, tmp_path / "one.csv"),
            [],
            ["same answer", "did not churn", "both churned and retained"],
        ),
        "too few rows": (_write(good.head(150), tmp_path / "small.csv"), [], ["150 labelled rows", "at least 200"]),
        "too few churners": (
            _write(few_churners, tmp_path / "few.parquet"),
            [],
            ["only 20 churned", "at least 50", "30 more churned"],
        ),
        "duplicate ids": (_write(duplicated, tmp_path / "dup.csv"), [], ["more than once", good.loc[2, "account"]]),
        "one bag": (good_csv, ["--bags", "1"], ["--bags 1", "at least two"]),
    }


CASES = [
    "missing file",
    "not csv or parquet",
    "unreadable parquet",
    "id absent",
    "label absent",
    "labels not yes/no",
    "one class",
    "too few rows",
    "too few churners",
    "duplicate ids",
    "one bag",
]


@pytest.mark.parametrize("case", CASES)
def test_train_table_refuses_bad_input_with_exit_2(case, capsys, tmp_path):
    path, extra, words = _bad_training_files(tmp_path)[case]
    args = {"--id": "account", "--label": "churned", "--bags": BAGS}
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        args[flag] = value
    data = tmp_path / "data"
    code, stdout, err = run(capsys, "--data-dir", data, "train-table", path, *[x for kv in args.items() for x in kv])
    assert code == 2
    assert "error: " in err and "Traceback" not in err
    for word in words:
        assert word in err, (word, err)
    assert registry.versions(data_dir=data) == []  # nothing registered


def _predict_case(name: str, trained: dict, tmp_path: Path) -> tuple[Path, list[str], Path, list[str]]:
    """(file, extra args, data dir, words) for one refused prediction."""
    fresh = make_table(100, seed=21).drop(columns=["churned"])
    data = trained["data"]
    if name == "columns missing":
        return (
            _write(fresh.drop(columns=["plan", "monthly_spend"]), tmp_path / "f.csv"),
            [],
            data,
            ["'plan'", "'monthly_spend'"],
        )
    if name == "duplicate ids":
        fresh.loc[7, "account"] = fresh.loc[1, "account"]
        return _write(fresh, tmp_path / "f.csv"), [], data, ["more than once", fresh.loc[1, "account"]]
    if name == "id absent":
        return _write(fresh, tmp_path / "f.csv"), ["--id", "acct"], data, ["no id column 'acct'", "'account'"]
    if name == "text in a number column":
        fresh["monthly_spend"] = fresh["monthly_spend"].astype(str)
        fresh.loc[[4, 6], "monthly_spend"] = "lots"
        return (
            _write(fresh, tmp_path / "f.csv"),
            [],
            data,
            ["'monthly_spend' should hold numbers", "'lots'", "rows 6, 8"],
        )
    if name == "unknown version":
        return _write(fresh, tmp_path / "f.csv"), ["--version", "table-v99"], data, ["No model version 'table-v99'"]
    if name == "not a table model":
        copy = tmp_path / "data"
        shutil.copytree(data, copy)
        v, model, _ = table_model.load_table_model(data_dir=copy)
        registry.register(model, "churn", {}, [], {}, {}, copy)
        return (
            _write(fresh, tmp_path / "f.csv"),
            ["--version", "churn-v1"],
            copy,
            ["churn-v1 is a churn model", "not a table model"],
        )
    if name == "tampered artifact":
        copy = tmp_path / "data"
        shutil.copytree(data, copy)
        for artifact in (copy / "models").glob("table-v*/model.pkl"):
            with open(artifact, "ab") as handle:
                handle.write(b"tampered")
        return _write(fresh, tmp_path / "f.csv"), [], copy, ["table-v1", "SHA-256", "train-table"]
    if name == "no table model":
        return _write(fresh, tmp_path / "f.csv"), [], tmp_path / "empty", ["No table model yet", "train-table"]
    if name == "missing file":
        return tmp_path / "absent.parquet", [], data, ["file not found"]
    raise AssertionError(name)


PREDICT_CASES = [
    "columns missing",
    "duplicate ids",
    "id absent",
    "text in a number column",
    "unknown version",
    "not a table model",
    "tampered artifact",
    "no table model",
    "missing file",
]


@pytest.mark.parametrize("case", PREDICT_CASES)
def test_predict_table_refuses_bad_input_and_writes_nothing(case, trained, capsys, tmp_path):
    path, extra, data, words = _predict_case(case, trained, tmp_path)
    args = {"--id": "account"}
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        args[flag] = value
    out = tmp_path / "scores.csv"
    code, _, err = run(
        capsys, "--data-dir", data, "predict-table", path, "--out", out, *[x for kv in args.items() for x in kv]
    )
    assert code == 2
    assert "error: " in err and "Traceback" not in err
    for word in words:
        assert word in err, (word, err)
    assert not out.exists()
    assert not list(tmp_path.glob(".scores.csv.*"))


def test_a_refused_prediction_leaves_the_previous_output_intact(trained, capsys, tmp_path):
    out = tmp_path / "scores.csv"
    out.write_text("account,churn_probability\nold,0.5\n")
    broken = make_table(50, seed=2).drop(columns=["churned", "plan"])
    _write(broken, tmp_path / "broken.csv")
    code, _, err = run(
        capsys, "--data-dir", trained["data"], "predict-table", tmp_path / "broken.csv", "--id", "account", "--out", out
    )
    assert code == 2 and "'plan'" in err
    assert out.read_text() == "account,churn_probability\nold,0.5\n"


# -- units ------------------------------------------------------------------------------------
def test_text_numbers_placeholders_and_dates_are_detected():
    n = 300
    rng = np.random.default_rng(0)
    y = (rng.random(n) < 0.3).astype(float)
    spend = [f"${v:,.2f}" for v in rng.gamma(2, 900, n)]
    spend[:5] = ["-"] * 5
    frame = pd.DataFrame(
        {
            "id": [f"c{i}" for i in range(n)],
            "spend": spend,
            "seats": rng.integers(1, 50, n).astype(str),
            "renewal": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
            "tier": rng.choice(["a", "b"], n),
            "opened": [f"{d}/{m}/2024" for d, m in zip(rng.integers(1, 28, n), rng.integers(1, 12, n), strict=True)],
            "label": y,
        }
    )
    schema = table_model.detect_schema(frame, "id", "label", y)
    types = {c.name: c.type for c in schema.columns}
    assert types == {"spend": "numeric", "seats": "numeric", "renewal": "date", "tier": "categorical"}
    spend_col = next(c for c in schema.columns if c.name == "spend")
    assert spend_col.placeholders == ("-",)
    values = table_model.feature_values(frame["spend"], spend_col, decimal_comma=False)
    assert values.isna().sum() == 5 and values.iloc[5] == pytest.approx(float(spend[5][1:].replace(",", "")))
    assert [d.column for d in schema.dropped] == ["opened"]
    assert "YYYY-MM-DD" in schema.dropped[0].reason
    dropped_dates = table_model.detect_schema(frame, "id", "label", y, dates="drop")
    assert "renewal" in [d.column for d in dropped_dates.dropped]


def test_decimal_commas_in_a_semicolon_file(tmp_path):
    path = tmp_path / "eu.csv"
    path.write_text("id;spend\na;1,5\nb;2\n", encoding="utf-8")
    frame, decimal_comma = table_model.read_table(path)
    assert decimal_comma
    column = table_model.FeatureColumn(name="spend", feature="c1_spend", type=table_model.NUMERIC)
    assert table_model.feature_values(frame["spend"], column, decimal_comma).tolist() == [1.5, 2.0]


def test_drop_removes_a_column_and_keep_overrides_the_leak_check(capsys, tmp_path):
    make_table(1200, seed=6).to_csv(tmp_path / "t.csv", index=False)
    code, stdout, err = run(
        capsys, "--data-dir", tmp_path / "data", "train-table", tmp_path / "t.csv", "--id", "account",
        "--label", "churned", "--bags", BAGS, "--drop", "REGION", "--keep", "churn_date", "--json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(stdout)
    features = {f["name"] for f in report["features"]}
    assert "churn_date" in features and "region" not in features
    assert {d["column"]: d["reason"] for d in report["dropped"]}["region"] == "dropped as asked (--drop)"
    assert report["metrics"]["auc"] > 0.99  # what the leak check protects against: the outcome itself


def test_rare_categories_are_pooled_and_unseen_ones_noted(tmp_path):
    n = 600
    rng = np.random.default_rng(1)
    y = (rng.random(n) < 0.3).astype(float)
    common = rng.choice(["north", "south", "east"], n)
    city = np.where(rng.random(n) < 0.8, common, [f"town{i}" for i in range(n)])  # ~120 one-off towns
    frame = pd.DataFrame({"id": np.arange(n), "city": city, "seats": rng.integers(1, 30, n), "label": y})
    schema = table_model.detect_schema(frame, "id", "label", y)
    city_col = next(c for c in schema.columns if c.name == "city")
    assert city_col.levels == ("east", "north", "south", table_model.OTHER)
    values = table_model.feature_values(pd.Series(["north", "town5", "atlantis", None]), city_col, False)
    assert values.tolist() == ["north", table_model.OTHER, table_model.OTHER, None]
    plain = table_model.FeatureColumn(
        name="city", feature="c1_city", type=table_model.CATEGORICAL, levels=("east", "north")
    )
    closed = table_model.TableSchema(id_column="id", label_column="label", columns=(plain,))
    notes = table_model.check_values(pd.DataFrame({"city": ["east", "west", "west"]}), closed, False, "f.csv")
    assert notes == ["city: 2 row(s) have values never seen in training ('west'); they are scored as unknown"]


# -- contracts --------------------------------------------------------------------------------
def test_table_results_and_schema_round_trip_through_their_json(trained, tmp_path):
    printed = trained["text"].strip()
    result = from_json(table_model.TableTrainResult, printed)
    assert to_json(result) == printed and result.version == result.model_version == "table-v1"
    assert from_json(table_model.TableTrainResult, to_json(result)) == result
    _, _, schema = table_model.load_table_model(data_dir=trained["data"])
    assert from_json(table_model.TableSchema, to_json(schema)) == schema
    make_table(30, seed=12).drop(columns=["churned"]).to_csv(tmp_path / "few.csv", index=False)
    written = table_model.predict_table(tmp_path / "few.csv", "account", tmp_path / "out.csv", data_dir=trained["data"])
    again = from_json(table_model.TablePredictResult, to_json(written))
    assert again == written and to_json(again) == to_json(written) and again.rows == 30


def test_a_schema_saved_by_an_older_model_still_loads():
    """The `table_schema_` inside an artifact (and the registry copy) as earlier versions wrote it."""
    old = {
        "id_column": "account",
        "label_column": "churned",
        "columns": [
            {"name": "support_tickets", "type": "numeric", "feature": "c1_support_tickets"},
            {"name": "plan", "type": "categorical", "levels": ["basic", "pro", "(other)"], "feature": "c3_plan"},
            {"name": "signup_date", "type": "date", "note": "dates used as day numbers (days since 1970-01-01)",
             "feature": "c7_signup_date"},
            {"name": "spend", "type": "numeric", "placeholders": ["-", "n/a"], "note": "'-', 'n/a' read as blank",
             "feature": "c2_spend"},
        ],
        "dropped": [{"column": "email", "reason": "near-unique text"}],
    }  # fmt: skip
    schema = table_model.TableSchema.model_validate(old)
    assert schema.categorical_features == ["c3_plan"] and schema.columns[3].placeholders == ("-", "n/a")
    assert to_dict(schema) == old  # written back with the same keys: nothing that does not apply
    numeric = table_model.FeatureColumn(name="seats", feature="c4_seats", type=table_model.NUMERIC)
    assert to_dict(numeric) == {"name": "seats", "feature": "c4_seats", "type": "numeric"}
