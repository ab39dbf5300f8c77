"""AI commands: summaries, questions, portfolio queries, drafts, action plans, the audit log.

Every command answers offline with `--offline` or when GROQ_API_KEY is unset; `--json`
prints the contract fields. `--user NAME --role csm` previews what that CSM would get
(their book only); the default is the batch viewer, which sees every account.
"""

from __future__ import annotations

import argparse

from engine.auth import users
from engine.core.access import ROLES, SYSTEM, Viewer
from engine.core.commands import command, print_json
from engine.data.warehouse import get_warehouse


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--offline", action="store_true", help="use the offline writer even when GROQ_API_KEY is set")
    p.add_argument("--user", default=None, help="act as this user (with --role); default: the batch viewer")
    p.add_argument("--role", default="csm", choices=ROLES, help="role of --user (default csm)")


def _viewer(args: argparse.Namespace) -> Viewer:
    return users.acting_viewer(args.user, args.role, args.data_dir) if args.user else SYSTEM


def _client(args: argparse.Namespace):
    from engine.ai.client import AUTO

    return None if args.offline else AUTO


def _footer(result) -> None:
    flags = ", ".join(result.guardrail_flags) or "none"
    review = "  NEEDS REVIEW" if result.needs_review else ""
    writer = (
        "written by the built-in template (no AI model)"
        if result.llm_provider == "offline"
        else f"written by {result.llm_provider} ({result.model_used})"
    )
    print(f"[confidence {result.confidence_score:.2f}{review} | flags: {flags} | {writer}]")
    for detail in result.guardrail_details:
        print(f"  - {detail['code']}: {detail['detail']}")


def _summarize_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("customer_id")
    p.add_argument("--audience", choices=("csm", "executive"), default="csm")
    _common(p)


@command("summarize", "AI summary of one customer for a CSM or an executive", _summarize_args)
def _summarize(args: argparse.Namespace) -> int:
    from engine.ai import summarize

    wh = get_warehouse(args.data_dir, read_only=True)
    result = summarize(wh, args.customer_id, args.audience, _viewer(args), client=_client(args), data_dir=args.data_dir)
    if args.json:
        print_json(result)
        return 0
    print(result.summary)
    _footer(result)
    return 0


@command("brief", "AI briefing on the book: revenue, what is at risk and where, churn and retention", _common)
def _brief(args: argparse.Namespace) -> int:
    from engine.ai.briefing import brief_the_book

    wh = get_warehouse(args.data_dir, read_only=True)
    result = brief_the_book(wh, _viewer(args), client=_client(args), data_dir=args.data_dir)
    if args.json:
        print_json(result)
        return 0
    print(result.briefing)
    _footer(result)
    return 0


def _ask_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("customer_id")
    p.add_argument("question")
    _common(p)


@command("ask", "answer a question about one customer from its facts only", _ask_args)
def _ask(args: argparse.Namespace) -> int:
    from engine.ai import ask_customer

    wh = get_warehouse(args.data_dir, read_only=True)
    result = ask_customer(
        wh, args.customer_id, args.question, _viewer(args), client=_client(args), data_dir=args.data_dir
    )
    if args.json:
        print_json(result)
        return 0
    print(result.answer)
    if result.scope_exceeded:
        print("[scope exceeded: the facts cannot answer this question]")
    _footer(result)
    return 0


def _portfolio_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("question")
    p.add_argument("--max-rows", type=int, default=500, help="rows to return at most (default 500)")
    _common(p)


@command("ask-portfolio", "answer a question about the portfolio with a table and its SQL", _portfolio_args)
def _ask_portfolio(args: argparse.Namespace) -> int:
    from engine.ai import ask_portfolio

    wh = get_warehouse(args.data_dir, read_only=True)
    result = ask_portfolio(
        wh, args.question, _viewer(args), client=_client(args), data_dir=args.data_dir, max_rows=args.max_rows
    )
    # A refusal (out of scope, or SQL not allowed) is an expected failure: exit 2 (bad input), JSON or not.
    code = 2 if result.refused or result.scope_exceeded else 0
    if args.json:
        print_json(result)
        return code
    if result.interpretation:
        print("Understood: " + "; ".join(result.interpretation))
    if result.sql_display:
        print(f"SQL:\n{result.sql_display}\n")
    if len(result.table):
        print(result.table.head(50).to_string(index=False, max_colwidth=40))
        if len(result.table) > 50:
            print(f"... {len(result.table) - 50:,} more rows (use --json for all)")
        print()
    print(result.answer)
    _footer(result)
    return code


def _draft_args(p: argparse.ArgumentParser) -> None:
    from engine.ai.drafts import CHANNELS, GOALS, LENGTHS, TONES

    p.add_argument("customer_id")
    p.add_argument("--goal", choices=GOALS, default="generic_communication")
    p.add_argument("--channel", choices=CHANNELS, default="email")
    p.add_argument("--tone", choices=TONES, default="friendly")
    p.add_argument("--length", choices=LENGTHS, default="medium")
    _common(p)


@command("draft", "draft outreach to a customer by goal and channel", _draft_args)
def _draft(args: argparse.Namespace) -> int:
    from engine.ai import draft_message

    wh = get_warehouse(args.data_dir, read_only=True)
    result = draft_message(
        wh,
        args.customer_id,
        _viewer(args),
        goal=args.goal,
        channel=args.channel,
        tone=args.tone,
        length=args.length,
        client=_client(args),
        data_dir=args.data_dir,
    )
    if args.json:
        print_json(result)
        return 0
    print(result.message)
    print(f"[personalised with: {', '.join(result.personalization_applied) or 'nothing'}]")
    _footer(result)
    return 0


def _actions_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("customer_id")
    _common(p)


@command("actions", "prioritised next-best actions for one customer", _actions_args)
def _actions(args: argparse.Namespace) -> int:
    from engine.ai import next_best_actions

    wh = get_warehouse(args.data_dir, read_only=True)
    result = next_best_actions(wh, args.customer_id, _viewer(args), client=_client(args), data_dir=args.data_dir)
    if args.json:
        print_json(result)
        return 0
    print(result.narrative)
    print()
    for a in result.actions:
        print(f"{a.priority}. [{a.category}, within {a.due_within_days} days] {a.action}")
        print(f"   why: {a.reasoning}")
    if result.warnings:
        print("Warnings:")
        for w in result.warnings:
            print(f"  ! {w}")
    if result.talking_points:
        print("Talking points:")
        for t in result.talking_points:
            print(f"  - {t}")
    _footer(result)
    return 0


def _audit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--kind", default=None, help="summary, ask, portfolio, draft or actions")
    p.add_argument("--needs-review", action="store_true", help="only outputs with confidence below 0.5")
    p.add_argument("--json", action="store_true")


@command("ai-audit", "list recent AI outputs from the audit log", _audit_args)
def _ai_audit(args: argparse.Namespace) -> int:
    from engine.ai import recent_ai_outputs

    rows = recent_ai_outputs(args.data_dir, args.limit, kind=args.kind, needs_review_only=args.needs_review)
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("No AI outputs recorded yet.")
    for r in rows:
        print(
            f"#{r.id} {r.created_at:%Y-%m-%d %H:%M:%S} {r.username:<14} {r.kind:<9} {r.customer_id or '-':<36} "
            f"{r.provider:<7} conf {r.confidence:.2f} flags {','.join(r.flags) or '-'}"
        )
    return 0
