"""Rendering AI outputs: the text, its confidence, the review flag and what was checked.

AI calls are never cached or made on a plain rerun: each one is audited, so pages call
them from a button and keep the result in session state under `remember`/`recall`.
"""

from __future__ import annotations

import streamlit as st

from engine.llm import DISCLAIMER

_STORE = "_radar_ai_results"


def remember(key: tuple, result) -> None:
    """Keep a result for the logged-in user (the session's state is wiped when the user changes)."""
    st.session_state.setdefault(_STORE, {})[(st.session_state.get("username"), *key)] = result


def recall(key: tuple):
    """The result kept for this key, only if the current user made it: never another user's."""
    return st.session_state.get(_STORE, {}).get((st.session_state.get("username"), *key))


def provenance(result) -> None:
    """Who wrote it, how sure the checks are, and a review warning below 0.5."""
    provider = "Groq" if result.llm_provider == "groq" else "offline writer (no AI provider)"
    flags = ", ".join(result.guardrail_flags) or "none"
    st.caption(
        f"Written by {provider} · model `{result.model_used}` · confidence {result.confidence_score:.2f} · "
        f"flags: {flags} · {result.generated_at[:19].replace('T', ' ')} UTC"
    )
    if "provider_error" in result.guardrail_flags:
        st.caption(":orange[The AI provider failed, so the offline writer produced this from the same facts.]")
    if result.needs_review:
        st.warning(
            "**Needs review**: the automatic checks found problems (below). Check it against the account "
            "before using it.",
            icon=":material/rate_review:",
        )
    if result.guardrail_details:
        with st.expander("What the checks found"):
            for d in result.guardrail_details:
                st.markdown(f"- **{d.get('flag', '')}**: {d.get('detail') or d.get('message') or d}")


def text(body: str) -> None:
    """The generated text with its disclaimer set apart."""
    main = body.replace(DISCLAIMER, "").rstrip()
    st.markdown(main)
    st.caption(DISCLAIMER)
