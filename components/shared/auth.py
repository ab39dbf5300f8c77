"""Login, the session's viewer, and the guard every page calls first.

The users file keeps streamlit-authenticator 0.4's layout (engine/auth/users.py), but the login
itself is done here, because 0.4's own login cannot be made safe enough: it has no shared
throttling, answers unknown usernames at once (a timing leak), trusts any cookie it can
decode (no revocation) and raises on some malformed ones. So:

- The form checks passwords with `users.attempt_login`: failures are counted per username
  and per client in the app-state store (all sessions and processes), a locked username or
  client is told when to retry, and an unknown username costs the same bcrypt check.
- The login cookie is a JWT signed with the install's cookie key (a weak RADAR_COOKIE_KEY is
  refused), expiring after `users.COOKIE_EXPIRY_DAYS`, carrying the user's session
  fingerprint. Logout, a password change or removing the user changes the fingerprint, so
  every copy of an old cookie stops working ("log out everywhere"), and open sessions of
  that user end at their next run. Anything wrong with a cookie means "not logged in".
- The cookie is written by a browser component (components.shared.cookie_writer), i.e. by
  JavaScript, so it cannot be HttpOnly; revocation and the short-ish expiry make up for it.
  It is SameSite=strict, and Secure when the app is served over https.
- Session state belongs to one user: whenever the logged-in user of a session changes
  (logout, another login, a cookie login), every key except this module's bookkeeping is
  deleted, so nothing of the previous user (AI answers, chats, results) can be shown.

The guard reads these session-state keys:

    authentication_status   True once logged in (False after a wrong password, None before)
    username                the login; a CSM's username equals their `csm_owner`
    name                    display name
    roles                   a list holding the user's one role, e.g. ["csm"]

Page tests log a viewer in by setting them, no users file needed:

    at = AppTest.from_file("views/risk_board.py")
    auth.log_in(at.session_state, auth.TEST_VIEWERS["csm"])    # ana.silva, a CSM of the test data
    at.run()

Multipage details:
- Refresh / new tab: the cookie arrives with the websocket request (`st.context.cookies`),
  so the first run logs the user back in before anything is drawn.
- Deep links: app.py registers every page (menu hidden) while the login form shows, so
  /customer_360?customer_id=... keeps its path and query parameters through the login.
- Writing and deleting the cookie happen in a browser component that must get to run:
  both are queued in session state and the component is drawn on every run until the
  browser reports it done.
- Users removed (or re-roled) while logged in: each run re-reads the users file; a removed
  user is logged out and a role change applies at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import StopException  # what st.stop() raises

from components.shared import cookie_writer, preload
from engine.auth import users
from engine.core import config
from engine.core.access import ROLES, AccessDenied, Viewer
from engine.core.errors import RadarError

AUTH_STATUS = "authentication_status"
USERNAME = "username"
NAME = "name"
ROLES_KEY = "roles"

_LOGOUT_REQUESTED = "_radar_logout_requested"
_COOKIE_TASK = "_radar_cookie_task"
_NOTICE = "_radar_login_notice"
_OWNER = "_radar_session_owner"  # the username whose data this session's state holds
_FINGERPRINT = "_radar_session_fingerprint"  # the user's session fingerprint at login
_BOOK_OWNER = "_radar_book_owner"  # a CSM's csm_owner value when it is not their username
_COOKIE_SPENT = "_radar_cookie_spent"  # digest of the request's cookie once it must not log in again
_LOGIN_ERROR = "_radar_login_error"

# Kept when the session changes hands: login state and cookie machinery, nothing a page wrote.
_BOOKKEEPING = frozenset(
    {
        AUTH_STATUS,
        USERNAME,
        NAME,
        ROLES_KEY,
        "email",
        _LOGOUT_REQUESTED,
        _NOTICE,
        _OWNER,
        _FINGERPRINT,
        _COOKIE_SPENT,
        _BOOK_OWNER,
    }
)
_BOOKKEEPING_PREFIX = "_radar_cookie_"  # the cookie task and its component widgets

# The cookie writer draws nothing; take its slot out of the layout so it leaves no gap.
_HIDE_COOKIE_SLOT = (
    "<style>div[class*='st-key-_radar_cookie_'] {position: absolute; width: 0; height: 0; overflow: hidden;}</style>"
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

log = logging.getLogger(__name__)


# -- the session's viewer ----------------------------------------------------------------------
def log_in(state: Any, viewer: Viewer) -> None:
    """Put a logged-in viewer into a session state (st.session_state, or AppTest's for tests)."""
    state[AUTH_STATUS] = True
    state[USERNAME] = viewer.username
    state[NAME] = viewer.name
    state[ROLES_KEY] = [viewer.role]
    state[_BOOK_OWNER] = viewer.owner


def current_viewer() -> Viewer | None:
    """The logged-in viewer of this session, or None (not logged in, or no known role)."""
    state = st.session_state
    if state.get(AUTH_STATUS) is not True or not state.get(USERNAME):
        return None
    role = users.primary_role(state.get(ROLES_KEY))
    if not role:
        return None
    return Viewer(
        username=str(state[USERNAME]),
        role=role,
        name=str(state.get(NAME) or state[USERNAME]),
        owner=str(state.get(_BOOK_OWNER) or "") if role == "csm" else "",
    )


def require_viewer(page_key: str) -> Viewer:
    """The viewer, if logged in and allowed to open `page_key`; otherwise an error and st.stop().

    Every page calls this first: a page left out of the menu is not access control.
    """
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
    st.html(_HIDE_COOKIE_SLOT)
    state = st.session_state
    for key in (AUTH_STATUS, USERNAME, NAME, ROLES_KEY):
        state.setdefault(key, None)
    if state.pop(_LOGOUT_REQUESTED, False):
        _end_user_sessions(settings, state.get(USERNAME))
        _forget_session(settings, notice="You are logged out.")
    if state.get(AUTH_STATUS) is not True:
        _log_in_from_cookie(settings)
    if state.get(AUTH_STATUS) is True:
        _refresh_from_users_file(settings)
    if state.get(AUTH_STATUS) is True:
        _claim_session(str(state[USERNAME]))
    viewer = current_viewer()
    if viewer is not None:
        return viewer
    if state.get(AUTH_STATUS) is True:  # logged in, but the role is gone or unknown
        _forget_session(settings, notice="Your account has no role any more. Ask an admin.")
    _login_screen(settings)
    return None


def _request_cookie(name: str) -> str | None:
    """The cookie the browser sent with this session's request (None in AppTest)."""
    try:
        value = st.context.cookies.get(name)
    except Exception:  # no request context: a bare run or a test
        return None
    return value if isinstance(value, str) else None


def _client_id() -> str:
    """Who is knocking, for throttling: the connection's address; behind a local reverse
    proxy (no address) the address the nearest proxy appended to X-Forwarded-For."""
    try:
        address = st.context.ip_address
        if isinstance(address, str) and address:
            return address
        forwarded = st.context.headers.get("X-Forwarded-For")
    except Exception:  # no request context
        return "local"
    if not isinstance(forwarded, str):
        return "local"
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    return hops[-1] if hops else "local"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _log_in_from_cookie(settings: users.AuthSettings) -> None:
    """Log in with the request's cookie when it is genuine and current; a bad one is deleted."""
    token = _request_cookie(settings.cookie_name)
    if not token or st.session_state.get(_COOKIE_SPENT) == _digest(token):
        return
    username = users.username_from_token(settings, token)
    if username is None or settings.user(username) is None:
        st.session_state[_COOKIE_SPENT] = _digest(token)  # don't try it (or delete it) again
        _queue_cookie_delete(settings)
        return
    _start_session(settings, username)


def _start_session(settings: users.AuthSettings, username: str) -> None:
    """This session now belongs to `username` (a form or cookie login)."""
    user = settings.user(username)
    if user is None:  # pragma: no cover - callers checked
        return
    _claim_session(username)
    state = st.session_state
    state[AUTH_STATUS] = True
    state[USERNAME] = username
    state[NAME] = user.name or username
    state[ROLES_KEY] = [user.role] if user.role else []
    state[_BOOK_OWNER] = user.owner
    state[_FINGERPRINT] = settings.fingerprint(username)
    state.pop(_NOTICE, None)
    state.pop(_LOGIN_ERROR, None)


def _claim_session(username: str) -> None:
    """Wipe what another user left in this session's state before `username` sees anything."""
    state = st.session_state
    if state.get(_OWNER) == username:
        return
    _wipe_session_state()
    state[_OWNER] = username


def _wipe_session_state() -> None:
    """Delete every session-state key except the login and cookie bookkeeping."""
    state = st.session_state
    for key in list(state.keys()):
        if key in _BOOKKEEPING or str(key).startswith(_BOOKKEEPING_PREFIX):
            continue
        with contextlib.suppress(KeyError):
            del state[key]


def _login_screen(settings: users.AuthSettings) -> None:
    _, middle, _ = st.columns([1, 1.3, 1])
    with middle:
        st.title(":material/radar: Customer Radar")
        st.caption("Churn risk, drivers and next best actions for customer-success teams.")
        notice = st.session_state.get(_NOTICE)  # kept until the next login: the cookie task reruns the app
        if notice:
            st.info(notice, icon=":material/info:")
        if not settings.has_users:
            st.info(
                "No users yet. Create the first admin on the server, in the app's folder and with the "
                "app's `RADAR_DATA_DIR` (you are asked for a password):\n\n"
                f"`{users.FIRST_ADMIN_COMMAND}`",
                icon=":material/person_add:",
            )
        with st.form("radar_login", clear_on_submit=False):
            st.subheader("Log in")
            username = st.text_input("Username", key="radar_login_username", autocomplete="username")
            password = st.text_input(
                "Password", type="password", key="radar_login_password", autocomplete="current-password"
            )
            submitted = st.form_submit_button("Log in", type="primary")
        if submitted:
            _submit_login(settings, username, password)
        error = st.session_state.get(_LOGIN_ERROR)
        if error:
            st.error(error, icon=":material/error:")
        _demo_notice()
        preload.after_login_code()  # last: it takes no room, and the form shows first


def _submit_login(settings: users.AuthSettings, username: str, password: str) -> None:
    state = st.session_state
    try:
        result = users.attempt_login(settings, username, password, _client_id(), config.data_dir())
    except Exception:  # the throttle store is unreachable: refuse rather than check unthrottled
        log.exception("login check failed")
        state[AUTH_STATUS] = False
        state[_LOGIN_ERROR] = "Logging in is not possible right now. Try again in a minute, or ask an admin."
        return
    if result.username is None:
        state[AUTH_STATUS] = False
        state[_LOGIN_ERROR] = result.lockout.message if result.lockout else "Wrong username or password."
        return
    _start_session(settings, result.username)
    _queue_cookie_write(settings, result.username)
    st.rerun()  # draw the app instead of the form; the same page and query parameters


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
    """Apply removals, role changes and revocations made since login (CLI or Users page)."""
    if not settings.has_users:  # no users file: a session set up by a test, nothing to compare
        return
    state = st.session_state
    username = state.get(USERNAME)
    user = settings.user(username)
    if user is None:
        _forget_session(settings, notice="Your account was removed. Ask an admin if you need access.")
        return
    known = state.get(_FINGERPRINT)
    if known is not None and known != settings.fingerprint(username):
        _forget_session(
            settings, notice="Your login has ended (logged out elsewhere, or the password changed). Log in again."
        )
        return
    state[ROLES_KEY] = [user.role] if user.role else []
    state[_BOOK_OWNER] = user.owner
    state[NAME] = user.name or user.username


def _end_user_sessions(settings: users.AuthSettings, username: Any) -> None:
    """Logout is "log out everywhere": every cookie of this user stops working."""
    if not username or settings.user(str(username)) is None:
        return
    try:
        users.end_sessions(str(username), config.data_dir())
    except RadarError:
        log.exception("could not end the sessions of %s", username)


def _forget_session(settings: users.AuthSettings, notice: str) -> None:
    """Log the session out here and in the browser, and drop everything the user left in it."""
    state = st.session_state
    _wipe_session_state()
    for key in (AUTH_STATUS, USERNAME, NAME, "email", ROLES_KEY, _OWNER, _FINGERPRINT, _BOOK_OWNER):
        state[key] = None
    token = _request_cookie(settings.cookie_name)
    if token:
        state[_COOKIE_SPENT] = _digest(token)  # the request's cookie must not log this session in again
    _queue_cookie_delete(settings)
    state[_NOTICE] = notice


def _cookie_widget() -> str:
    return f"_radar_cookie_{secrets.token_hex(4)}"


def _queue_cookie_delete(settings: users.AuthSettings) -> None:
    st.session_state[_COOKIE_TASK] = {"kind": "delete", "name": settings.cookie_name, "widget": _cookie_widget()}


def _queue_cookie_write(settings: users.AuthSettings, username: str) -> None:
    token, expires = users.issue_login_token(settings, username)
    st.session_state[_COOKIE_TASK] = {
        "kind": "set",
        "name": settings.cookie_name,
        "token": token,
        "expires": expires,
        "widget": _cookie_widget(),
    }


def _served_over_https() -> bool:
    with contextlib.suppress(Exception):
        return str(st.context.url or "").startswith("https://")
    return False


def run_page(page: Any) -> None:
    """Run the page, then draw the cookie writer (app.py): after a page that ran to its end or
    to an `st.stop()`, not after one that hands over to another run (`st.switch_page`, as "/"
    does after every login, or `st.rerun`): drawn then, the browser's report would reach the
    next run while it draws, and interrupt it."""
    try:
        page.run()
    except StopException:
        sync_cookie()
        raise
    sync_cookie()


@st.fragment
def sync_cookie() -> None:
    """Draw the queued cookie write or delete until the browser reports it done (last in a run).

    A fragment: the browser's report reruns this slot, not the page behind it (a whole page
    run, drawn again, after every login and logout). It is drawn last in every run, after the
    page: a fragment rerun asked for while the page still runs interrupts that run, and the
    page stayed blank (the first login after a start, when the overview's cold caches take
    seconds and the cookie was written at once).
    """
    slot = st.container(key="_radar_cookie_slot")
    task = st.session_state.get(_COOKIE_TASK)
    if not task:
        return
    if cookie_writer.written(task["widget"]):
        del st.session_state[_COOKIE_TASK]
        return
    token = task["token"] if task["kind"] == "set" else None  # None deletes it
    data = cookie_writer.cookie_data(task["name"], token, task.get("expires"), secure=_served_over_https())
    with slot:
        cookie_writer.draw(task["widget"], data)


# -- the sidebar -------------------------------------------------------------------------------
def account_sidebar(viewer: Viewer) -> None:
    """Who is logged in, their role, and the logout button."""
    with st.sidebar:
        st.markdown(f"**{viewer.name or viewer.username}**")
        st.caption(f"{viewer.username} · {ROLE_LABELS.get(viewer.role, viewer.role)}")
        st.button("Log out", key="radar_logout", icon=":material/logout:", on_click=_request_logout, width="stretch")


def _request_logout() -> None:
    st.session_state[_LOGOUT_REQUESTED] = True
