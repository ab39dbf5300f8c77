"""The AI layer: offline latency, requests per output with a provider, guardrail accuracy.

On a generated, trained and scored warehouse it measures:

* offline summary time per customer (fact sheet + writer + guardrails; and with the
  audit write), target <= 50 ms;
* HTTP requests per output through the real `groq` SDK against the local fake server
  (tests/fake_groq.py), target exactly 1;
* guardrail accuracy: false flags on every offline text (summaries, answers, drafts,
  plans) of every customer, and a fabrication experiment - one figure of each offline
  summary replaced by a wrong value - that must be flagged every time;
* portfolio questions: validation and end-to-end time.

Run: `PYTHONPATH=. .venv/bin/python bench/ai.py [--customers 800]`.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from engine.ai import (
    GroqClient,
    LlmSettings,
    ask_customer,
    ask_portfolio,
    draft_message,
    next_best_actions,
    offline,
    summarize,
    validate_sql,
)
from engine.ai import actions as plan
from engine.ai import guardrails as gr
from engine.ai.facts import load_facts
from engine.churn import scoring, training
from engine.core.access import SYSTEM
from engine.data import demo as synth
from engine.data import warehouse
from tests.fake_groq import FakeGroq, Reply

QUESTIONS = ["why is the risk high", "what is the mrr", "when is the renewal", "open tickets?", "is usage down"]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _perturb(text: str, rng: random.Random) -> tuple[str, str, int] | None:
    """The text with one figure replaced by a wrong one (same format), the new figure and where."""
    spots = [
        m for m in re.finditer(r"\$?\d[\d,]*(?:\.\d+)?( ?%)?", text) if not text[m.start() - 1 : m.start()].isalnum()
    ]
    dates = [d.span() for d in re.finditer(r"\d{4}-\d{2}-\d{2}", text)]
    spots = [m for m in spots if not any(s <= m.start() < e for s, e in dates)]
    if not spots:
        return None
    m = rng.choice(spots)
    raw = m.group(0)
    number = float(re.sub(r"[^\d.]", "", raw))
    factor = rng.choice([rng.uniform(1.15, 1.6), rng.uniform(0.4, 0.85)])
    wrong = number * factor if number >= 4 else number + rng.choice([3, 5, 7, 11])
    decimals = len(raw.split(".")[1].rstrip(" %")) if "." in raw else 0
    shown = f"{wrong:,.{decimals}f}" if "," in raw or number >= 1000 else f"{wrong:.{decimals}f}"
    if shown.replace(",", "") == re.sub(r"[^\d.]", "", raw):
        return None
    new = ("$" if raw.startswith("$") else "") + shown + (m.group(1) or "")
    return text[: m.start()] + new + text[m.end() :], new, m.start()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=800)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        wh = warehouse.get_warehouse(data)
        t0 = time.perf_counter()
        synth.generate(wh, customers=args.customers, seed=args.seed, end=date(2026, 6, 30))
        training.train(wh, data_dir=data)
        scoring.score(wh, data_dir=data)
        print(f"setup: {args.customers} customers generated, trained and scored in {time.perf_counter() - t0:.1f} s")
        active = [r[0] for r in wh.rows("SELECT customer_id FROM predictions ORDER BY customer_id")]
        everyone = [r[0] for r in wh.rows("SELECT customer_id FROM customers ORDER BY customer_id")]

        # -- offline latency --------------------------------------------------------------
        sample = active[:100]
        texts_only, with_audit = [], []
        for cid in sample:
            t = time.perf_counter()
            facts = load_facts(wh, cid, SYSTEM)
            text = offline.summary(facts, "csm")
            gr.check(text, gr.grounding_from_facts(facts), summary=True)
            texts_only.append(time.perf_counter() - t)
            t = time.perf_counter()
            summarize(wh, cid, "csm", SYSTEM, client=None, data_dir=data)
            with_audit.append(time.perf_counter() - t)
        print(
            f"offline summary (facts + writer + guardrails), {len(sample)} customers: median "
            f"{_ms(statistics.median(texts_only))}, p95 {_ms(sorted(texts_only)[int(0.95 * len(sample))])}"
        )
        print(
            f"offline summarize() incl. the audit write: median {_ms(statistics.median(with_audit))}, "
            f"p95 {_ms(sorted(with_audit)[int(0.95 * len(sample))])}"
        )

        # -- one request per output ---------------------------------------------------------
        fake = FakeGroq().start()
        fake.default = Reply("One sentence here. Another one here. A third one here.")
        client = GroqClient(LlmSettings(api_key="bench", model="llama-3.1-8b-instant", base_url=fake.base_url))
        cid = active[0]
        calls = {
            "summary": lambda: summarize(wh, cid, "executive", SYSTEM, client=client, data_dir=data),
            "ask": lambda: ask_customer(wh, cid, "Why is usage down?", SYSTEM, client=client, data_dir=data),
            "draft": lambda: draft_message(wh, cid, SYSTEM, goal="upsell", client=client, data_dir=data),
            "actions": lambda: next_best_actions(wh, cid, SYSTEM, client=client, data_dir=data),
        }
        for kind, call in calls.items():
            before = len(fake.requests)
            t = time.perf_counter()
            result = call()
            print(
                f"with provider, {kind:<8}: {len(fake.requests) - before} request(s), provider_requests "
                f"{result.provider_requests}, {_ms(time.perf_counter() - t)} end to end (local fake server)"
            )
        fake.default = Reply("```sql\nSELECT name, mrr FROM portfolio ORDER BY mrr DESC LIMIT 5\n```")
        before = len(fake.requests)
        ask_portfolio(wh, "largest accounts", SYSTEM, client=client, data_dir=data)
        print(f"with provider, portfolio: {len(fake.requests) - before} request(s)")
        fake.stop()

        # -- guardrail accuracy on offline texts ------------------------------------------------
        checked = flagged = 0
        for cid in everyone:
            facts = load_facts(wh, cid, SYSTEM)
            g = gr.grounding_from_facts(facts)
            texts = [(offline.summary(facts, a), True, False) for a in ("csm", "executive")]
            texts += [(offline.answer(facts, q)[0] or "", False, False) for q in QUESTIONS]
            texts += [
                (offline.draft(facts, goal, "email", "friendly", "long")[0], False, True)
                for goal in ("upsell", "resolve_support_issue")
            ]
            steps = plan.plan_actions(facts)
            g_plan = gr.grounding_from_facts(facts)
            for n in (len(steps), len(steps) - 1):
                g_plan.add_number(n, unit="action")
            for step in steps:
                g_plan.add_number(step.due_within_days, unit="day")
            narrative = offline.actions_narrative(
                facts, steps, facts.prediction.arr_at_risk if facts.prediction else None
            )
            for text, is_summary, facing in texts:
                checked += 1
                flagged += bool(gr.check(text, g, summary=is_summary, customer_facing=facing).flags)
            checked += 1
            flagged += bool(gr.check(narrative, g_plan).flags)
        print(f"false flags on grounded offline texts: {flagged} of {checked:,} ({flagged / checked:.2%})")

        rng = random.Random(0)
        tried = caught = 0
        misses = []
        for cid in active:
            facts = load_facts(wh, cid, SYSTEM)
            g = gr.grounding_from_facts(facts)
            for audience in ("csm", "executive"):
                changed = _perturb(offline.summary(facts, audience), rng)
                if changed is None:
                    continue
                text, figure, where = changed
                tried += 1
                flags = set(gr.check(text, g).flags)
                if flags & {"ungrounded_number", "churn_probability_mismatch"}:
                    caught += 1
                elif len(misses) < 5:
                    misses.append(text[max(0, where - 40) : where + len(figure) + 15])
        print(f"fabricated figures flagged: {caught} of {tried:,} ({caught / tried:.2%}); missed e.g. {misses}")

        # -- portfolio questions -------------------------------------------------------------------
        sql = "SELECT industry, count(*) AS n, sum(revenue_at_risk) FROM portfolio GROUP BY ALL ORDER BY 3 DESC"
        t = time.perf_counter()
        for _ in range(50):
            validate_sql(sql)
        print(f"SQL validation: {_ms((time.perf_counter() - t) / 50)} per query")
        times = []
        for _ in range(5):
            t = time.perf_counter()
            ask_portfolio(
                wh,
                "Which enterprise fintech accounts renewing next quarter have churn above 50 %?",
                SYSTEM,
                client=None,
                data_dir=data,
            )
            times.append(time.perf_counter() - t)
        print(f"portfolio question end to end (offline parser): median {_ms(statistics.median(times))}")
        warehouse.close_all()


if __name__ == "__main__":
    main()
