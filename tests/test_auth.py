"""Users, passwords, roles and login: engine/auth/users.py, the `users` CLI, the login screen,
role-based navigation and the page guard (AppTest), and one real-browser run for what
AppTest cannot see (the re-authentication cookie across a refresh, deep links, logout)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import streamlit_authenticator as stauth
import yaml
from streamlit.runtime.scriptrunner_utils.exceptions import RerunException, StopException
from streamlit.testing.v1 import AppTest

from bench import load
from components.shared import auth, nav
from engine import cli
from engine.auth import users
from engine.core import contracts
from engine.core.access import PAGE_ROLES, ROLES
from engine.core.errors import BadInputError, NotFoundError
from engine.data import warehouse as warehouse_module
from engine.data.warehouse import get_warehouse
from tests.apptest import log_in_with_form

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
USERS_PAGE = str(ROOT / "views" / "users.py")
GOOD_PASSWORD = "tide-lantern-42"


pytestmark = pytest.mark.usefixtures("fast_logins")


@pytest.fixture
def data(tmp_path, monkeypatch) -> Path:
    """An empty data dir that the app and `config.data_dir()` use."""
    target = tmp_path / "data"
    target.mkdir()
    monkeypatch.setenv("RADAR_DATA_DIR", str(target))
    return target


@pytest.fixture
def demo_dir(data_dir_copy, monkeypatch) -> Path:
    """A writable copy of the generated data with the demo users, used by the app."""
    users.create_demo_users(get_warehouse(data_dir_copy), data_dir_copy)
    monkeypatch.setenv("RADAR_DATA_DIR", str(data_dir_copy))
    return data_dir_copy


def _app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(query or {})
    return at


def _titles(role: str) -> set[str]:
    return {p.title for p in nav.pages_for(role)}


MENUS: list[set[str]] = []  # the visible pages of each st.navigation call, newest last


@pytest.fixture(autouse=True)
def _record_menus(monkeypatch):
    """Note which pages each st.navigation call shows: AppTest keeps the registered pages, not
    whether each is hidden."""
    import streamlit

    real = streamlit.navigation

    def recording(pages, *args, **kwargs):
        flat = [p for group in pages.values() for p in group] if isinstance(pages, dict) else list(pages)
        shown = kwargs.get("position", "sidebar") != "hidden"
        MENUS.append({p.title for p in flat if shown and getattr(p, "_visibility", "visible") != "hidden"})
        return real(pages, *args, **kwargs)

    MENUS.clear()
    monkeypatch.setattr(streamlit, "navigation", recording)


def _menu_titles(at: AppTest) -> set[str]:
    """The pages the sidebar menu showed in the last run (hidden ones are registered, not listed)."""
    assert MENUS, "st.navigation was not called"
    return MENUS[-1]


def _registered_titles(at: AppTest) -> set[str]:
    """The pages this run gave to st.navigation (AppTest keeps them to resolve switch_page)."""
    return {info["page_name"] for info in at._registered_pages.values()}


# -- engine: users file ------------------------------------------------------------------------
def test_add_list_and_remove_users_keep_only_hashes(data):
    users.add_user("Zoe.Park", GOOD_PASSWORD, "analyst", "Zoe Park", "zoe@example.com", data)
    users.add_user("ana.silva", "harbour-owl-17", "csm", "Ana Silva", "", data)
    listed = users.list_users(data)
    assert [contracts.to_dict(u) for u in listed] == [
        {"username": "ana.silva", "name": "Ana Silva", "email": "", "role": "csm", "owner": ""},
        {"username": "zoe.park", "name": "Zoe Park", "email": "zoe@example.com", "role": "analyst", "owner": ""},
    ]
    path = users.users_path(data)
    text = path.read_text()
    assert GOOD_PASSWORD not in text and "harbour-owl-17" not in text
    stored = yaml.safe_load(text)["credentials"]["usernames"]["zoe.park"]
    assert stored["password"].startswith("$2b$04$") and stored["roles"] == ["analyst"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert users.verify_password("zoe.park", GOOD_PASSWORD, data)
    assert not users.verify_password("zoe.park", "harbour-owl-17", data)
    assert not users.verify_password("nobody", GOOD_PASSWORD, data)

    users.remove_user("ana.silva", data)
    assert [u.username for u in users.list_users(data)] == ["zoe.park"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_set_password_and_role(data):
    users.add_user("admin", GOOD_PASSWORD, "admin", data_dir=data)
    users.add_user("zoe", GOOD_PASSWORD, "executive", data_dir=data)
    before = yaml.safe_load(users.users_path(data).read_text())["credentials"]["usernames"]["zoe"]["password"]
    users.set_password("zoe", "new-harbour-99", data)
    after = yaml.safe_load(users.users_path(data).read_text())["credentials"]["usernames"]["zoe"]["password"]
    assert after != before
    assert users.verify_password("zoe", "new-harbour-99", data)
    assert not users.verify_password("zoe", GOOD_PASSWORD, data)
    assert users.set_role("zoe", "analyst", data).role == "analyst"
    assert users.get_user("zoe", data).role == "analyst"


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("short1", "too short"),
        ("password123", "easy to guess"),
        ("zoe.park", "easy to guess"),  # the username
        ("aaaabbbb", "different"),
        ("é" * 40, "too long"),  # 80 bytes: bcrypt would ignore the tail
    ],
)
def test_weak_passwords_are_refused_with_the_reason(data, password, reason):
    with pytest.raises(BadInputError, match=reason):
        users.add_user("zoe.park", password, "analyst", data_dir=data)
    assert not users.users_path(data).exists() or users.list_users(data) == []


def test_clear_errors_for_duplicates_unknown_roles_users_and_bad_names(data):
    users.add_user("zoe", GOOD_PASSWORD, "admin", data_dir=data)
    with pytest.raises(BadInputError, match="already exists"):
        users.add_user("ZOE", GOOD_PASSWORD, "analyst", data_dir=data)
    with pytest.raises(BadInputError, match="Unknown role 'boss'. Roles are: csm, executive, analyst, admin"):
        users.add_user("max", GOOD_PASSWORD, "boss", data_dir=data)
    with pytest.raises(BadInputError, match="Unknown role"):
        users.set_role("zoe", "boss", data)
    with pytest.raises(BadInputError, match="not a usable username"):
        users.add_user("max power", GOOD_PASSWORD, "analyst", data_dir=data)
    with pytest.raises(BadInputError, match="not an email"):
        users.add_user("max", GOOD_PASSWORD, "analyst", email="max-at-example", data_dir=data)
    for action in (
        lambda: users.remove_user("nobody", data),
        lambda: users.set_password("nobody", GOOD_PASSWORD, data),
        lambda: users.set_role("nobody", "csm", data),
        lambda: users.get_user("nobody", data),
    ):
        with pytest.raises(NotFoundError, match="No user 'nobody'"):
            action()
    assert [u.username for u in users.list_users(data)] == ["zoe"]


def test_the_last_admin_cannot_be_removed_or_demoted(data):
    users.add_user("root", GOOD_PASSWORD, "admin", data_dir=data)
    with pytest.raises(BadInputError, match="only admin"):
        users.remove_user("root", data)
    with pytest.raises(BadInputError, match="only admin"):
        users.set_role("root", "analyst", data)
    users.add_user("second", GOOD_PASSWORD, "admin", data_dir=data)
    users.set_role("root", "analyst", data)
    users.remove_user("root", data)
    assert [(u.username, u.role) for u in users.list_users(data)] == [("second", "admin")]


def test_a_failed_write_leaves_the_old_file_whole(data, monkeypatch):
    users.add_user("zoe", GOOD_PASSWORD, "admin", data_dir=data)
    path = users.users_path(data)
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(users.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        users.add_user("max", GOOD_PASSWORD, "analyst", data_dir=data)
    assert path.read_bytes() == before
    assert [p.name for p in data.iterdir() if p.name.endswith(".tmp")] == []


def test_a_broken_users_file_is_reported_not_overwritten(data):
    path = users.users_path(data)
    path.write_text("credentials: [unclosed\n")
    with pytest.raises(BadInputError, match="cannot be read"):
        users.list_users(data)
    with pytest.raises(BadInputError, match="cannot be read"):
        users.add_user("zoe", GOOD_PASSWORD, "admin", data_dir=data)
    assert path.read_text() == "credentials: [unclosed\n"


def test_cookie_key_is_random_per_install_persisted_and_overridable(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    users.auth_settings(empty)
    assert not users.users_path(empty).exists()  # no user, nobody to log in: nothing written
    users.add_user("zoe", GOOD_PASSWORD, "admin", data_dir=empty)
    assert users.auth_settings(empty).cookie_key == users.auth_settings(empty).cookie_key
    first, second = tmp_path / "one", tmp_path / "two"
    key = users.cookie_key(first)
    assert len(key) >= 40
    assert users.cookie_key(first) == key  # persisted, so restarts keep people logged in
    assert users.cookie_key(second) != key
    stored = yaml.safe_load(users.users_path(first).read_text())
    assert stored["cookie"]["key"] == key
    assert stat.S_IMODE(users.users_path(first).stat().st_mode) == 0o600

    strong = "k3Y-from-the-secrets-Vq9ZpL2wXr7TmB4n"
    monkeypatch.setenv(users.COOKIE_KEY_ENV, strong)
    third = tmp_path / "three"
    assert users.cookie_key(third) == strong
    assert users.auth_settings(third).cookie_key == strong
    assert not users.users_path(third).exists()  # nothing written when the key comes from outside


def test_settings_are_in_the_layout_streamlit_authenticator_reads(data):
    users.add_user("zoe", GOOD_PASSWORD, "executive", "Zoe Park", data_dir=data)
    settings = users.auth_settings(data)
    assert settings.cookie_name == users.COOKIE_NAME
    assert settings.cookie_expiry_days == users.COOKIE_EXPIRY_DAYS
    entry = settings.credentials["usernames"]["zoe"]
    assert entry["roles"] == ["executive"] and entry["name"] == "Zoe Park"
    assert stauth.Hasher.is_hash(entry["password"])
    assert stauth.Hasher.check_pw(GOOD_PASSWORD, entry["password"])
    assert not settings.demo
    entry["roles"].append("admin")  # the authenticator may change its copy; the file must not follow
    assert users.get_user("zoe", data).role == "executive"


# -- engine: typed results ---------------------------------------------------------------------
def _round_trip(result: contracts.Contract) -> None:
    """result -> JSON -> result -> JSON gives the same text and an equal result."""
    text = contracts.to_json(result)
    back = contracts.from_json(type(result), text)
    assert contracts.to_json(back) == text and back == result


def test_user_login_and_lockout_results_are_contracts_that_round_trip(data):
    user = users.add_user("zoe.park", GOOD_PASSWORD, "analyst", "Zoe Park", "zoe@example.com", data)
    assert isinstance(user, contracts.Contract) and user == users.get_user("zoe.park", data)
    _round_trip(user)
    settings = users.auth_settings(data)
    _round_trip(users.attempt_login(settings, "zoe.park", GOOD_PASSWORD, "c1", data, T0))
    for _ in range(users.MAX_FAILURES_PER_USER):
        users.attempt_login(settings, "zoe.park", "wrong-pass-1", "c1", data, T0)
    refused = users.attempt_login(settings, "zoe.park", GOOD_PASSWORD, "c1", data, T0)
    assert refused.lockout is not None
    _round_trip(refused)
    sent = contracts.to_dict(refused)
    assert sent["username"] is None and sent["lockout"]["message"] == refused.lockout.message
    assert contracts.from_json(users.Lockout, sent["lockout"]).retry_at == refused.lockout.retry_at
    _round_trip(users.DemoLogin(username="admin", role="admin", password=users.DEMO_PASSWORDS["admin"]))


def test_login_settings_never_show_their_secrets(data):
    users.add_user("zoe", GOOD_PASSWORD, "analyst", data_dir=data)
    settings = users.auth_settings(data)
    shown = repr(settings)
    assert settings.cookie_key not in shown and "$2b$" not in shown and settings.cookie_name in shown


# -- engine: demo users ------------------------------------------------------------------------
def test_demo_users_match_the_csm_owners_of_the_warehouse(data_dir_copy):
    wh = get_warehouse(data_dir_copy)
    owners = {r[0] for r in wh.rows("SELECT DISTINCT csm_owner FROM customers")}
    assert len(owners) >= 2
    logins = users.create_demo_users(wh, data_dir_copy)
    listed = {u.username: u for u in users.list_users(data_dir_copy)}
    assert {u for u, u_ in listed.items() if u_.role == "csm"} == owners
    assert {(u.username, u.role) for u in listed.values() if u.role != "csm"} == {
        ("admin", "admin"),
        ("analyst", "analyst"),
        ("exec", "executive"),
    }
    assert listed["ana.silva"].name == "Ana Silva"
    assert {(x.username, x.password) for x in logins} == {
        (u.username, users.DEMO_PASSWORDS[u.role]) for u in listed.values()
    }
    for username, password in (("admin", "demo-admin"), ("exec", "demo-exec"), (sorted(owners)[0], "demo-csm")):
        assert users.verify_password(username, password, data_dir_copy)
    assert set(users.demo_logins(data_dir_copy)) == set(logins)
    assert yaml.safe_load(users.users_path(data_dir_copy).read_text())["demo"] is True

    # Only the first run creates them; a changed password leaves the notice.
    assert users.create_demo_users(wh, data_dir_copy) == []
    users.set_password("admin", "private-harbour-8", data_dir_copy)
    assert "admin" not in {x.username for x in users.demo_logins(data_dir_copy)}
    assert users.verify_password("admin", "private-harbour-8", data_dir_copy)


def test_no_demo_users_when_someone_exists_and_no_notice_for_real_files(data_dir_copy):
    users.add_user("owner", GOOD_PASSWORD, "admin", data_dir=data_dir_copy)
    assert users.create_demo_users(get_warehouse(data_dir_copy), data_dir_copy) == []
    assert [u.username for u in users.list_users(data_dir_copy)] == ["owner"]
    assert users.demo_logins(data_dir_copy) == []


def _stub_model_and_scores(monkeypatch) -> None:
    """`engine demo` without training, scoring or the sample scenario (tested elsewhere)."""
    from engine import scenarios
    from engine.churn import registry, scoring

    monkeypatch.setattr(registry, "load_production", lambda *a, **k: None)
    scored = SimpleNamespace(customers=0, as_of="2026-06-30", model_version="stub")
    monkeypatch.setattr(scoring, "score", lambda *a, **k: scored)
    monkeypatch.setattr(scoring, "backfill", lambda *a, **k: [])
    monkeypatch.setattr(scenarios, "save_sample_plan", lambda *a, **k: None, raising=False)


def test_engine_demo_command_creates_users_once(data_dir_copy, monkeypatch, capsys):
    """`python -m engine demo` on generated data creates the users; model and scores are stubbed."""
    _stub_model_and_scores(monkeypatch)
    assert cli.main(["--data-dir", str(data_dir_copy), "demo"]) == 0
    out = capsys.readouterr().out
    assert "admin / demo-admin" in out and "demo-csm" in out
    assert cli.main(["--data-dir", str(data_dir_copy), "demo"]) == 0
    assert "already has users" in capsys.readouterr().out


# -- CLI ---------------------------------------------------------------------------------------
def _cli(data: Path, *argv: str, stdin: str | None = None, monkeypatch=None) -> int:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return cli.main(["--data-dir", str(data), "users", *argv])


def test_cli_add_list_json_remove(data, monkeypatch, capsys):
    assert (
        _cli(
            data,
            "add",
            "zoe.park",
            "--role",
            "analyst",
            "--name",
            "Zoe Park",
            "--email",
            "zoe@example.com",
            "--password-stdin",
            stdin=GOOD_PASSWORD + "\n",
            monkeypatch=monkeypatch,
        )
        == 0
    )
    assert "Added zoe.park (analyst)" in capsys.readouterr().out
    assert users.verify_password("zoe.park", GOOD_PASSWORD, data)
    assert _cli(data, "list", "--json") == 0
    out = capsys.readouterr().out
    assert json.loads(out) == [
        {"username": "zoe.park", "name": "Zoe Park", "email": "zoe@example.com", "role": "analyst", "owner": ""}
    ]
    assert "$2b$" not in out
    assert _cli(data, "list") == 0
    plain = capsys.readouterr().out
    assert "zoe.park" in plain and "analyst" in plain and "$2b$" not in plain

    assert _cli(data, "set-role", "zoe.park", "--role", "executive") == 0
    assert users.get_user("zoe.park", data).role == "executive"
    assert (
        _cli(data, "set-password", "zoe.park", "--password-stdin", stdin="lantern-tide-77\n", monkeypatch=monkeypatch)
        == 0
    )
    assert users.verify_password("zoe.park", "lantern-tide-77", data)
    assert _cli(data, "remove", "zoe.park") == 0
    capsys.readouterr()
    assert _cli(data, "list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (("add", "zoe", "--role", "boss", "--password-stdin"), GOOD_PASSWORD, "Unknown role 'boss'"),
        (("add", "zoe", "--role", "analyst", "--password-stdin"), "", "password is empty"),
        (("add", "zoe", "--role", "analyst", "--password-stdin"), "abc\n", "too short"),
        (("add", "existing", "--role", "analyst", "--password-stdin"), GOOD_PASSWORD, "already exists"),
        (("add", "bad name", "--role", "analyst", "--password-stdin"), GOOD_PASSWORD, "not a usable username"),
        (("remove", "nobody"), None, "No user 'nobody'"),
        (("set-password", "nobody", "--password-stdin"), GOOD_PASSWORD, "No user 'nobody'"),
        (("set-role", "nobody", "--role", "csm"), None, "No user 'nobody'"),
        (("set-role", "existing", "--role", "boss"), None, "Unknown role"),
        (("remove", "existing"), None, "only admin"),
        (("add", "zoe", "--role", "analyst"), "", "--password-stdin"),  # no terminal to prompt on
    ],
)
def test_cli_errors_exit_2_with_a_clear_message(data, monkeypatch, capsys, argv, stdin, message):
    users.add_user("existing", GOOD_PASSWORD, "admin", data_dir=data)
    before = users.users_path(data).read_bytes()
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
    assert _cli(data, *argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err
    assert users.users_path(data).read_bytes() == before


def test_cli_prompts_twice_when_interactive(data, monkeypatch, capsys):
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    answers = iter([GOOD_PASSWORD, "something-else-1"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert _cli(data, "add", "zoe", "--role", "analyst") == 2
    assert "differ" in capsys.readouterr().err
    assert users.list_users(data) == []
    answers = iter([GOOD_PASSWORD, GOOD_PASSWORD])
    assert _cli(data, "add", "zoe", "--role", "analyst") == 0
    assert users.verify_password("zoe", GOOD_PASSWORD, data)


# -- navigation table ----------------------------------------------------------------------------
def test_every_page_in_the_table_has_access_rules_and_a_unique_file():
    assert {p.key for p in nav.PAGES} <= set(PAGE_ROLES)
    assert len({p.path for p in nav.PAGES}) == len(nav.PAGES)
    assert {p.key for p in nav.available_pages()} >= {"overview", "users"}
    assert [p.key for p in nav.pages_for("csm")] == [p.key for p in nav.available_pages() if "csm" in PAGE_ROLES[p.key]]
    assert "users" not in {p.key for p in nav.pages_for("analyst")}
    assert nav.pages_for("csm")[0].key != "overview"  # a CSM's home is their own book


# -- the app: login ------------------------------------------------------------------------------
def test_login_form_renders_with_the_demo_notice(demo_dir):
    at = _app().run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert at.text_input[1].proto.type == at.text_input[1].proto.PASSWORD
    assert [b.label for b in at.button] == ["Log in"]
    assert not at.sidebar.button  # no logout, no account
    notice = at.expander[0]
    assert notice.label == "Demo credentials"
    text = " ".join(m.value for m in notice.markdown)
    assert "`admin` / `demo-admin`" in text and "`ana.silva`" in text and "`demo-csm`" in text
    assert users.users_path(demo_dir).exists()


def test_no_demo_notice_and_a_hint_without_users(data):
    at = _app().run()
    assert not at.exception
    assert not at.expander
    assert any("No users yet" in i.value for i in at.info)
    users.add_user("owner", GOOD_PASSWORD, "admin", data_dir=data)
    at = _app().run()
    assert not at.expander and not at.info  # a real install never shows demo passwords


@pytest.mark.parametrize(
    ("username", "password", "role"), [("admin", "demo-admin", "admin"), ("ana.silva", "demo-csm", "csm")]
)
def test_logging_in_with_the_form_shows_the_roles_navigation(demo_dir, username, password, role):
    at = log_in_with_form(_app().run(), username, password)
    assert not at.exception
    assert not at.error
    assert at.session_state[auth.AUTH_STATUS] is True
    assert at.session_state[auth.ROLES_KEY] == [role]
    assert _menu_titles(at) == _titles(role)
    assert "Username" not in [t.label for t in at.text_input]
    assert f"{username} · {auth.ROLE_LABELS[role]}" in [c.value for c in at.sidebar.caption]
    assert [b.label for b in at.sidebar.button] == ["Log out"]


def test_a_wrong_password_shows_an_error_and_no_pages(demo_dir):
    at = log_in_with_form(_app().run(), "admin", "demo-analyst")
    assert not at.exception
    assert [e.value for e in at.error] == ["Wrong username or password."]
    assert at.session_state[auth.AUTH_STATUS] is False
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert not at.sidebar.button
    at = log_in_with_form(at, "nobody", "demo-admin")
    assert [e.value for e in at.error] == ["Wrong username or password."]


def test_a_deep_link_keeps_its_page_and_query_after_login(demo_dir):
    at = _app({"customer_id": "no-such-id"}).run()
    at.switch_page("views/customer_360.py").run()  # as if the browser opened /customer_360?customer_id=...
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    at = log_in_with_form(at, "admin", "demo-admin")
    assert not at.exception
    assert at.query_params == {"customer_id": "no-such-id"}
    assert "Customer 360" in [t.value for t in at.title]  # the linked page ran, not the home page
    assert any("no-such-id" in e.value for e in at.error)  # ... and it read the query parameter


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_its_pages(demo_dir, role):
    at = _app()
    auth.log_in(at.session_state, auth.TEST_VIEWERS[role])
    at.run()
    assert not at.exception
    assert _titles(role) == {p.title for p in nav.available_pages() if role in PAGE_ROLES[p.key]}
    assert _menu_titles(at) == _titles(role)  # the menu: exactly the role's pages
    # Every page is registered (the others hidden), so a deep link to a page the role may not open
    # reaches that page's own guard, which says so, not Streamlit's "page does not seem to exist".
    assert _registered_titles(at) == {p.title for p in nav.available_pages()}
    for page in nav.available_pages():
        at.switch_page(page.path).run()
        assert not at.exception
        refused = [e.value for e in at.error if "cannot open this page" in e.value]
        assert bool(refused) == (role not in PAGE_ROLES[page.key]), page.key
        if refused:  # the guard and nothing of the page
            assert not at.tabs and not at.main.button and not at.dataframe and not at.get("plotly_chart"), page.key


def test_logout_returns_to_the_login_form(demo_dir):
    at = _app()
    auth.log_in(at.session_state, auth.TEST_VIEWERS["analyst"])
    at.run()
    assert [b.label for b in at.sidebar.button] == ["Log out"]
    at.sidebar.button[0].click().run()
    assert not at.exception
    assert at.session_state[auth.AUTH_STATUS] is None
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert "You are logged out." in [i.value for i in at.info]
    assert not at.sidebar.button


def test_role_changes_and_removals_reach_open_sessions(demo_dir):
    at = _app()
    auth.log_in(at.session_state, auth.TEST_VIEWERS["analyst"])
    at.run()
    assert _menu_titles(at) == _titles("analyst")
    users.set_role("analyst", "csm", demo_dir)
    at.run()
    assert _menu_titles(at) == _titles("csm")
    users.remove_user("analyst", demo_dir)
    at.run()
    assert at.session_state[auth.AUTH_STATUS] is None
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert any("removed" in i.value for i in at.info)


def test_switching_pages_runs_through_the_app_with_its_menu(demo_dir):
    """Pages live in views/, so Streamlit never runs a page file on its own: app.py's login,
    menu and guard come with every page."""
    at = _app()
    auth.log_in(at.session_state, auth.TEST_VIEWERS["admin"])
    at.run()
    at.switch_page("views/users.py").run()
    assert not at.exception
    assert "Users" in [t.value for t in at.title]
    assert _menu_titles(at) == _titles("admin")  # app.py's menu, not one entry per file
    assert _registered_titles(at) == {p.title for p in nav.available_pages()}
    assert [b.label for b in at.sidebar.button] == ["Log out"]


# -- the page guard ------------------------------------------------------------------------------
def test_guard_refuses_without_login_and_for_roles_that_may_not_open_a_page(demo_dir):
    at = AppTest.from_file(USERS_PAGE, default_timeout=30).run()
    assert [e.value for e in at.error] == ["Please log in to see this page."]
    assert not at.dataframe
    for role in ("csm", "executive", "analyst"):
        at = AppTest.from_file(USERS_PAGE, default_timeout=30)
        auth.log_in(at.session_state, auth.TEST_VIEWERS[role])
        at.run()
        assert not at.exception
        assert [e.value for e in at.error] == [
            f"Your role ({role}) cannot open this page. Ask an admin if you need access."
        ]
        assert not at.dataframe and not at.title
    at = AppTest.from_file(str(ROOT / "views" / "overview.py"), default_timeout=30)
    auth.log_in(at.session_state, auth.TEST_VIEWERS["csm"])
    at.run()
    assert [e.value for e in at.error] == ["Your role (csm) cannot open this page. Ask an admin if you need access."]
    assert not at.metric


def test_guard_refuses_a_session_without_a_known_role(demo_dir):
    at = AppTest.from_file(USERS_PAGE, default_timeout=30)
    auth.log_in(at.session_state, auth.TEST_VIEWERS["admin"])
    at.session_state[auth.ROLES_KEY] = ["superuser"]
    at.run()
    assert len(at.error) == 1 and "has no known role" in at.error[0].value
    assert not at.dataframe


# -- the users page ------------------------------------------------------------------------------
def _users_page(demo_dir: Path) -> AppTest:
    at = AppTest.from_file(USERS_PAGE, default_timeout=30)
    auth.log_in(at.session_state, auth.TEST_VIEWERS["admin"])
    return at.run()


def test_users_page_lists_users_and_adds_one(demo_dir):
    at = _users_page(demo_dir)
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert list(table.columns) == ["Username", "Name", "Role", "Email", "Book (csm_owner)", "Accounts"]
    assert set(table["Username"]) == {u.username for u in users.list_users(demo_dir)}
    assert "password" not in " ".join(table.columns).lower()

    inputs = {t.label: t for t in at.text_input if "users_add" in str(t.form_id)}
    inputs["Username"].input("zoe.park")
    inputs["Name"].input("Zoe Park")
    inputs["Password"].input(GOOD_PASSWORD)
    inputs["Repeat the password"].input(GOOD_PASSWORD)
    next(s for s in at.selectbox if s.label == "Role").set_value("analyst")
    next(b for b in at.button if b.label == "Add user").click()
    at.run()
    assert not at.exception and not at.error
    assert [s.value for s in at.success] == ["Added zoe.park as Analyst."]
    assert users.get_user("zoe.park", demo_dir).role == "analyst"
    assert users.verify_password("zoe.park", GOOD_PASSWORD, demo_dir)
    assert "zoe.park" in set(at.dataframe[0].value["Username"])


def test_users_page_shows_engine_errors(demo_dir):
    at = _users_page(demo_dir)
    inputs = {t.label: t for t in at.text_input if "users_add" in str(t.form_id)}
    inputs["Username"].input("ana.silva")
    inputs["Password"].input(GOOD_PASSWORD)
    inputs["Repeat the password"].input(GOOD_PASSWORD)
    next(b for b in at.button if b.label == "Add user").click()
    at.run()
    assert not at.exception
    assert any("already exists" in e.value for e in at.error)
    inputs = {t.label: t for t in at.text_input if "users_add" in str(t.form_id)}
    inputs["Username"].input("zoe.park")
    inputs["Password"].input("short")
    inputs["Repeat the password"].input("short")
    next(b for b in at.button if b.label == "Add user").click()
    at.run()
    assert any("too short" in e.value for e in at.error)
    assert "zoe.park" not in {u.username for u in users.list_users(demo_dir)}


def test_users_page_changes_a_role_resets_a_password_and_removes_with_confirmation(demo_dir):
    at = _users_page(demo_dir)
    assert "admin" not in at.selectbox(key="users_remove_who").options  # never yourself
    assert "admin" not in at.selectbox(key="users_role_who").options

    at.selectbox(key="users_role_who").set_value("exec")
    at.selectbox(key="users_role_new").set_value("analyst")
    next(b for b in at.button if b.label == "Change role").click()
    at.run()
    assert any("Tick the box" in w.value for w in at.warning)
    assert users.get_user("exec", demo_dir).role == "executive"  # nothing without the confirmation
    at.checkbox(key="users_role_sure").check()
    next(b for b in at.button if b.label == "Change role").click()
    at.run()
    assert [s.value for s in at.success] == ["exec is now Analyst."]
    assert users.get_user("exec", demo_dir).role == "analyst"

    at.selectbox(key="users_password_who").set_value("ana.silva")
    at.text_input(key="users_password_new").input("fresh-lantern-5")
    at.text_input(key="users_password_repeat").input("fresh-lantern-5")
    at.checkbox(key="users_password_sure").check()
    next(b for b in at.button if b.label == "Reset password").click()
    at.run()
    assert not at.error
    assert users.verify_password("ana.silva", "fresh-lantern-5", demo_dir)

    at.selectbox(key="users_remove_who").set_value("ben.okafor")
    at.checkbox(key="users_remove_sure").check()
    next(b for b in at.button if b.label == "Remove user").click()
    at.run()
    assert [s.value for s in at.success] == ["Removed ben.okafor."]
    assert "ben.okafor" not in {u.username for u in users.list_users(demo_dir)}


# -- a real browser: refresh, deep link, logout --------------------------------------------------
@pytest.mark.browser
def test_browser_login_survives_refresh_and_deep_links_and_logout_ends_it(demo_dir, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("no chromium (make browser installs Debian's)")
    with _fresh_server(demo_dir, tmp_path / "streamlit.log") as base, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(30_000)
        username = page.get_by_role("textbox", name="Username")
        password = page.get_by_role("textbox", name="Password", exact=True)

        # A deep link while logged out: the login form, then the linked page with its query.
        page.goto(f"{base}/users?tab=roles")
        username.fill("admin")
        password.fill("demo-admin")
        page.get_by_role("button", name="Log in").click()
        page.get_by_text("admin · Admin").wait_for()
        page.wait_for_function(
            "name => document.cookie.includes(name)", arg=users.COOKIE_NAME
        )  # the re-authentication cookie reached the browser
        (cookie,) = [c for c in context.cookies() if c["name"] == users.COOKIE_NAME]
        assert (cookie["sameSite"], cookie["path"], cookie["secure"], cookie["httpOnly"]) == (
            "Strict",
            "/",
            False,
            False,
        )
        days = users.auth_settings(demo_dir).cookie_expiry_days
        assert days - 0.01 < (cookie["expires"] - time.time()) / 86_400 <= days  # the token's own expiry
        assert page.url == f"{base}/users?tab=roles"
        page.get_by_role("heading", name="Users").wait_for()

        # A refresh and another deep link keep the login (the cookie), with no login form.
        page.reload()
        page.get_by_role("heading", name="Users").wait_for()
        assert page.get_by_role("button", name="Log in").count() == 0
        page.goto(f"{base}/customer_360?customer_id=abc")
        page.get_by_text("admin · Admin").wait_for()
        assert page.url == f"{base}/customer_360?customer_id=abc"

        # Logout ends it for good: the cookie is gone, a refresh shows the login form.
        page.get_by_role("button", name="Log out").click()
        page.get_by_text("You are logged out.").wait_for()
        page.wait_for_function("name => !document.cookie.includes(name)", arg=users.COOKIE_NAME)
        page.reload()
        username.wait_for()
        assert page.get_by_text("admin · Admin").count() == 0
        browser.close()


# == issue 12: security regressions ==============================================================
@pytest.fixture
def scored_demo(scored_copy, monkeypatch) -> Path:
    """Scored generated data with the demo users, used by the app, AI offline."""
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    users.create_demo_users(get_warehouse(scored_copy), scored_copy)
    monkeypatch.setenv("RADAR_DATA_DIR", str(scored_copy))
    return scored_copy


def _other_books_account(data_dir: Path, csm: str) -> str:
    wh = get_warehouse(data_dir)
    return wh.scalar("SELECT customer_id FROM customers WHERE csm_owner <> ? ORDER BY customer_id LIMIT 1", [csm])


def _log_out(at: AppTest) -> AppTest:
    next(b for b in at.sidebar.button if b.label == "Log out").click()
    return at.run()


# -- 1. nothing of one user reaches the next ------------------------------------------------------
def test_an_admins_ai_answers_are_not_shown_to_the_csm_who_logs_in_next(scored_demo):
    csm = auth.TEST_VIEWERS["csm"].username
    theirs = _other_books_account(scored_demo, csm)
    at = log_in_with_form(_app().run(), "admin", "demo-admin")
    at.switch_page("views/ai_qa.py")
    at.query_params["customer_id"] = theirs
    at.run()
    next(t for t in at.text_input if t.label == "Question").input("Which accounts have churn above 20 %?")
    at.button(key="ask_portfolio").click().run()
    next(t for t in at.text_input if t.label == "Your question").input("Why is this account at risk?")
    at.button(key="ask_account").click().run()
    assert not at.exception
    assert at.dataframe and len(at.dataframe[0].value) > 0 and at.chat_message  # the admin's answers
    admin_sql = [c.value for c in at.code]
    assert admin_sql
    at.session_state["scenario_result"] = "something the admin computed"  # any page's own state

    at = _log_out(at)
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert "scenario_result" not in at.session_state and "_radar_ai_results" not in at.session_state

    at = log_in_with_form(at, csm, "demo-csm")
    at.switch_page("views/ai_qa.py")
    at.query_params["customer_id"] = theirs
    at.run()
    assert not at.exception
    assert f"{csm} · {auth.ROLE_LABELS['csm']}" in [c.value for c in at.sidebar.caption]
    assert not at.dataframe  # no portfolio table (the admin's had every owner's accounts)
    assert not at.chat_message  # no chat about another CSM's account
    assert not [c for c in at.code if c.value in admin_sql]
    assert "scenario_result" not in at.session_state


def test_ai_results_are_kept_per_user_even_without_a_logout(scored_demo):
    """Defence in depth: `ai.recall` only returns what the current user asked."""
    at = _app()
    auth.log_in(at.session_state, auth.TEST_VIEWERS["admin"])
    at.run()
    at.switch_page("views/ai_qa.py").run()
    next(t for t in at.text_input if t.label == "Question").input("Which accounts have churn above 20 %?")
    at.button(key="ask_portfolio").click().run()
    assert at.dataframe
    stored = at.session_state["_radar_ai_results"]
    at.session_state[auth.USERNAME] = "exec"  # as if the user changed without anyone clearing state
    at.session_state["_radar_session_owner"] = "exec"
    at.session_state["_radar_ai_results"] = stored
    at.run()
    assert not at.exception and not at.dataframe


# -- 2. demo logins only for generated demo data ------------------------------------------------
def _loaded_customers_csv(tmp_path: Path, ids: list[str]) -> Path:
    path = tmp_path / "customers.csv"
    rows = ["customer_id,name,plan_tier,signup_date,status,csm_owner"]
    rows += [f"{cid},Real Co {i},growth,2024-01-15,active,maria.lopez" for i, cid in enumerate(ids)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_only_a_generated_warehouse_gets_demo_logins(data_dir_copy, empty_dir, tmp_path):
    from engine.data import ingest

    generated = get_warehouse(data_dir_copy)
    assert users.is_demo_warehouse(generated)
    loaded = get_warehouse(empty_dir)
    ingest.load_file(loaded, "customers", _loaded_customers_csv(tmp_path, ["REAL-1", "REAL-2"]))
    assert not users.is_demo_warehouse(loaded)
    assert users.create_demo_users(loaded, empty_dir) == []
    assert users.list_users(empty_dir) == [] and not users.users_path(empty_dir).exists()
    # generated data with real customers loaded on top is not a demo either
    ingest.load_file(generated, "customers", _loaded_customers_csv(tmp_path, ["REAL-3"]))
    assert not users.is_demo_warehouse(generated)
    assert users.create_demo_users(generated, data_dir_copy) == []


def test_engine_demo_on_loaded_data_makes_no_logins_and_says_how_to_add_an_admin(
    empty_dir, tmp_path, monkeypatch, capsys
):
    from engine.data import ingest

    ingest.load_file(get_warehouse(empty_dir), "customers", _loaded_customers_csv(tmp_path, ["REAL-1"]))
    _stub_model_and_scores(monkeypatch)
    assert cli.main(["--data-dir", str(empty_dir), "demo"]) == 0
    out = capsys.readouterr().out
    assert "demo-admin" not in out and "no demo logins" in out
    assert f'.venv/bin/python -m engine --data-dir "{empty_dir}" users add admin --role admin' in out
    assert users.list_users(empty_dir) == []

    monkeypatch.setenv("RADAR_DATA_DIR", str(empty_dir))
    at = _app().run()
    assert not at.exception and not at.expander  # no "Demo credentials"
    hint = " ".join(i.value for i in at.info)
    assert users.FIRST_ADMIN_COMMAND in hint and hint.count(".venv/bin/python -m engine users add admin") == 1


# -- 6. login cookies: signed, short-lived, revocable ---------------------------------------------
def test_login_tokens_stop_working_after_logout_password_change_and_removal(data):
    users.add_user("root", GOOD_PASSWORD, "admin", data_dir=data)
    users.add_user("zoe", GOOD_PASSWORD, "analyst", data_dir=data)
    token, expires = users.issue_login_token(users.auth_settings(data), "zoe")
    assert users.username_from_token(users.auth_settings(data), token) == "zoe"
    assert expires - datetime.now(UTC) <= timedelta(days=users.COOKIE_EXPIRY_DAYS)

    users.end_sessions("zoe", data)  # logout: "log out everywhere"
    assert users.username_from_token(users.auth_settings(data), token) is None
    token, _ = users.issue_login_token(users.auth_settings(data), "zoe")
    users.set_password("zoe", "new-harbour-99", data)
    assert users.username_from_token(users.auth_settings(data), token) is None
    token, _ = users.issue_login_token(users.auth_settings(data), "zoe")
    users.remove_user("zoe", data)
    users.add_user("zoe", GOOD_PASSWORD, "admin", data_dir=data)  # same name, same password, new person
    assert users.username_from_token(users.auth_settings(data), token) is None
    other, _ = users.issue_login_token(users.auth_settings(data), "root")
    users.set_role("zoe", "csm", data)
    assert users.username_from_token(users.auth_settings(data), other) == "root"  # others unaffected


def test_cli_logout_ends_every_cookie_of_a_user(data, capsys):
    users.add_user("root", GOOD_PASSWORD, "admin", data_dir=data)
    token, _ = users.issue_login_token(users.auth_settings(data), "root")
    assert _cli(data, "logout", "root") == 0
    assert "out everywhere" in capsys.readouterr().out
    assert users.username_from_token(users.auth_settings(data), token) is None
    assert _cli(data, "logout", "nobody") == 2
    assert "No user 'nobody'" in capsys.readouterr().err


def _forged(settings, claims: dict, key: str | None = None, algorithm: str = "HS256", **headers) -> str:
    import jwt

    return jwt.encode(claims, key or settings.cookie_key, algorithm=algorithm, headers=headers or None)


def _malformed_tokens(settings) -> dict[str, str]:
    import base64

    good, _ = users.issue_login_token(settings, "root")
    now = int(datetime.now(UTC).timestamp())
    fp = settings.fingerprint("root")
    claims = {"sub": "root", "fp": fp, "iat": now, "exp": now + 3600}

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head, body, _sig = good.split(".")
    return {
        "garbage": "not-a-token",
        "empty parts": "..",
        "alg none": b64(b'{"alg":"none","typ":"JWT"}') + "." + body + ".",
        "HS512": _forged(settings, claims, algorithm="HS512"),
        "missing exp": _forged(settings, {k: v for k, v in claims.items() if k != "exp"}),
        "expired": _forged(settings, {**claims, "iat": now - 9 * 86400, "exp": now - 2 * 86400}),
        "exp not a number": _forged(settings, {**claims, "exp": "tomorrow"}),
        "wrong key": _forged(settings, claims, key="another-key-" + "x1y2z3" * 6),
        "old format": _forged(settings, {"username": "root", "exp_date": now + 3600}),
        "unknown user": _forged(settings, {**claims, "sub": "nobody"}),
        "sub not text": _forged(settings, {**claims, "sub": ["root"]}),
        "bad signature": f"{head}.{body}.AAAA",
        "huge": "a" * 100_000,
        "not base64": "eyJ!!!.e30.x",
    }


def test_malformed_and_forged_tokens_are_refused_without_errors(data):
    users.add_user("root", GOOD_PASSWORD, "admin", data_dir=data)
    settings = users.auth_settings(data)
    for name, token in _malformed_tokens(settings).items():
        assert users.username_from_token(settings, token) is None, name
    assert users.username_from_token(settings, None) is None
    assert users.username_from_token(settings, users.issue_login_token(settings, "root")[0]) == "root"


def _app_with_cookie(monkeypatch, token: str | None) -> AppTest:
    """The app for a browser that sends `token` as its login cookie (AppTest cannot send cookies)."""
    monkeypatch.setattr(auth, "_request_cookie", lambda name: token if name == users.COOKIE_NAME else None)
    return _app()


def test_the_app_shows_the_login_form_for_every_malformed_cookie(demo_dir, monkeypatch):
    users.add_user("root", GOOD_PASSWORD, "admin", data_dir=demo_dir)
    for name, token in _malformed_tokens(users.auth_settings(demo_dir)).items():
        at = _app_with_cookie(monkeypatch, token).run()
        assert not at.exception, name
        assert [t.label for t in at.text_input] == ["Username", "Password"], name
        assert at.session_state[auth.AUTH_STATUS] is not True, name
        assert not at.sidebar.button


def test_a_copied_cookie_stops_working_after_logout_and_a_password_change(demo_dir, monkeypatch):
    token, _ = users.issue_login_token(users.auth_settings(demo_dir), "analyst")
    at = _app_with_cookie(monkeypatch, token).run()
    assert at.session_state[auth.USERNAME] == "analyst" and [b.label for b in at.sidebar.button] == ["Log out"]
    at = _log_out(at)
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    at = _app_with_cookie(monkeypatch, token).run()  # the attacker's copy, in another browser
    assert at.session_state[auth.AUTH_STATUS] is not True
    assert [t.label for t in at.text_input] == ["Username", "Password"]

    token, _ = users.issue_login_token(users.auth_settings(demo_dir), "analyst")
    victim = _app_with_cookie(monkeypatch, token).run()
    assert victim.session_state[auth.USERNAME] == "analyst"
    users.set_password("analyst", "fresh-lantern-5", demo_dir)
    at = _app_with_cookie(monkeypatch, token).run()
    assert at.session_state[auth.AUTH_STATUS] is not True
    victim.run()  # an open session of that user ends at its next run
    assert victim.session_state[auth.AUTH_STATUS] is None
    assert any("login has ended" in i.value for i in victim.info)


def test_weak_cookie_keys_are_refused_with_a_clear_message(demo_dir, monkeypatch):
    for weak in ("secret", "from-the-secrets", "a" * 64, "ab" * 32, "0123456789" * 2):
        with pytest.raises(BadInputError, match="too weak to sign login cookies"):
            users.check_cookie_key(weak)
    assert users.check_cookie_key("Xq3-" + "k9Lm2Pz7Rt5Vw8Yb1Nc4" * 2)
    monkeypatch.setenv(users.COOKIE_KEY_ENV, "changeme-changeme")
    with pytest.raises(BadInputError, match="RADAR_COOKIE_KEY is too weak"):
        users.auth_settings(demo_dir)
    at = _app().run()
    assert not at.exception
    assert len(at.error) == 1 and "RADAR_COOKIE_KEY is too weak" in at.error[0].value
    assert "secrets.token_urlsafe(32)" in at.error[0].value
    assert not at.text_input  # no login with a forgeable cookie


def test_cookie_expiry_is_short_even_when_the_file_says_more(data):
    users.add_user("root", GOOD_PASSWORD, "admin", data_dir=data)
    path = users.users_path(data)
    content = yaml.safe_load(path.read_text())
    content["cookie"]["expiry_days"] = 30
    path.write_text(yaml.safe_dump(content))
    settings = users.auth_settings(data)
    assert settings.cookie_expiry_days == users.COOKIE_EXPIRY_DAYS <= 7
    now = datetime(2026, 6, 1, tzinfo=UTC)
    _, expires = users.issue_login_token(settings, "root", now=now)
    assert expires == now + timedelta(days=users.COOKIE_EXPIRY_DAYS)


# -- 7. throttling and constant work for unknown users ------------------------------------------
T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def test_five_failures_lock_the_username_and_say_when_to_retry(data):
    users.add_user("zoe", GOOD_PASSWORD, "analyst", data_dir=data)
    settings = users.auth_settings(data)
    for minute in range(users.MAX_FAILURES_PER_USER):
        result = users.attempt_login(settings, "zoe", "wrong-pass-1", "10.0.0.1", data, T0 + timedelta(minutes=minute))
        assert result.username is None and result.lockout is None
    at = T0 + timedelta(minutes=5)
    result = users.attempt_login(settings, "Zoe", GOOD_PASSWORD, "10.0.0.2", data, at)  # right password, locked
    assert result.username is None and result.lockout is not None
    assert result.lockout.retry_at == T0 + users.LOGIN_WINDOW  # when the first failure leaves the window
    assert "Too many failed logins" in result.lockout.message
    assert "09:15 UTC (in 10 minutes)" in result.lockout.message
    later = T0 + users.LOGIN_WINDOW + timedelta(seconds=1)
    assert users.attempt_login(settings, "zoe", GOOD_PASSWORD, "10.0.0.2", data, later).username == "zoe"
    assert users.login_failure_count("zoe", data) == 0  # a good login clears the username's count


def test_unknown_usernames_cost_one_bcrypt_check_like_known_ones_and_lock_the_same(data, monkeypatch):
    users.add_user("zoe", GOOD_PASSWORD, "analyst", data_dir=data)
    settings = users.auth_settings(data)
    checked: list[bytes] = []
    real = users.bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        checked.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(users.bcrypt, "checkpw", counting)
    users.attempt_login(settings, "zoe", "wrong-pass-1", "c1", data, T0)
    users.attempt_login(settings, "nobody", "wrong-pass-1", "c1", data, T0)
    users.attempt_login(settings, "zoe", "é" * 40, "c1", data, T0)  # past bcrypt's 72 bytes
    users.attempt_login(settings, "nobody", "é" * 40, "c1", data, T0)
    assert len(checked) == 4  # exactly one check per attempt, known user or not
    known = settings.credentials["usernames"]["zoe"]["password"].encode()
    assert checked[0] == known and checked[1] != known
    assert checked[1][:7] == known[:7] == b"$2b$04$"  # the same algorithm and cost
    assert not users.verify_password("nobody", GOOD_PASSWORD, data) and len(checked) == 5

    for _ in range(users.MAX_FAILURES_PER_USER - 2):
        users.attempt_login(settings, "nobody", "wrong-pass-1", "c2", data, T0)
    checked.clear()
    assert users.attempt_login(settings, "nobody", "x", "c3", data, T0).lockout is not None  # locked like a real one
    assert checked == []  # a locked attempt checks no password


def test_many_usernames_from_one_client_lock_that_client_only(data):
    users.add_user("zoe", GOOD_PASSWORD, "analyst", data_dir=data)
    settings = users.auth_settings(data)
    for i in range(users.MAX_FAILURES_PER_CLIENT):
        users.attempt_login(settings, f"guess{i}", "wrong-pass-1", "203.0.113.9", data, T0)
    assert users.attempt_login(settings, "zoe", GOOD_PASSWORD, "203.0.113.9", data, T0).lockout is not None
    assert users.attempt_login(settings, "zoe", GOOD_PASSWORD, "198.51.100.7", data, T0).username == "zoe"


def test_failures_recorded_by_another_process_count(data):
    users.add_user("zoe", GOOD_PASSWORD, "analyst", data_dir=data)
    code = (
        "from engine.auth import users\n"
        f"for _ in range({users.MAX_FAILURES_PER_USER}):\n"
        f"    users.record_login_failure('zoe', 'elsewhere', {str(data)!r})\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert users.login_lockout("zoe", "here", data) is not None


def test_the_login_form_locks_out_across_sessions(demo_dir):
    at = _app().run()
    for _ in range(users.MAX_FAILURES_PER_USER):
        at = log_in_with_form(at, "exec", "not-the-password")
        assert [e.value for e in at.error] == ["Wrong username or password."]
    other = log_in_with_form(_app().run(), "exec", users.DEMO_PASSWORDS["executive"])  # another tab / browser
    assert not other.exception
    assert other.session_state[auth.AUTH_STATUS] is not True
    assert len(other.error) == 1 and "Too many failed logins" in other.error[0].value
    assert "Try again after" in other.error[0].value
    assert log_in_with_form(_app().run(), "admin", "demo-admin").session_state[auth.AUTH_STATUS] is True


# -- 9. no error details, one message for ids outside a CSM's book ------------------------------
def test_users_never_see_error_details():
    import tomllib

    config_file = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config_file["client"]["showErrorDetails"] in ("none", "type")  # no traceback, no file paths


def test_a_csm_gets_one_message_for_unknown_ids_and_other_books(demo_dir):
    from engine.accounts import customer

    csm = auth.TEST_VIEWERS["csm"]
    theirs = _other_books_account(demo_dir, csm.username)
    wh = get_warehouse(demo_dir)
    messages = set()
    for cid in (theirs, "no-such-id", "C-99999999"):
        with pytest.raises(customer.NotInBookError) as refused:
            customer.check_access(wh, csm, cid)
        messages.add(str(refused.value))
    assert messages == {customer.NOT_IN_BOOK_MESSAGE}
    with pytest.raises(NotFoundError, match="No customer with id 'no-such-id'"):  # staff may be told
        customer.check_access(wh, auth.TEST_VIEWERS["admin"], "no-such-id")

    shown = []
    for cid in (theirs, "no-such-id"):
        at = _app()
        auth.log_in(at.session_state, csm)
        at.run()
        at.switch_page("views/customer_360.py")
        at.query_params["customer_id"] = cid
        at.run()
        assert not at.exception
        assert "Customer 360" in [t.value for t in at.title]
        shown.append(([e.value for e in at.error], [t.value for t in at.title], [m.value for m in at.markdown]))
    assert shown[0] == shown[1]
    assert theirs not in str(shown[0])


@contextlib.contextmanager
def _fresh_server(data_dir: Path, log_path: Path):
    """`streamlit run app.py` on a free port, started just now (no session has run yet)."""
    port = load.free_port()
    with log_path.open("w") as log:
        server = load.start_server(data_dir, port, log=log)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(timeout=20)


def _chromium():
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("no chromium (make browser installs Debian's)")
    return playwright, chromium


@pytest.mark.browser
def test_browser_ten_simultaneous_deep_links_right_after_a_restart_stay_logged_in(demo_dir, tmp_path):
    """The first requests of a fresh server, all at once: every one goes through the login
    (here: a valid cookie), none may say "Please log in"."""
    playwright, chromium = _chromium()
    token, _ = users.issue_login_token(users.auth_settings(demo_dir), "admin")
    account = _other_books_account(demo_dir, "admin")  # any account: an admin sees them all
    warehouse_module.close_all()  # the server opens the warehouse itself
    link = f"customer_360?customer_id={account}"  # a page with heavy imports: the widest window
    with _fresh_server(demo_dir, tmp_path / "streamlit.log") as base, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        pages = []
        for _ in range(10):
            context = browser.new_context()
            context.add_cookies([{"name": users.COOKIE_NAME, "value": token, "url": base}])
            pages.append(context.new_page())
        for page in pages:  # all ten load at once
            page.goto(f"{base}/{link}", wait_until="commit")
        outcomes = []
        for page in pages:
            page.set_default_timeout(90_000)
            page.locator("text=admin · Admin").or_(page.locator("text=Please log in")).or_(
                page.get_by_role("textbox", name="Username")
            ).first.wait_for()
            page.wait_for_timeout(300)
            logged_in = page.get_by_text("admin · Admin").count() == 1
            refused = page.get_by_text("Please log in").count() > 0
            outcomes.append((logged_in, refused, page.url))
        browser.close()
    assert outcomes == [(True, False, f"{base}/{link}")] * 10


@pytest.mark.browser
def test_browser_malformed_cookies_show_the_login_form_without_details(demo_dir, tmp_path):
    playwright, chromium = _chromium()
    users.add_user("root", GOOD_PASSWORD, "admin", data_dir=demo_dir)
    # Every malformed token is checked through the app above; the browser checks one of each
    # kind of failure (not a token, unsigned, expired, forged with another key, unreadable).
    kinds = ("garbage", "alg none", "expired", "wrong key", "not base64")
    tokens = {k: v for k, v in _malformed_tokens(users.auth_settings(demo_dir)).items() if k in kinds}
    with _fresh_server(demo_dir, tmp_path / "streamlit.log") as base, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for name, token in tokens.items():
            context = browser.new_context()
            context.add_cookies([{"name": users.COOKIE_NAME, "value": token, "url": base}])
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{base}/customer_360?customer_id=x")
            page.get_by_role("textbox", name="Username").wait_for()
            page.wait_for_timeout(500)
            text = page.inner_text("body")
            assert "Traceback" not in text and ".py" not in text and "Error" not in text, name
            context.close()
        browser.close()


# -- the cookie writer is drawn after the page, and only when no other run replaces it ------------
@pytest.mark.parametrize(
    ("ending", "drawn"),
    [
        (None, True),  # the page ran to its end
        (StopException(), True),  # st.stop(): the page is drawn as far as it goes
        (RerunException(None), False),  # st.switch_page / st.rerun: the next run draws it
    ],
)
def test_the_cookie_writer_follows_a_page_that_is_done_and_never_one_being_replaced(monkeypatch, ending, drawn):
    calls = []
    monkeypatch.setattr(auth, "sync_cookie", lambda: calls.append("writer"))

    def run():
        calls.append("page")
        if ending is not None:
            raise ending

    with contextlib.suppress(StopException, RerunException):
        auth.run_page(SimpleNamespace(run=run))
    assert calls == (["page", "writer"] if drawn else ["page"])
