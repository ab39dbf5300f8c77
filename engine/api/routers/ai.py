"""The AI layer on one account: summaries, answers, drafts and the next-best actions.

The same engine functions as the app: the same facts, guardrails, disclaimer and confidence
score, Groq when GROQ_API_KEY is set and the offline writer otherwise. Every output is stored
in the AI audit log under the key's identity: a CSM key as its CSM, other keys as
`api:<key name>`. Plain `def` routes: they run in the threadpool while the LLM answers.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from engine import ai
from engine.api.auth import AiWrite, CustomersRead, Reader
from engine.api.errors import documented
from engine.api.models import AskRequest, DraftRequest, SummaryRequest, contract_json

router = APIRouter(prefix="/customers", tags=["ai"])


@router.post(
    "/{customer_id}/summary",
    response_model=ai.Summary,
    summary="AI summary of the account for a CSM or an executive",
    responses=documented(404),
)
def summary(
    customer_id: str,
    body: SummaryRequest,
    caller: AiWrite,
    wh: Reader,
) -> Response:
    return contract_json(ai.summarize(wh, customer_id, body.audience, caller.viewer, data_dir=caller.data_dir))


@router.post(
    "/{customer_id}/ask",
    response_model=ai.Answer,
    summary="Answer a question about the account from its facts only",
    responses=documented(404),
)
def ask(
    customer_id: str,
    body: AskRequest,
    caller: AiWrite,
    wh: Reader,
) -> Response:
    return contract_json(ai.ask_customer(wh, customer_id, body.question, caller.viewer, data_dir=caller.data_dir))


@router.post(
    "/{customer_id}/draft",
    response_model=ai.Draft,
    summary="Draft outreach to the account by goal, channel and tone",
    responses=documented(404),
)
def draft(
    customer_id: str,
    body: DraftRequest,
    caller: AiWrite,
    wh: Reader,
) -> Response:
    result = ai.draft_message(
        wh,
        customer_id,
        caller.viewer,
        goal=body.goal,
        channel=body.channel,
        tone=body.tone,
        length=body.length,
        data_dir=caller.data_dir,
    )
    return contract_json(result)


@router.get(
    "/{customer_id}/actions",
    response_model=ai.ActionPlan,
    summary="Prioritised next-best actions for the account",
    responses=documented(404),
)
def actions(customer_id: str, caller: CustomersRead, wh: Reader) -> Response:
    return contract_json(ai.next_best_actions(wh, customer_id, caller.viewer, data_dir=caller.data_dir))
