"""Login with streamlit-authenticator, the session's viewer, and the guard every page calls first.

The guard reads these session-state keys, which streamlit-authenticator 0.4 sets at login:

    authentication_status   True once logged in (False after a wrong password, None before)
    username                the login; a CSM's username equals their `csm_owner`
    name                    display name
    roles                   a list holding the user's one role, e.g. ["csm"]

Page tests log a viewer in by setting them, no users file needed:

    at = AppTest.from_file("pages/risk_board.py")
    auth.log_in(at.session_state, auth.TEST_VIEWERS["csm"])    # ana.silva, a CSM of the test data
    at.run()

Known problems of streamlit-authenticator in a multipage app, and what this module does:
- Refresh / new tab: 0.4 reads its re-authentication cookie from `st.context.cookies`, so
  `login(location="unrendered")` logs the user back in on the first run, before anything
  is drawn (no login-form flash, no extra rerun needed).
- Deep links: app.py registers every page (menu hidden) while the login form shows, so
  /customer_360?customer_id=... keeps its path and query parameters through the login.
- Writing and deleting the cookie happen in a browser component that must get to run:
  a rerun right after login can drop it before it runs, and a logout button in the sidebar
  never draws it where it can. So both are queued in session state and the component is
  drawn on every run until the browser reports it done.
- Users removed (or re-roled) while logged in: each run re-reads the users file; a removed
  user is logged out and a role change applies at once.
"""

from __future__ import annotations

import contextlib
import secrets
from datetime import datetime, timedelta
from typing import Any

import jwt
import streamlit as st
import streamlit_authenticator as stauth
from streamlit_authenticator.utilities import LoginError

from engine import config, users
from engine.access import ROLES, AccessDenied, Viewer
from engine.errors import RadarError

AUTH_STATUS = "authentication_status"
USERNAME = "username"
NAME = "name"
ROLES_KEY = "roles"

_LOGOUT_REQUESTED = "_radar_logout_requested"
_FORM_LOGIN = "_radar_form_login"
_COOKIE_TASK = "_radar_cookie_task"
_NOTICE = "_radar_login_notice"

# The cookie components are invisible iframes; take them out of the layout so they leave no gap.
_HIDE_COOKIE_FRAMES = (
    "<style>.st-key-init, div[class*='st-key-_radar_cookie_'] "
    "{position: absolute; width: 0; height: 0; overflow: hidden;}</style>"
)

ROLE_LABELS = {"csm": "Customer success manager", "executive": "Executive", "analyst": "Analyst", "admin": "Admin"}

# Viewers for tests. They match the demo users (`python -m engine demo`), and ana.silva owns
# accounts in the generated test data.
TEST_VIEWERS = {
    "csm": Viewer(username="ana.silva", role="csm", name="Ana Silva"),
    "executive": Viewer(username="exec", role="executive", name="Erin Executive"),
    "analyst": Viewer(username="analyst", role="analyst", name="Alex Analyst"),
    "admin": Viewer(username="admin", role="admin", name="Avery Admin"),
}


# -- the session's viewer ----------------------------------------------------------------------
def log_in(state: Any, viewer: Viewer) -> None:
    """Put a logged-in viewer into a session state (st.session_state, or AppTest's for tests)."""
    state[AUTH_STATUS] = True
    state[USERNAME] = viewer.username
    state[NAME] = viewer.name
    state[ROLES_KEY] = [viewer.role]


def current_viewer() -> Viewer | None:
    """The logged-in viewer of this session, or None (not logged in, or no known role)."""
    state = st.session_state
    if state.get(AUTH_STATUS) is not True or not state.get(USERNAME):
        return None
    role = users.primary_role(state.get(ROLES_KEY))
    if not role:
        return None
    return Viewer(username=str(state[USERNAME]), role=role, name=str(state.get(NAME) or state[USERNAME]))


