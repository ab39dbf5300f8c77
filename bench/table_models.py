"""Table models on public tables: does cross-validated choice among a ridge logistic
regression, gradient-boosted trees and their blend serve well?

Tables (none written by this project, all shipped inside pip packages, nothing downloaded):
* churnsim: fightchurn's ChurnSim (run offline by tests/foreign/churnsim.py) flattened the
  way an analyst flattens a company's export: accounts active at a cut-off date, their
  tenure, channel, country, age, MRR and each event type's 30- and 90-day counts; label:
  their subscription ended within the next 120 days;
* fair: statsmodels' Fair (1978) affairs survey, label: any affair;
* anes96: statsmodels' 1996 American National Election Study, label: voted Dole;
* randhie: statsmodels' RAND health insurance experiment, label: no doctor visit that year;
* breast_cancer: scikit-learn's Wisconsin diagnostic table, label: malignant.
and, for comparison, the tests' own generated customer table (`tests/test_table_mode.make_table`).

Each goes through `train_table` (the CLI's path: schema detection, 60/20/20 split, 5-fold
CV on the 80 % outside the test holdout, registry). Printed per table: each candidate's CV
AUC ± its fold spread and its test-holdout AUC, the chosen one, and whether the chosen one's
holdout AUC is within the CV noise (the best single candidate's fold spread) of the best single
candidate's holdout AUC. `--tune N` searches the trees first.

Run: `PYTHONPATH=. .venv/bin/python bench/table_models.py [--tune 20] [--accounts 3000]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HORIZON_DAYS = 120
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.churn.table.train import train_table  # noqa: E402


def statsmodels_tables() -> dict[str, tuple[pd.DataFrame, str]]:
    import statsmodels.api as sm

    fair = sm.datasets.fair.load_pandas().data
    fair = fair.assign(any_affair=(fair.pop("affairs") > 0).astype(int))
    anes = sm.datasets.anes96.load_pandas().data.drop(columns="logpopul")
    randhie = sm.datasets.randhie.load_pandas().data
    randhie = randhie.assign(no_visit=(randhie.pop("mdvis") == 0).astype(int))
    return {
        "fair": (fair, "any_affair"),
        "anes96": (anes, "vote"),
        "randhie": (randhie, "no_visit"),
    }


def breast_cancer() -> tuple[pd.DataFrame, str]:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = data.data.copy()
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    return frame.assign(malignant=(data.target == 0).astype(int)), "malignant"


def churnsim_table(work: Path, accounts: int, seed: int) -> tuple[pd.DataFrame, str]:
    """Accounts active at a cut-off 12 months in, flattened; label: gone within HORIZON_DAYS."""
    from tests.foreign import churnsim

    paths = churnsim.generate(work / "exports", accounts, 16, seed)
    acc = pd.read_csv(paths["accounts"], parse_dates=["signup_date", "date_of_birth"])
    subs = pd.read_csv(paths["subscriptions"], parse_dates=["start_date", "end_date"])
    events = pd.read_parquet(paths["events"])
    cutoff = pd.Timestamp(subs["start_date"].min()) + pd.DateOffset(months=12)
    last_end = subs.groupby("customer_id")["end_date"].max()
    first_start = subs.groupby("customer_id")["start_date"].min()
    active = last_end.index[(first_start <= cutoff).to_numpy() & (last_end > cutoff).to_numpy()]
    on = subs[(subs["start_date"] <= cutoff) & (subs["end_date"] > cutoff)]
    mrr = on.groupby("customer_id")["mrr"].sum()
    seen = events[events["timestamp"] < cutoff]
    counts = {}
    for days in (30, 90):
        recent = seen[seen["timestamp"] >= cutoff - pd.Timedelta(days=days)]
        table = recent.groupby(["customer_id", "event_type"], observed=True).size().unstack(fill_value=0)
        counts[days] = table.add_suffix(f"_{days}d")
    frame = acc.set_index("customer_id").loc[active]
    out = pd.DataFrame(
        {
            "tenure_days": (cutoff - frame["signup_date"]).dt.days,
            "channel": frame["channel"],
            "country": frame["country"],
            "age_years": ((cutoff - frame["date_of_birth"]).dt.days / 365.25).round(1),
            "mrr": mrr.reindex(active).fillna(0.0),
        },
        index=active,
    )
    for table in counts.values():
        out = out.join(table, how="left")
    out = out.fillna({c: 0 for c in out.columns if c.endswith("d") and c not in ("tenure_days",)})
    out["churned"] = (last_end.loc[active] <= cutoff + pd.Timedelta(days=HORIZON_DAYS)).astype(int).to_numpy()
    return out.reset_index(names="customer_id"), "churned"


def generated_table() -> tuple[pd.DataFrame, str]:
    from tests.test_table_mode import make_table

    return make_table(3000, 11).drop(columns=["churn_date"]), "churned"


def run(name: str, frame: pd.DataFrame, label: str, work: Path, tune: int) -> dict:
    frame = frame.copy()
    if "customer_id" not in frame.columns:
        frame.insert(0, "customer_id", [f"row-{i}" for i in range(len(frame))])
    path = work / f"{name}.csv"
    frame.to_csv(path, index=False)
    t0 = time.perf_counter()
    result = train_table(path, "customer_id", label, data_dir=work / f"data-{name}", tune=tune)
    seconds = time.perf_counter() - t0
    m = result.metrics
    compared = m["candidates"]
    singles = {k: v for k, v in compared.items() if k != "blend"}
    best_single = max(singles, key=lambda k: singles[k]["holdout_auc"])
    noise = singles[best_single]["cv_auc_sd"]
    gap = compared[m["chosen"]]["holdout_auc"] - singles[best_single]["holdout_auc"]
    print(
        f"\n{name}: {result.rows:,} rows, {result.churn_rate * 100:.1f} % positive, {len(result.features)} features, "
        f"{seconds:.1f} s{' (tuned)' if tune else ''}"
    )
    for cand, c in compared.items():
        mark = "  <- served" if cand == m["chosen"] else ""
        print(
            f"  {cand:24s} CV AUC {c['cv_auc']:.3f} ± {c['cv_auc_sd']:.3f}   holdout AUC {c['holdout_auc']:.3f}"
            f"   holdout Brier {c['holdout_brier']:.4f}{mark}"
        )
    verdict = "within" if gap >= -noise else "OUTSIDE"
    print(f"  served vs best single on the holdout: {gap:+.3f} ({verdict} the CV noise ±{noise:.3f})")
    return {"table": name, "chosen": m["chosen"], "gap": gap, "noise": noise, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tune", type=int, default=0, help="search the trees' settings over N trials first")
    parser.add_argument("--accounts", type=int, default=3000, help="ChurnSim accounts")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--skip-churnsim", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tables = {**statsmodels_tables(), "breast_cancer": breast_cancer(), "generated": generated_table()}
        if not args.skip_churnsim:
            tables = {"churnsim": churnsim_table(work, args.accounts, args.seed), **tables}
        results = [run(name, frame, label, work, args.tune) for name, (frame, label) in tables.items()]
    within = sum(r["gap"] >= -r["noise"] for r in results)
    print(
        f"\nserved model within CV noise of the best single candidate on {within} of {len(results)} tables; "
        f"chosen: {', '.join(r['table'] + '=' + r['chosen'] for r in results)}"
    )
    print(f"total {sum(r['seconds'] for r in results):.0f} s of training")


if __name__ == "__main__":
    main()
