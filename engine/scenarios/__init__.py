"""What-if simulation of retention plays against the latest churn scores, and saved plans.

A plan combines five levers, each aimed at a segment of the scored accounts:

* CS outreach to the top N accounts (by revenue at risk, or risk tier first): an assumed
  relative cut of churn probability, a cost per account contacted;
* a renewal discount of X %: lower MRR, and churn lower by a stated elasticity;
* an adoption push: usage up Y %. The usage feature columns (and the ones derived from
  them) are changed and the rows re-scored by the production churn model;
* a support improvement: resolution time down Z %, a share of open tickets closed;
  re-scored by the model, like the adoption push;
* a price change of P %, with churn moving by a stated elasticity.

Conventions (also in every result's `conventions`): the baseline is the latest stored
prediction per account; churn probabilities are 90-day probabilities; expected churned
accounts = sum of p; Revenue lost over 90 days = sum of p x MRR x 3 (a churned account's
MRR is taken to stop at the start of the window, an upper bound); ARR lost (12 months)
= sum of p x MRR x 12, the annualised run-rate the board calls revenue at risk. Churn
losses are valued at current MRR. Intervals come from the churn intervals: the totals
are computed again on ci_low and on ci_high, assumption levers apply the same relative
change to the bounds, model-based levers re-score the bounds with the model.

Where each job lives (imports flow one way, down this list):

* plan.py      the levers, Segment and Plan (contract models that check their own values),
               plan_from_dict with messages a person can act on;
* results.py   Totals, LeverEffect, ScenarioResult and the columns of its tables;
* readout.py   the readout sentences, the conventions, the ROI text;
* simulate.py  the baseline, the model's inputs, the lever maths: `simulate` and `run`;
* saved.py     save, list, open, clone and delete saved scenarios, tags, the demo's sample plan;
* compare.py   metrics and the comparison of saved scenarios;
* cli.py       `python -m engine scenario ...`.

Use it as `from engine import scenarios; scenarios.simulate(...)`: the names below are the API
the views, the CLI and the tests use.
"""

from __future__ import annotations

from engine.scenarios.compare import COMPARE_MAX, COMPARE_MIN, METRICS, Comparison, Metric, compare, metric_values
from engine.scenarios.plan import (
    LEVER_LABELS,
    LEVERS,
    SEGMENT_NAMES,
    TARGETING,
    AdoptionPush,
    Discount,
    Lever,
    Outreach,
    Plan,
    PriceChange,
    Segment,
    SupportImprovement,
    plan_from_dict,
    segment_name,
)
from engine.scenarios.readout import CONVENTIONS, readout_text, roi_text
from engine.scenarios.results import (
    BREAKDOWN_DIMENSIONS,
    MONTHS_IN_WINDOW,
    MONTHS_IN_YEAR,
    SEGMENT_COLUMNS,
    UPLIFT_COLUMNS,
    LeverEffect,
    ScenarioResult,
    Totals,
)
from engine.scenarios.saved import (
    NAME_MAX,
    SAMPLE_NAME,
    SAMPLE_TAGS,
    SavedRun,
    SavedScenario,
    clean_tags,
    clone,
    delete_saved,
    list_saved,
    open_saved,
    parse_id,
    sample_plan,
    save,
    save_sample_plan,
)
from engine.scenarios.simulate import (
    ADOPTION_COLUMNS,
    ROI_POINTS,
    SUPPORT_COLUMNS,
    TIER_RANK,
    Baseline,
    ModelInputs,
    clear_cache,
    data_stamp,
    event_usage_columns,
    improve_support,
    lever_reach,
    load_baseline,
    model_inputs,
    raise_usage,
    run,
    segment_mask,
    simulate,
    target_order,
)

__all__ = [
    "ADOPTION_COLUMNS",
    "event_usage_columns",
    "lever_reach",
    "BREAKDOWN_DIMENSIONS",
    "COMPARE_MAX",
    "COMPARE_MIN",
    "CONVENTIONS",
    "LEVERS",
    "LEVER_LABELS",
    "METRICS",
    "MONTHS_IN_WINDOW",
    "MONTHS_IN_YEAR",
    "NAME_MAX",
    "ROI_POINTS",
    "SAMPLE_NAME",
    "SAMPLE_TAGS",
    "SEGMENT_COLUMNS",
    "SEGMENT_NAMES",
    "SUPPORT_COLUMNS",
    "TARGETING",
    "TIER_RANK",
    "UPLIFT_COLUMNS",
    "AdoptionPush",
    "Baseline",
    "Comparison",
    "Discount",
    "Lever",
    "LeverEffect",
    "Metric",
    "ModelInputs",
    "Outreach",
    "Plan",
    "PriceChange",
    "SavedRun",
    "SavedScenario",
    "ScenarioResult",
    "Segment",
    "SupportImprovement",
    "Totals",
    "clean_tags",
    "clear_cache",
    "clone",
    "compare",
    "data_stamp",
    "delete_saved",
    "improve_support",
    "list_saved",
    "load_baseline",
    "metric_values",
    "model_inputs",
    "segment_name",
    "open_saved",
    "parse_id",
    "plan_from_dict",
    "raise_usage",
    "readout_text",
    "roi_text",
    "run",
    "sample_plan",
    "save",
    "save_sample_plan",
    "segment_mask",
    "simulate",
    "target_order",
]
