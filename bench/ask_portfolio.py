"""Ask AI's accuracy on the labelled portfolio questions (tests/portfolio_questions.py).

Every question is asked through `ask_portfolio` twice: offline (the parser writes the
SQL) and with the fake Groq server playing a scripted model (tests/fake_groq.py; it
writes the reference query for most questions and a plausible mistake for some, see
the question set). Each answer is graded against the reference SQL's result:

* correct         - the right figures/rows, or a refusal where refusing is right;
* refused         - a supported question refused (honest, not right);
* wrong           - a wrong answer flagged for review (confidence < 0.5);
* confident_wrong - a wrong answer not flagged: the failure that must not happen.

Run: `PYTHONPATH=. .venv/bin/python bench/ask_portfolio.py [--data-dir DIR] [--verbose]`
(default: generate and score 800 customers in a temporary directory). The warehouse is
only read; the audit rows go to a temporary directory.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from engine.ai import GroqClient, LlmSettings
from engine.churn import scoring, training
from engine.data import demo as synth
from engine.data import warehouse
from tests.fake_groq import FakeGroq, Reply
from tests.portfolio_questions import QUESTIONS, evaluate, scripted_model, tally


def _report(label: str, results, seconds: float, verbose: bool) -> None:
    counts = tally(results)
    n = len(results)
    ok = counts["correct"]
    print(
        f"{label:<9} {n} questions: correct {ok} ({ok / n:.1%}), refused {counts['refused']}, "
        f"wrong {counts['wrong']}, confident-wrong {counts['confident_wrong']}  "
        f"(correct or honestly refused {(ok + counts['refused']) / n:.1%}; {seconds:.1f} s)"
    )
    for item, result, answer in results:
        if verbose or result != "correct":
            print(
                f"    [{result}] {item.question!r} conf {answer.confidence_score:.2f} "
                f"flags {','.join(answer.guardrail_flags) or '-'} sql: {(answer.sql_display or '-')[:140]!r}"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default=None, help="an existing scored warehouse (read only)")
    parser.add_argument("--customers", type=int, default=800)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.data_dir:
            data = Path(args.data_dir)
            wh = warehouse.get_warehouse(data, read_only=True)
        else:
            data = Path(tmp) / "data"
            wh = warehouse.get_warehouse(data)
            synth.generate(wh, customers=args.customers, seed=7)
            training.train(wh, data_dir=data, promote="auto")
            scoring.score(wh, data_dir=data)
        audit_dir = Path(tmp) / "audit"
        audit_dir.mkdir()
        print(f"{len(QUESTIONS)} labelled questions on {data}")
        t0 = time.perf_counter()
        offline = evaluate(wh, client=None, data_dir=audit_dir)
        _report("offline", offline, time.perf_counter() - t0, args.verbose)
        fake = FakeGroq().start()
        try:
            fake.default = lambda body: Reply(scripted_model(body))
            client = GroqClient(LlmSettings(api_key="bench", model="llama-3.1-8b-instant", base_url=fake.base_url))
            t0 = time.perf_counter()
            model = evaluate(wh, client=client, data_dir=audit_dir)
            _report("fake-groq", model, time.perf_counter() - t0, args.verbose)
        finally:
            fake.stop()
        warehouse.close_all()


if __name__ == "__main__":
    main()
