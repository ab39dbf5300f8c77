"""Users (admins only): who can sign in and with which role; add, re-role, reset, remove;
and the API keys programs use.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components import api_keys
from components.shared import auth, cache
from engine.auth import users
from engine.core import config, exports
from engine.core.access import ROLES
from engine.core.errors import RadarError

FLASH = "users_page_flash"

viewer = auth.require_viewer("users")

st.title("Users")
st.caption(
    "Who can log in and what their role opens. A CSM sees the accounts whose `csm_owner` is their book owner "
    '(their username unless set: a CRM\'s "Maya Chen" or an e-mail address). '
    "Changes apply at each person's next click; passwords are stored as bcrypt hashes only."
)

data_dir = config.data_dir()
flash = st.session_state.pop(FLASH, None)
if flash:
    st.success(flash, icon=":material/check_circle:")

try:
    people = users.list_users(data_dir)
except RadarError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()


def done(message: str) -> None:
    """Show `message` on the next run, which redraws the table with the change."""
    st.session_state[FLASH] = message
    st.rerun()


def role_label(role: str) -> str:
    return auth.ROLE_LABELS.get(role, role)


try:
    books = users.book_sizes(cache.warehouse(str(data_dir)))
except RadarError:  # no warehouse yet: no books to count
    books = {}
csms = [u for u in people if u.role == "csm"]


def book_cells(user: users.User) -> dict[str, object]:
    if user.role != "csm":
        return {"Book (csm_owner)": "whole portfolio", "Accounts": ""}
    return {"Book (csm_owner)": user.book_owner, "Accounts": f"{books.get(user.book_owner, 0):,}"}


table = pd.DataFrame(
    [
        {"Username": u.username, "Name": u.name, "Role": role_label(u.role), "Email": u.email, **book_cells(u)}
        for u in people
    ],
    columns=["Username", "Name", "Role", "Email", "Book (csm_owner)", "Accounts"],
)
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={"Accounts": st.column_config.TextColumn(help="Accounts with this csm_owner")},
)
for csm in csms:
    if csm.book_owner not in books:
        st.warning(users.book_note(csm, books), icon=":material/person_alert:")
st.download_button(
    "Users as CSV", exports.csv_text(table), file_name="users.csv", mime="text/csv", icon=":material/download:"
)

others = [u.username for u in people if u.username != viewer.username]
role_of = {u.username: u.role for u in people}
add_tab, role_tab, book_tab, password_tab, remove_tab = st.tabs(
    ["Add a user", "Change a role", "Assign a CSM's book", "Reset a password", "Remove a user"]
)
OWN_USERNAME = "(their username)"

with add_tab, st.form("users_add", clear_on_submit=False):
    left, right = st.columns(2)
    username = left.text_input("Username", placeholder="e.g. jane.doe", help="Lower case, e.g. jane.doe.")
    name = right.text_input("Name", placeholder="e.g. Jane Doe")
    email = left.text_input("Email (optional)")
    role = right.selectbox("Role", ROLES, format_func=role_label)
    password = left.text_input("Password", type="password", help="At least 8 characters, not a common password.")
    repeat = right.text_input("Repeat the password", type="password")
    owner = left.selectbox(
        "Book (CSMs only)",
        [OWN_USERNAME, *books],
        help="The csm_owner value of the accounts this CSM works, as loaded. Other roles see every account.",
    )
    if st.form_submit_button("Add user", icon=":material/person_add:", type="primary"):
        owner = "" if owner == OWN_USERNAME else owner
        if password != repeat:
            st.error("The two passwords differ.", icon=":material/error:")
        else:
            try:
                added = users.add_user(username, password, role, name, email, data_dir, owner=owner)
            except RadarError as exc:
                st.error(str(exc), icon=":material/error:")
            else:
                note = f" {users.book_note(added, books)}" if added.role == "csm" else ""
                done(f"Added {added.username} as {role_label(added.role)}.{note}")

with role_tab:
    if not others:
        st.info("There is nobody else to change. Add a user first.", icon=":material/info:")
    else:
        with st.form("users_role"):
            who = st.selectbox("User", others, key="users_role_who", help="You cannot change your own role.")
            new_role = st.selectbox("New role", ROLES, format_func=role_label, key="users_role_new")
            sure = st.checkbox("Yes, change this user's role", key="users_role_sure")
            if st.form_submit_button("Change role", icon=":material/badge:"):
                if not sure:
                    st.warning("Tick the box to confirm.", icon=":material/warning:")
                elif new_role == role_of.get(who):
                    st.info(f"{who} already is {role_label(new_role)}.", icon=":material/info:")
                else:
                    try:
                        changed = users.set_role(who, new_role, data_dir)
                    except RadarError as exc:
                        st.error(str(exc), icon=":material/error:")
                    else:
                        done(f"{changed.username} is now {role_label(changed.role)}.")

with book_tab:
    if not csms:
        st.info("There is no CSM user yet. Add one, or give a user the CSM role.", icon=":material/info:")
    else:
        with st.form("users_book"):
            who = st.selectbox("CSM", [u.username for u in csms], key="users_book_who")
            chosen = st.selectbox(
                "Their accounts' csm_owner",
                [OWN_USERNAME, *books],
                key="users_book_owner",
                format_func=lambda o: o if o == OWN_USERNAME else f"{o} ({books[o]:,} accounts)",
                help="What your CRM writes in the owner column of the accounts they work.",
            )
            if st.form_submit_button("Assign book", icon=":material/assignment_ind:"):
                try:
                    changed = users.set_owner(who, "" if chosen == OWN_USERNAME else chosen, data_dir)
                except RadarError as exc:
                    st.error(str(exc), icon=":material/error:")
                else:
                    done(users.book_note(changed, books))

with password_tab, st.form("users_password", clear_on_submit=False):
    everyone = [u.username for u in people]
    who = st.selectbox("User", everyone, key="users_password_who")
    password = st.text_input("New password", type="password", key="users_password_new")
    repeat = st.text_input("Repeat the new password", type="password", key="users_password_repeat")
    sure = st.checkbox("Yes, replace this user's password", key="users_password_sure")
    if st.form_submit_button("Reset password", icon=":material/lock_reset:"):
        if not sure:
            st.warning("Tick the box to confirm.", icon=":material/warning:")
        elif password != repeat:
            st.error("The two passwords differ.", icon=":material/error:")
        elif not who:
            st.error("Choose a user.", icon=":material/error:")
        else:
            try:
                users.set_password(who, password, data_dir)
            except RadarError as exc:
                st.error(str(exc), icon=":material/error:")
            else:
                done(f"Password changed for {who}. Tell them through a safe channel.")

with remove_tab:
    if not others:
        st.info("There is nobody else to remove. You cannot remove yourself.", icon=":material/info:")
    else:
        with st.form("users_remove"):
            who = st.selectbox("User", others, key="users_remove_who", help="You cannot remove yourself.")
            sure = st.checkbox("Yes, remove this user; they lose access at once", key="users_remove_sure")
            if st.form_submit_button("Remove user", icon=":material/person_remove:"):
                if not sure:
                    st.warning("Tick the box to confirm.", icon=":material/warning:")
                elif who == viewer.username:
                    st.error("You cannot remove yourself. Ask another admin.", icon=":material/error:")
                else:
                    try:
                        users.remove_user(who, data_dir)
                    except RadarError as exc:
                        st.error(str(exc), icon=":material/error:")
                    else:
                        done(f"Removed {who}.")

st.divider()
api_keys.render(viewer, people, str(data_dir))
