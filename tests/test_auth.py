"""Users, passwords, roles and login: engine/users.py, the `users` CLI, the login screen,
role-based navigation and the page guard (AppTest), and one real-browser run for what
AppTest cannot see (the re-authentication cookie across a refresh, deep links, logout)."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import streamlit_authenticator as stauth
import yaml
from streamlit.testing.v1 import AppTest

from components import auth, nav
from engine import cli, users
from engine.access import PAGE_ROLES, ROLES
from engine.errors import BadInputError, NotFoundError
from engine.warehouse import get_warehouse

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
USERS_PAGE = str(ROOT / "pages" / "users.py")
GOOD_PASSWORD = "tide-lantern-42"


@pytest.fixture(autouse=True)
def _fast_bcrypt(monkeypatch):
    """Cheap hashes in tests (cost 4 instead of 12); the format is the same."""
    monkeypatch.setattr(users, "BCRYPT_ROUNDS", 4)
    monkeypatch.delenv(users.COOKIE_KEY_ENV, raising=False)


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


def _registered_titles(at: AppTest) -> set[str]:
    """The pages this run gave to st.navigation (AppTest keeps them to resolve switch_page)."""
    return {info["page_name"] for info in at._registered_pages.values()}


def _log_in_with_form(at: AppTest, username: str, password: str) -> AppTest:
    fields = {t.label: t for t in at.text_input}
    fields["Username"].input(username)
    fields["Password"].input(password)
    next(b for b in at.button if b.label == "Log in").click()
    return at.run()


# -- engine: users file ------------------------------------------------------------------------
def test_add_list_and_remove_users_keep_only_hashes(data):
    users.add_user("Zoe.Park", GOOD_PASSWORD, "analyst", "Zoe Park", "zoe@example.com", data)
    users.add_user("ana.silva", "harbour-owl-17", "csm", "Ana Silva", "", data)
    listed = users.list_users(data)
    assert [u.as_dict() for u in listed] == [
        {"username": "ana.silva", "name": "Ana Silva", "email": "", "role": "csm"},
        {"username": "zoe.park", "name": "Zoe Park", "email": "zoe@example.com", "role": "analyst"},
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


def test_engine_demo_command_creates_users_once(data_dir_copy, monkeypatch, capsys):
    """`python -m engine demo` on existing data creates the users; model and scores are stubbed."""
    from engine import registry, scoring

    monkeypatch.setattr(registry, "load_production", lambda *a, **k: None)
    scored = SimpleNamespace(customers=0, as_of="2026-06-30", model_version="stub")
    monkeypatch.setattr(scoring, "score", lambda *a, **k: scored)
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
        {"username": "zoe.park", "name": "Zoe Park", "email": "zoe@example.com", "role": "analyst"}
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
def test_logging_in_with_the_form_shows_the_roles_navigation(demo_dir, steady_navigation, username, password, role):
    at = _log_in_with_form(_app().run(), username, password)
    assert not at.exception
    assert not at.error
    assert at.session_state[auth.AUTH_STATUS] is True
    assert at.session_state[auth.ROLES_KEY] == [role]
    assert _registered_titles(at) == _titles(role)
    assert "Username" not in [t.label for t in at.text_input]
    assert f"{username} · {auth.ROLE_LABELS[role]}" in [c.value for c in at.sidebar.caption]
    assert [b.label for b in at.sidebar.button] == ["Log out"]


def test_a_wrong_password_shows_an_error_and_no_pages(demo_dir, steady_navigation):
    at = _log_in_with_form(_app().run(), "admin", "demo-analyst")
    assert not at.exception
    assert [e.value for e in at.error] == ["Wrong username or password."]
    assert at.session_state[auth.AUTH_STATUS] is False
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert not at.sidebar.button
    at = _log_in_with_form(at, "nobody", "demo-admin")
    assert [e.value for e in at.error] == ["Wrong username or password."]


def test_a_deep_link_keeps_its_page_and_query_after_login(demo_dir, steady_navigation):
    at = _app({"customer_id": "no-such-id"}).run()
    at.switch_page("pages/customer_360.py").run()  # as if the browser opened /customer_360?customer_id=...
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    at = _log_in_with_form(at, "admin", "demo-admin")
    assert not at.exception
    assert at.query_params == {"customer_id": "no-such-id"}
    assert "Customer 360" in [t.value for t in at.title]  # the linked page ran, not the home page
    assert any("no-such-id" in e.value for e in at.error)  # ... and it read the query parameter


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_its_pages(demo_dir, steady_navigation, role):
    at = _app()
    auth.log_in(at.session_state, auth.TEST_VIEWERS[role])
    at.run()
    assert not at.exception
    assert _registered_titles(at) == _titles(role)
    assert _titles(role) == {p.title for p in nav.available_pages() if role in PAGE_ROLES[p.key]}
    for page in nav.available_pages():
        if role in PAGE_ROLES[page.key]:
            at.switch_page(page.path)
        else:
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                at.switch_page(page.path)


def test_logout_returns_to_the_login_form(demo_dir, steady_navigation):
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


def test_role_changes_and_removals_reach_open_sessions(demo_dir, steady_navigation):
    at = _app()
    auth.log_in(at.session_state, auth.TEST_VIEWERS["analyst"])
    at.run()
    assert _registered_titles(at) == _titles("analyst")
    users.set_role("analyst", "csm", demo_dir)
    at.run()
    assert _registered_titles(at) == _titles("csm")
    users.remove_user("analyst", demo_dir)
    at.run()
    assert at.session_state[auth.AUTH_STATUS] is None
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert any("removed" in i.value for i in at.info)


def test_the_guard_reruns_through_the_app_when_streamlit_runs_a_page_alone(demo_dir):
    """Without `steady_navigation`: AppTest runs pages/users.py on its own (see the fixture)."""
    at = _app()
    auth.log_in(at.session_state, auth.TEST_VIEWERS["admin"])
    at.run()
    at.switch_page("pages/users.py").run()
    assert not at.exception
    assert "Users" in [t.value for t in at.title]
    assert _registered_titles(at) == _titles("admin")  # app.py's menu, not one entry per file
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
    at = AppTest.from_file(str(ROOT / "pages" / "overview.py"), default_timeout=30)
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
    assert list(table.columns) == ["Username", "Name", "Role", "Email"]
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
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.browser
def test_browser_login_survives_refresh_and_deep_links_and_logout_ends_it(demo_dir, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("no chromium (make browser installs Debian's)")
    port = _free_port()
    env = dict(os.environ, RADAR_DATA_DIR=str(demo_dir), PYTHONPATH=str(ROOT))
    log = (tmp_path / "streamlit.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", APP, "--server.port", str(port), "--server.headless", "true"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        with playwright.sync_playwright() as p:
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
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
