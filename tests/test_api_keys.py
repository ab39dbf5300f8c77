"""API keys: engine/auth/keys.py (create, authenticate, revoke, rules, hashing at rest), the
`keys` CLI, the api_keys table's migration, and the Users page's "API keys" section."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, event
from streamlit.testing.v1 import AppTest

from components.shared import auth
from engine.auth import keys, users
from engine.core import migrations, store
from engine.core.access import ROLES, Viewer
from engine.core.errors import BadInputError, NotFoundError, RadarError

ROOT = Path(__file__).resolve().parents[1]
USERS_PAGE = str(ROOT / "views" / "users.py")
PASSWORD = "tide-lantern-42"


@pytest.fixture(autouse=True)
def _fresh(fast_logins):
    store.dispose_all()
    yield
    store.dispose_all()


@pytest.fixture
def data(tmp_path, monkeypatch) -> Path:
    """A data dir with an admin, an analyst and two CSMs (ana.silva, ben.okafor)."""
    target = tmp_path / "data"
    monkeypatch.setenv("RADAR_DATA_DIR", str(target))
    for username, role in (("admin", "admin"), ("analyst", "analyst"), ("ana.silva", "csm"), ("ben.okafor", "csm")):
        users.add_user(username, PASSWORD, role, data_dir=target)
    return target


# -- the engine --------------------------------------------------------------------------------
def test_scopes_and_role_defaults_are_the_documented_ones():
    assert list(keys.SCOPES) == [
        "scores:read",
        "customers:read",
        "ai:write",
        "forecasts:read",
        "scenarios:read",
        "scenarios:write",
        "models:read",
    ]
    assert all(keys.SCOPES.values())
    assert set(keys.DEFAULT_SCOPES) == set(ROLES)
    assert set(keys.DEFAULT_SCOPES["csm"]) == {"scores:read", "customers:read", "ai:write"}
    reads = {s for s in keys.SCOPES if s.endswith(":read")}
    assert set(keys.DEFAULT_SCOPES["executive"]) == reads | {"ai:write"}
    assert set(keys.DEFAULT_SCOPES["analyst"]) == set(keys.DEFAULT_SCOPES["admin"]) == set(keys.SCOPES)


def test_a_csm_key_authenticates_as_its_owner_and_sees_only_their_book(data):
    made, secret = keys.create_key("crm-sync", "csm", owner="Ana.Silva", created_by="admin", data_dir=data)
    assert secret.startswith("rk_") and len(secret) == 46 and made.prefix == secret[:8]
    assert made.owner == "ana.silva" and made.scopes == keys.DEFAULT_SCOPES["csm"] and made.active
    assert made.created_by == "admin" and made.created_at.tzinfo is not None and made.last_used_at is None

    found = keys.authenticate(secret, data)
    assert (found.name, found.role, found.owner, found.scopes) == ("crm-sync", "csm", "ana.silva", made.scopes)
    assert found.allows("scores:read") and not found.allows("forecasts:read")
    viewer = found.viewer()
    assert (viewer.username, viewer.role) == ("ana.silva", "csm")
    # The same book a logged-in ana.silva gets.
    assert (
        viewer.owner_filter()
        == Viewer(username="ana.silva", role="csm").owner_filter()
        == (
            "csm_owner = ?",
            ["ana.silva"],
        )
    )


def test_other_roles_see_the_whole_portfolio_under_the_keys_name(data):
    made, secret = keys.create_key("board-pack", "executive", scopes=["scores:read", "forecasts:read"], data_dir=data)
    assert made.scopes == ("scores:read", "forecasts:read") and made.owner is None
    viewer = keys.authenticate(secret, data).viewer()
    assert (viewer.username, viewer.role, viewer.sees_everyone) == ("api:board-pack", "executive", True)
    assert viewer.owner_filter() == ("TRUE", [])
    _, analyst = keys.create_key("lake", "analyst", scopes="models:read, scenarios:write", data_dir=data)
    assert keys.authenticate(analyst, data).scopes == ("scenarios:write", "models:read")  # canonical order


def test_only_the_hash_is_stored_never_the_key(data):
    _, secret = keys.create_key("crm-sync", "admin", data_dir=data)
    store.dispose_all()  # flush SQLite's WAL into the file
    raw = b"".join(p.read_bytes() for p in data.rglob("*") if p.is_file())
    assert secret.encode() not in raw and secret[3:].encode() not in raw
    con = sqlite3.connect(data / "state.db")
    try:
        stored_hash, prefix = con.execute("SELECT key_hash, prefix FROM api_keys").fetchone()
    finally:
        con.close()
    assert stored_hash == hashlib.sha256(secret.encode()).hexdigest() and prefix == secret[:8]
    assert "key_hash" not in keys.ApiKey.model_fields and secret not in repr(keys.list_keys(data))


def test_revoked_keys_stay_listed_and_never_authenticate(data):
    _, secret = keys.create_key("crm-sync", "csm", owner="ana.silva", data_dir=data)
    keys.create_key("other", "admin", data_dir=data)
    revoked = keys.revoke_key("crm-sync", data)
    assert not revoked.active and revoked.revoked_at is not None
    with pytest.raises(keys.KeyRejected, match="revoked"):
        keys.authenticate(secret, data)
    again = keys.revoke_key("crm-sync", data)  # nothing changes
    assert again.revoked_at == revoked.revoked_at
    listed = {k.name: k.active for k in keys.list_keys(data)}
    assert listed == {"crm-sync": False, "other": True}
    with pytest.raises(NotFoundError, match="keys list"):
        keys.revoke_key("nope", data)
    with pytest.raises(BadInputError, match="exists already"):  # a revoked key keeps its name
        keys.create_key("crm-sync", "admin", data_dir=data)


@pytest.mark.parametrize(
    "presented",
    ["", "Bearer x", "rk_short", "rk_" + "a" * 44, "xx_" + "a" * 43, "rk_" + "a" * 42 + "!", None, 42],
)
def test_unknown_and_malformed_keys_are_rejected(data, presented):
    keys.create_key("crm-sync", "admin", data_dir=data)
    with pytest.raises(keys.KeyRejected):
        keys.authenticate(presented, data)  # type: ignore[arg-type]


def test_an_unknown_well_formed_key_is_rejected(data):
    _, secret = keys.create_key("crm-sync", "admin", data_dir=data)
    forged = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    with pytest.raises(keys.KeyRejected, match="Unknown API key"):
        keys.authenticate(forged, data)
    assert issubclass(keys.KeyRejected, RadarError)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", "admin"), "not a usable key name"),
        (("has space", "admin"), "not a usable key name"),
        (("x" * 65, "admin"), "not a usable key name"),
        (("crm/sync", "admin"), "not a usable key name"),
        (("crm", "superuser"), "Unknown role 'superuser'. Roles are: csm, executive, analyst, admin"),
        (("crm", "csm"), "needs an owner"),
    ],
)
def test_bad_names_and_roles_are_refused(data, args, message):
    with pytest.raises(BadInputError, match=message):
        keys.create_key(*args, data_dir=data)
    assert keys.list_keys(data) == []


def test_bad_scopes_and_owners_are_refused_with_what_to_do(data):
    with pytest.raises(BadInputError, match="Unknown scope 'scores:write'. Scopes are: scores:read"):
        keys.create_key("k", "admin", scopes=["scores:write"], data_dir=data)
    with pytest.raises(BadInputError, match="at least one scope"):
        keys.create_key("k", "admin", scopes=[], data_dir=data)
    with pytest.raises(BadInputError, match="A csm key cannot have forecasts:read"):
        keys.create_key("k", "csm", owner="ana.silva", scopes=["forecasts:read"], data_dir=data)
    with pytest.raises(BadInputError, match="An executive key cannot have scenarios:write"):
        keys.create_key("k", "executive", scopes=["scenarios:write"], data_dir=data)
    with pytest.raises(BadInputError, match="Only a CSM key has an owner"):
        keys.create_key("k", "analyst", owner="ana.silva", data_dir=data)
    with pytest.raises(BadInputError, match="no CSM user 'zoe'.*engine users list"):
        keys.create_key("k", "csm", owner="zoe", data_dir=data)
    with pytest.raises(BadInputError, match="'analyst' is an analyst user, not a CSM"):
        keys.create_key("k", "csm", owner="analyst", data_dir=data)
    # The book as the CRM writes it, for a CSM filed under it: the error names that CSM.
    users.set_owner("ben.okafor", "Ben Okafor", data)
    with pytest.raises(BadInputError, match=r"'Ben Okafor' is the book of CSM user ben.okafor: .*--owner ben.okafor"):
        keys.create_key("k", "csm", owner="Ben Okafor", data_dir=data)
    assert keys.list_keys(data) == []


def test_a_csm_key_stops_when_its_owner_is_no_longer_a_csm(data):
    _, secret = keys.create_key("crm-sync", "csm", owner="ben.okafor", data_dir=data)
    keys.authenticate(secret, data)
    users.remove_user("ben.okafor", data)
    with pytest.raises(keys.KeyRejected, match="no longer a CSM user"):
        keys.authenticate(secret, data)


def test_last_used_is_written_at_most_once_a_minute(data, monkeypatch):
    _, secret = keys.create_key("crm-sync", "admin", data_dir=data)
    first = keys.authenticate(secret, data).last_used_at
    assert first is not None and keys.list_keys(data)[0].last_used_at == first

    writes: list[str] = []

    def spy(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("UPDATE"):
            writes.append(statement)

    event.listen(Engine, "before_cursor_execute", spy)
    try:
        for _ in range(5):
            assert keys.authenticate(secret, data).last_used_at == first
        assert writes == []
        later = datetime.now(UTC) + timedelta(minutes=2)

        class _Later(datetime):
            @classmethod
            def now(cls, tz=None):
                return later

        monkeypatch.setattr(keys, "datetime", _Later)
        assert keys.authenticate(secret, data).last_used_at == later
        assert len(writes) == 1
    finally:
        event.remove(Engine, "before_cursor_execute", spy)
    assert keys.list_keys(data)[0].last_used_at == later


def test_the_contract_is_json_with_active_and_no_secret(data):
    made, secret = keys.create_key("crm-sync", "csm", owner="ana.silva", data_dir=data)
    payload = made.model_dump(mode="json")
    assert set(payload) == {
        "name",
        "role",
        "owner",
        "scopes",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
        "prefix",
        "active",
    }
    assert payload["active"] is True and secret not in json.dumps(payload)
    assert keys.ApiKey.model_validate(payload) == made


# -- the CLI -----------------------------------------------------------------------------------
def _cli(data: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine", "--data-dir", str(data), "keys", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_create_prints_the_key_alone_on_the_last_line(data):
    made = _cli(data, "create", "crm-sync", "--role", "csm", "--owner", "ana.silva", "--scopes", "scores:read,ai:write")
    assert made.returncode == 0, made.stderr
    lines = made.stdout.rstrip("\n").split("\n")
    secret = lines[-1]
    assert secret.startswith("rk_") and secret == secret.strip() and len(secret) == 46
    assert "shown only once" in made.stdout and "ana.silva" in lines[0] and "scores:read, ai:write" in lines[0]
    assert secret not in made.stderr
    key = keys.authenticate(secret, data)
    assert (key.role, key.owner, key.scopes) == ("csm", "ana.silva", ("scores:read", "ai:write"))

    listed = _cli(data, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    records = json.loads(listed.stdout)
    assert [(r["name"], r["role"], r["owner"], r["scopes"], r["active"]) for r in records] == [
        ("crm-sync", "csm", "ana.silva", ["scores:read", "ai:write"], True)
    ]
    assert records[0]["prefix"] == secret[:8] and secret not in listed.stdout

    revoked = _cli(data, "revoke", "crm-sync")
    assert revoked.returncode == 0 and "Revoked API key 'crm-sync'" in revoked.stdout
    table = _cli(data, "list")
    assert table.returncode == 0
    header, row = table.stdout.splitlines()
    assert header.split()[:5] == ["NAME", "PREFIX", "ROLE", "OWNER", "SCOPES"] and "STATUS" in header
    assert row.startswith("crm-sync") and secret[:8] in row and "revoked" in row and secret not in table.stdout
    with pytest.raises(keys.KeyRejected):
        keys.authenticate(secret, data)


def test_cli_refusals_exit_2_with_the_reason_and_print_no_key(data):
    for args, message in (
        (("create", "k", "--role", "csm"), "needs an owner"),
        (("create", "k", "--role", "csm", "--owner", "zoe"), "engine users list"),
        (("create", "k", "--role", "boss"), "Unknown role 'boss'"),
        (("create", "k", "--role", "admin", "--scopes", "everything"), "Unknown scope 'everything'"),
        (("revoke", "nope"), "No API key 'nope'"),
    ):
        result = _cli(data, *args)
        assert result.returncode == 2 and message in result.stderr and "rk_" not in result.stdout, (args, result)
        assert "Traceback" not in result.stderr
    empty = _cli(data, "list")
    assert empty.returncode == 0 and "No API keys yet" in empty.stdout


def test_cli_help_lists_the_scopes_and_the_last_line_rule():
    result = subprocess.run(
        [sys.executable, "-m", "engine", "keys", "create", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "tail -1" in text and "Authorization: Bearer" in text
    assert all(scope in text for scope in keys.SCOPES)


# -- the migration -----------------------------------------------------------------------------
def test_a_store_at_the_first_revision_gains_the_api_keys_table(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    old = create_engine(f"sqlite:///{data / 'state.db'}")
    with old.connect() as con:
        command.upgrade(migrations.alembic_config(con), "0001")
        con.commit()
        assert migrations.current(con) == "0001"
    old.dispose()
    con = sqlite3.connect(data / "state.db")
    try:
        assert "api_keys" not in {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        con.close()
    engine = store.get_engine(data)
    with engine.connect() as con:
        assert migrations.current(con) == migrations.head()  # every later revision applied too
    assert keys.list_keys(data) == []
    _, secret = keys.create_key("after-upgrade", "admin", data_dir=data)
    assert keys.authenticate(secret, data).name == "after-upgrade"
    con = sqlite3.connect(data / "state.db")
    try:
        indexes = con.execute("PRAGMA index_list(api_keys)").fetchall()
    finally:
        con.close()
    assert any(name == "ix_api_keys_key_hash" and unique for _seq, name, unique, *_ in indexes)


# -- the Users page ----------------------------------------------------------------------------
def _page(role: str = "admin") -> AppTest:
    at = AppTest.from_file(USERS_PAGE, default_timeout=30)
    auth.log_in(at.session_state, auth.TEST_VIEWERS[role])
    return at.run()


def _keys_table(at: AppTest):
    return next(d.value for d in at.dataframe if "Prefix" in d.value.columns)


def test_users_page_creates_a_key_shows_it_once_and_lists_it(data):
    at = _page()
    assert not at.exception and not at.error
    assert "API keys" in [h.value for h in at.subheader]
    assert any("No API keys yet" in i.value for i in at.info)
    assert at.selectbox(key="api_keys_role").value == "csm"
    assert at.selectbox(key="api_keys_owner").options == ["ana.silva", "ben.okafor"]  # CSM users only
    assert at.multiselect(key="api_keys_scopes_csm").value == list(keys.DEFAULT_SCOPES["csm"])

    at.selectbox(key="api_keys_role").set_value("executive").run()
    assert "api_keys_owner" not in [s.key for s in at.selectbox]  # only a CSM key has an owner
    assert at.multiselect(key="api_keys_scopes_executive").value == list(keys.DEFAULT_SCOPES["executive"])
    at.selectbox(key="api_keys_role").set_value("csm").run()
    at.text_input(key="api_keys_name").input("crm-sync")
    at.selectbox(key="api_keys_owner").set_value("ben.okafor")
    at.multiselect(key="api_keys_scopes_csm").set_value(["scores:read"])
    at.button(key="api_keys_create").click().run()
    assert not at.exception and not at.error
    shown = [c.value for c in at.code]
    assert len(shown) == 1 and shown[0].startswith("rk_")
    assert any("shown only once" in w.value for w in at.warning)
    key = keys.authenticate(shown[0], data)
    assert (key.name, key.owner, key.scopes, key.created_by) == ("crm-sync", "ben.okafor", ("scores:read",), "admin")
    table = _keys_table(at)
    assert list(table["Name"]) == ["crm-sync"] and list(table["Prefix"]) == [shown[0][:8]]
    assert shown[0] not in table.to_string()

    assert at.text_input(key="api_keys_name").value == ""
    at.run()  # any later run: the key is gone from the page
    assert not at.code and "crm-sync" in set(_keys_table(at)["Name"])


def test_users_page_shows_key_errors_and_revokes_with_confirmation(data):
    _, secret = keys.create_key("lake", "analyst", data_dir=data)
    at = _page()
    at.text_input(key="api_keys_name").input("lake")
    at.selectbox(key="api_keys_role").set_value("admin").run()
    at.button(key="api_keys_create").click().run()
    assert any("exists already" in e.value for e in at.error) and not at.code

    at.selectbox(key="api_keys_revoke_name").set_value("lake")
    next(b for b in at.button if b.label == "Revoke key").click().run()
    assert any("Tick the box" in w.value for w in at.warning)
    assert keys.authenticate(secret, data).active  # nothing without the confirmation
    at.checkbox(key="api_keys_revoke_sure").check()
    next(b for b in at.button if b.label == "Revoke key").click().run()
    assert not at.exception
    assert "Revoked API key 'lake'." in [s.value for s in at.success]
    assert _keys_table(at)["Status"].iloc[0].startswith("revoked")
    assert any("no active key" in i.value for i in at.info)
    with pytest.raises(keys.KeyRejected):
        keys.authenticate(secret, data)


@pytest.mark.parametrize("role", ["csm", "executive", "analyst"])
def test_other_roles_never_see_api_keys(data, role):
    keys.create_key("lake", "analyst", data_dir=data)
    at = _page(role)
    assert not at.exception
    assert "API keys" not in [h.value for h in at.subheader]
    assert not at.dataframe and not at.button
