"""The Users page's "API keys" section: list, create (the key shown once) and revoke.

The rules (names, roles, owners, scopes, hashing) live in engine.auth.keys; this draws widgets.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from components.shared import auth
from engine.auth import keys
from engine.auth.users import User
from engine.core.access import ROLES, Viewer
from engine.core.errors import RadarError

NEW_KEY = "api_keys_new"  # the key just made, shown on the next run only
FLASH = "api_keys_flash"
COLUMNS = ["Name", "Prefix", "Role", "Owner", "Scopes", "Created (UTC)", "Last used (UTC)", "Status"]


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else ""


def _scopes(found: tuple[str, ...]) -> str:
    return "all" if set(found) == set(keys.SCOPES) else ", ".join(found)


def key_table(found: list[keys.ApiKey]) -> pd.DataFrame:
    rows = [
        {
            "Name": k.name,
            "Prefix": k.prefix,
            "Role": auth.ROLE_LABELS.get(k.role, k.role),
            "Owner": k.owner or "",
            "Scopes": _scopes(k.scopes),
            "Created (UTC)": _when(k.created_at),
            "Last used (UTC)": _when(k.last_used_at) or "never",
            "Status": "active" if k.active else f"revoked {_when(k.revoked_at)}",
        }
        for k in found
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def _done(message: str) -> None:
    st.session_state[FLASH] = message
    st.rerun()


def _show_new_key() -> None:
    """The key made on the previous run, once: it is popped, so any later run no longer has it."""
    made = st.session_state.pop(NEW_KEY, None)
    if not made:
        return
    name, secret = made
    st.success(f"Created API key '{name}'.", icon=":material/check_circle:")
    st.code(secret, language=None)
    st.warning(
        "Copy the key now: it is shown only once and cannot be recovered. If it is lost, revoke it and make another.",
        icon=":material/warning:",
    )


def render(viewer: Viewer, people: list[User], data_dir: str) -> None:
    """The section for admins (the Users page checks the role before calling this)."""
    st.subheader("API keys")
    st.caption(
        "Keys let programs (a CRM, a data pipeline) call the HTTP API as `Authorization: Bearer <key>`. "
        "Each acts with one role; a CSM key sees its owner's book only. Only a hash of each key is stored."
    )
    flash = st.session_state.pop(FLASH, None)
    if flash:
        st.success(flash, icon=":material/check_circle:")
    _show_new_key()
    try:
        found = keys.list_keys(data_dir)
    except RadarError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    if found:
        st.dataframe(key_table(found), hide_index=True, width="stretch")
    else:
        st.info("No API keys yet.", icon=":material/info:")
    create_tab, revoke_tab = st.tabs(["Create a key", "Revoke a key"])
    with create_tab:
        _create(viewer, people, data_dir)
    with revoke_tab:
        _revoke(found, data_dir)


def _create(viewer: Viewer, people: list[User], data_dir: str) -> None:
    # No st.form: the owner field and the scope defaults follow the chosen role at once.
    left, right = st.columns(2)
    name = left.text_input("Key name", key="api_keys_name", placeholder="crm-sync", help="Letters, digits, . _ -")
    role = right.selectbox(
        "Key role",
        ROLES,
        key="api_keys_role",
        format_func=lambda r: auth.ROLE_LABELS.get(r, r),
        index=ROLES.index("csm"),
    )
    owner = None
    if role == "csm":
        csms = [u.username for u in people if u.role == "csm"]
        if not csms:
            st.info("A CSM key needs a CSM user as its owner. Add one above first.", icon=":material/info:")
            return
        owner = left.selectbox("Owner", csms, key="api_keys_owner", help="The CSM whose book the key sees.")
    allowed = list(keys.DEFAULT_SCOPES[role])
    scopes = st.multiselect(
        "Scopes",
        allowed,
        default=allowed,
        key=f"api_keys_scopes_{role}",  # one per role: switching roles starts from that role's defaults
        format_func=lambda s: f"{s} ({keys.SCOPES[s]})",
        help="What the key may call. A key never has more than its role.",
    )
    if st.button("Create key", key="api_keys_create", icon=":material/key:", type="primary"):
        try:
            made, secret = keys.create_key(
                name, role, owner=owner, scopes=scopes, created_by=viewer.username, data_dir=data_dir
            )
        except RadarError as exc:
            st.error(str(exc), icon=":material/error:")
        else:
            st.session_state[NEW_KEY] = (made.name, secret)
            del st.session_state["api_keys_name"]  # an empty name field for the next key
            st.rerun()


def _revoke(found: list[keys.ApiKey], data_dir: str) -> None:
    active = [k.name for k in found if k.active]
    if not active:
        st.info("There is no active key to revoke.", icon=":material/info:")
        return
    with st.form("api_keys_revoke"):
        prefix = {k.name: k.prefix for k in found}
        who = st.selectbox("Key", active, key="api_keys_revoke_name", format_func=lambda n: f"{n} ({prefix[n]}...)")
        sure = st.checkbox("Yes, revoke this key; programs using it are refused at once", key="api_keys_revoke_sure")
        if st.form_submit_button("Revoke key", icon=":material/key_off:"):
            if not sure:
                st.warning("Tick the box to confirm.", icon=":material/warning:")
            else:
                try:
                    revoked = keys.revoke_key(who, data_dir)
                except RadarError as exc:
                    st.error(str(exc), icon=":material/error:")
                else:
                    _done(f"Revoked API key '{revoked.name}'.")