def require_viewer(page_key: str) -> Viewer:
    """The viewer, if logged in and allowed to open `page_key`; otherwise an error and st.stop().

    Every page calls this first: a page left out of the menu is not access control.
    """
    _run_the_entry_script_first()
    state = st.session_state
    if state.get(AUTH_STATUS) is not True or not state.get(USERNAME):
        st.error("Please log in to see this page.", icon=":material/lock:")
        st.stop()
    viewer = current_viewer()
    if viewer is None:
        st.error(
            f"Your account ({state.get(USERNAME)}) has no known role, so it cannot open pages. "
            f"Ask an admin to give it one of: {', '.join(ROLES)}.",
            icon=":material/block:",
        )
        st.stop()
    try:
        viewer.require_page(page_key)
    except AccessDenied as exc:
        st.error(str(exc), icon=":material/block:")
        st.stop()
    return viewer


def _run_the_entry_script_first() -> None:
    """Rerun through app.py when Streamlit ran this page file on its own.

    Until some session has called `st.navigation`, Streamlit treats `pages/` as an old-style
    multipage folder: the first request of a fresh server for /customer_360 runs that file
    directly, without app.py (no login, no menu); AppTest does the same on every run after
    the first. The flag below is Streamlit's own switch between the two; turning it off and
    rerunning makes app.py run, with the same URL and query parameters.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # pragma: no cover - another Streamlit layout; the checks below still hold
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


# -- login (app.py only) -----------------------------------------------------------------------
def authenticate() -> Viewer | None:
    """Log the session in (cookie, or the login form) and return its viewer.

    Returns None after drawing the login screen; the caller then runs no page.
    """
    try:
        settings = users.auth_settings(config.data_dir())
    except RadarError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
    st.html(_HIDE_COOKIE_FRAMES)
    authenticator = stauth.Authenticate(
        settings.credentials,
        settings.cookie_name,
        settings.cookie_key,
        settings.cookie_expiry_days,
        auto_hash=False,  # the users file holds bcrypt hashes only
        login_sleep_time=0,  # 0.4 reads the cookie from st.context: nothing to wait for
    )
    if st.session_state.pop(_LOGOUT_REQUESTED, False):
        _forget_session(settings, notice="You are logged out.")
    try:
        authenticator.login(location="unrendered")  # re-login from the cookie; draws nothing
    except LoginError:  # a valid cookie for a user no longer in the users file
        _forget_session(settings, notice="Your login has ended. Please log in again.")
    if st.session_state.get(AUTH_STATUS) is True:
        _refresh_from_users_file(settings)
    _sync_cookie(authenticator, settings)
    viewer = current_viewer()
    if viewer is not None:
        return viewer
    if st.session_state.get(AUTH_STATUS) is True:  # logged in, but the role is gone or unknown
        _forget_session(settings, notice="Your account has no role any more. Ask an admin.")
    _login_screen(authenticator, settings)
    return None


def _login_screen(authenticator: stauth.Authenticate, settings: users.AuthSettings) -> None:
    _, middle, _ = st.columns([1, 1.3, 1])
    with middle:
        st.title(":material/radar: Customer Radar")
        st.caption("Churn risk, drivers and next best actions for customer-success teams.")
        notice = st.session_state.get(_NOTICE)  # kept until the next login: the cookie task reruns the app
        if notice:
            st.info(notice, icon=":material/info:")
        if not settings.has_users:
            st.info(
                "No users yet. Create the first admin with\n\n"
                '`python -m engine users add admin --role admin --name "Your Name"`\n\n'
                "or run `python -m engine demo` for demo data and demo users.",
                icon=":material/person_add:",
            )
        authenticator.login(
            location="main",
            key="radar_login",
            fields={"Form name": "Log in", "Username": "Username", "Password": "Password", "Login": "Log in"},
            callback=_mark_form_login,
        )
        if st.session_state.pop(_FORM_LOGIN, False) and st.session_state.get(AUTH_STATUS) is True:
            st.session_state.pop(_NOTICE, None)
            _queue_cookie_write(settings)
            st.rerun()  # draw the app instead of the form; the same page and query parameters
        if st.session_state.get(AUTH_STATUS) is False:
            st.error("Wrong username or password.", icon=":material/error:")
        _demo_notice()


def _mark_form_login(_event: dict) -> None:
    st.session_state[_FORM_LOGIN] = True


def _demo_notice() -> None:
    """The documented demo logins, only when the users file is the one `engine demo` made."""
    try:
        logins = users.demo_logins(config.data_dir())
    except RadarError:
        return
    if not logins:
        return
    by_role: dict[str, list[str]] = {}
    for login in logins:
        by_role.setdefault(login.role, []).append(login.username)
    lines = [
        f"- **{ROLE_LABELS[role]}**: {', '.join(f'`{u}`' for u in names)} / `{users.DEMO_PASSWORDS[role]}`"
        for role, names in sorted(by_role.items(), key=lambda item: ROLES.index(item[0]))
    ]
    with st.expander("Demo credentials", icon=":material/key:", expanded=True):
        st.caption("This is a demo install. Username / password:")
        st.markdown("\n".join(lines))


def _refresh_from_users_file(settings: users.AuthSettings) -> None:
    """Apply removals and role changes made since login (CLI or Users page) to this session."""
    if not settings.has_users:  # no users file: a session set up by a test, nothing to compare
        return
    user = settings.user(st.session_state.get(USERNAME))
    if user is None:
        _forget_session(settings, notice="Your account was removed. Ask an admin if you need access.")
        return
    st.session_state[ROLES_KEY] = [user.role] if user.role else []
    st.session_state[NAME] = user.name or user.username


def _forget_session(settings: users.AuthSettings, notice: str) -> None:
    """Log the session out here and in the browser (its cookie is deleted on the next draws)."""
    for key in (AUTH_STATUS, USERNAME, NAME, "email", ROLES_KEY):
        st.session_state[key] = None
    st.session_state["logout"] = True  # streamlit-authenticator: stop reading the old cookie
    st.session_state[_COOKIE_TASK] = {"kind": "delete", "widget": f"_radar_cookie_{secrets.token_hex(4)}"}
    st.session_state[_NOTICE] = notice


def _queue_cookie_write(settings: users.AuthSettings) -> None:
    """Queue the re-authentication cookie in the format streamlit-authenticator 0.4 reads back."""
    expires = datetime.now() + timedelta(days=settings.cookie_expiry_days)
    token = jwt.encode(
        {"username": st.session_state[USERNAME], "exp_date": expires.timestamp()},
        settings.cookie_key,
        algorithm="HS256",
    )
    st.session_state[_COOKIE_TASK] = {
        "kind": "set",
        "token": token,
        "expires": expires,
        "widget": f"_radar_cookie_{secrets.token_hex(4)}",
    }


def _sync_cookie(authenticator: stauth.Authenticate, settings: users.AuthSettings) -> None:
    """Draw the queued cookie write or delete until the browser reports it done.

    The slot is drawn on every run, task or not, so the elements after it keep their places
    (otherwise the run after the task shows the old screen and the new one for a moment).
    """
    slot = st.container(key="_radar_cookie_slot")
    task = st.session_state.get(_COOKIE_TASK)
    if not task:
        return
    if st.session_state.get(task["widget"]) is True:
        del st.session_state[_COOKIE_TASK]
        return
    manager = authenticator.cookie_controller.cookie_model.cookie_manager  # extra-streamlit-components
    with slot:
        if task["kind"] == "set":
            manager.set(settings.cookie_name, task["token"], key=task["widget"], expires_at=task["expires"])
        else:
            # It also drops the cookie from its own copy of the cookies, which may not hold it.
            with contextlib.suppress(KeyError):
                manager.delete(settings.cookie_name, key=task["widget"])


# -- the sidebar -------------------------------------------------------------------------------
def account_sidebar(viewer: Viewer) -> None:
    """Who is logged in, their role, and the logout button."""
    with st.sidebar:
        st.markdown(f"**{viewer.name or viewer.username}**")
        st.caption(f"{viewer.username} · {ROLE_LABELS.get(viewer.role, viewer.role)}")
        st.button("Log out", key="radar_logout", icon=":material/logout:", on_click=_request_logout, width="stretch")


def _request_logout() -> None:
    st.session_state[_LOGOUT_REQUESTED] = True
