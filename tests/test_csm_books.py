"""A CSM's book under the owner name their CRM writes ("Maya Chen", "maya@acme.com"), which no
username can be: the users file, the CLI, the Users page, a login, an API key and the AI's
names all file the CSM's accounts under that owner, and only those."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components.shared import auth
from engine import cli
from engine.accounts import board
from engine.ai import fmt
from engine.auth import keys, users
from engine.core.access import Viewer
from engine.core.errors import BadInputError
from engine.data import warehouse
from engine.data.warehouse import get_warehouse
from tests.apptest import log_in_with_form, shown

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
USERS_PAGE = str(ROOT / "views" / "users.py")
PASSWORD = "tide-lantern-42"
CRM_NAME = "Ana Silva (CS)"  # what a CRM writes in the owner column, not a possible username


pytestmark = pytest.mark.usefixtures("fast_logins")


@pytest.fixture
def crm_dir(scored_copy, monkeypatch) -> Path:
    """Scored generated data whose accounts of ana.silva are filed under a CRM's owner name, with an
    admin and two CSMs: 'ana' (given that name) and 'ben.okafor' (his username is his owner)."""
    data_dir_copy = scored_copy
    get_warehouse(data_dir_copy).execute("UPDATE customers SET csm_owner = ? WHERE csm_owner = 'ana.silva'", [CRM_NAME])
    warehouse.close_all()  # published: the app's read-only snapshots see it
    users.add_user("admin", PASSWORD, "admin", "Avery Admin", data_dir=data_dir_copy)
    users.add_user("ana", PASSWORD, "csm", "Ana Silva", data_dir=data_dir_copy, owner=CRM_NAME)
    users.add_user("ben.okafor", PASSWORD, "csm", "Ben Okafor", data_dir=data_dir_copy)
    monkeypatch.setenv("RADAR_DATA_DIR", str(data_dir_copy))
    return data_dir_copy


def _book(data: Path, owner: str) -> set[str]:
    rows = get_warehouse(data, read_only=True).rows("SELECT customer_id FROM customers WHERE csm_owner = ?", [owner])
    return {str(r[0]) for r in rows}


# -- the users file ------------------------------------------------------------------------------
def test_only_a_csm_has_a_book_owner_and_it_follows_role_changes(crm_dir):
    ana = users.get_user("ana", crm_dir)
    assert (ana.owner, ana.book_owner) == (CRM_NAME, CRM_NAME)
    assert users.get_user("ben.okafor", crm_dir).book_owner == "ben.okafor"
    with pytest.raises(BadInputError, match="Only a CSM has a book owner"):
        users.add_user("erin", PASSWORD, "executive", data_dir=crm_dir, owner="Erin")
    with pytest.raises(BadInputError, match="not a CSM"):
        users.set_owner("admin", "Avery", crm_dir)
    with pytest.raises(BadInputError, match="not an owner name"):
        users.set_owner("ana", "line one\nline two", crm_dir)
    # Given their own username, nothing extra is stored; '' files the book under the username again.
    assert users.set_owner("ben.okafor", "ben.okafor", crm_dir).owner == ""
    assert users.set_owner("ana", "", crm_dir).book_owner == "ana"
    users.set_owner("ana", CRM_NAME, crm_dir)
    # A leader sees every book: a role change drops the owner, and back to CSM starts from the username.
    assert users.set_role("ana", "analyst", crm_dir).owner == ""
    assert users.set_role("ana", "csm", crm_dir).book_owner == "ana"


def test_a_csm_viewer_sees_exactly_the_accounts_filed_under_their_owner_name(crm_dir):
    wh = get_warehouse(crm_dir, read_only=True)
    expected = _book(crm_dir, CRM_NAME)
    assert len(expected) > 5
    ana = Viewer("ana", "csm", owner=CRM_NAME)
    assert ana.owner_filter() == ("csm_owner = ?", [CRM_NAME])
    assert set(board.board_frame(wh, ana)["customer_id"].astype(str)) <= expected
    assert len(board.board_frame(wh, ana)) > 0
    assert board.board_frame(wh, Viewer("ana", "csm")).empty  # the username alone owns nothing
    assert users.acting_viewer("ana", "csm", crm_dir).owner_filter() == ana.owner_filter()
    assert users.acting_viewer("ana", "analyst", crm_dir).sees_everyone


def test_book_notes_count_the_book_or_name_the_owners_loaded_and_the_fix(crm_dir):
    sizes = users.book_sizes(get_warehouse(crm_dir, read_only=True))
    assert sizes[CRM_NAME] == len(_book(crm_dir, CRM_NAME))
    note = users.book_note(users.get_user("ana", crm_dir), sizes)
    assert note == f"ana's book: {sizes[CRM_NAME]:,} accounts with csm_owner '{CRM_NAME}'."
    users.add_user("maya", PASSWORD, "csm", data_dir=crm_dir)
    empty = users.book_note(users.get_user("maya", crm_dir), sizes)
    assert "No account has csm_owner 'maya', so maya sees no accounts" in empty
    assert f"'{CRM_NAME}'" in empty and "users set-owner maya" in empty
    # Added under her name but not her book: the note names the book that carries her name.
    users.add_user("mchen", PASSWORD, "csm", name=CRM_NAME, data_dir=crm_dir)
    likely = users.book_note(users.get_user("mchen", crm_dir), sizes)
    assert f'users set-owner mchen "{CRM_NAME}"' in likely and f"{sizes[CRM_NAME]:,} accounts have" in likely
    # Filed under a CRM name without a display name: she is called by it, not by her username.
    users.add_user("maya.c", PASSWORD, "csm", owner=CRM_NAME, data_dir=crm_dir)
    assert users.get_user("maya.c", crm_dir).name == CRM_NAME
    users.add_user("maya.e", PASSWORD, "csm", owner="maya@acme.com", data_dir=crm_dir)
    assert users.get_user("maya.e", crm_dir).name == "maya.e"


# -- the command line ----------------------------------------------------------------------------
def test_cli_adds_a_csm_with_an_owner_and_says_how_big_the_book_is(crm_dir, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    argv = ["--data-dir", str(crm_dir), "users", "add", "ana.s", "--role", "csm", "--owner", CRM_NAME]
    assert cli.main([*argv, "--password-stdin"]) == 0
    size = len(_book(crm_dir, CRM_NAME))
    assert f"ana.s's book: {size:,} accounts with csm_owner '{CRM_NAME}'." in capsys.readouterr().out
    assert cli.main(["--data-dir", str(crm_dir), "users", "set-owner", "ben.okafor", "Nobody Here"]) == 0
    assert "No account has csm_owner 'Nobody Here'" in capsys.readouterr().out
    assert cli.main(["--data-dir", str(crm_dir), "users", "list"]) == 0
    assert f"(book: csm_owner '{CRM_NAME}')" in capsys.readouterr().out
    assert cli.main(["--data-dir", str(crm_dir), "users", "set-owner", "admin", "X"]) == 2
    assert "only a CSM has a book owner" in capsys.readouterr().err


# -- the app -------------------------------------------------------------------------------------
def _log_in(username: str) -> AppTest:
    return log_in_with_form(AppTest.from_file(APP, default_timeout=60).run(), username, PASSWORD)


def test_a_csm_who_logs_in_works_the_book_filed_under_their_owner_name(crm_dir):
    at = _log_in("ana")
    assert not at.exception and not at.error
    at.switch_page("views/risk_board.py").run()
    assert not at.exception
    scored = board.board_frame(get_warehouse(crm_dir, read_only=True), Viewer("ana", "csm", owner=CRM_NAME))
    assert len(scored) > 0 and set(scored["customer_id"].astype(str)) <= _book(crm_dir, CRM_NAME)
    assert f"{len(scored):,} scored accounts in your book" in at.caption[0].value
    # The admin files her book under her username, which no account carries: her next page load
    # shows none, and says why and who can fix it.
    users.set_owner("ana", "", crm_dir)
    at.run()
    assert not at.exception and not at.dataframe
    assert [shown(i.value) for i in at.info] == [
        "No account is filed under your name: no customer has csm_owner 'ana'. If your CRM names you "
        'differently ("Maya Chen", or an e-mail address), an admin assigns your book on the Users page.'
    ]


def test_users_page_counts_books_warns_of_empty_ones_and_assigns_a_book(crm_dir):
    users.add_user("maya", PASSWORD, "csm", "Maya Chen", data_dir=crm_dir)
    at = AppTest.from_file(USERS_PAGE, default_timeout=30)
    auth.log_in(at.session_state, Viewer("admin", "admin", "Avery Admin"))
    at.run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value.set_index("Username")
    size = len(_book(crm_dir, CRM_NAME))
    assert table.loc["ana", "Book (csm_owner)"] == CRM_NAME and table.loc["ana", "Accounts"] == f"{size:,}"
    assert table.loc["admin", "Book (csm_owner)"] == "whole portfolio"
    assert any("No account has csm_owner 'maya'" in w.value for w in at.warning)

    at.selectbox(key="users_book_who").set_value("maya")
    at.selectbox(key="users_book_owner").set_value(CRM_NAME)
    next(b for b in at.button if b.label == "Assign book").click()
    at.run()
    assert not at.error
    assert [s.value for s in at.success] == [f"maya's book: {size:,} accounts with csm_owner '{CRM_NAME}'."]
    assert users.get_user("maya", crm_dir).owner == CRM_NAME
    assert not any("'maya'" in w.value for w in at.warning)


# -- the HTTP API's keys and the AI's words --------------------------------------------------------
def test_a_csm_key_sees_its_users_book_under_their_owner_name(crm_dir):
    made, secret = keys.create_key("crm-sync", "csm", owner="ana", data_dir=crm_dir)
    found = keys.authenticate(secret, crm_dir)
    viewer = found.viewer(keys.csm_book_owner(found, crm_dir))
    assert (viewer.username, viewer.owner_filter()) == ("ana", ("csm_owner = ?", [CRM_NAME]))
    assert (
        keys.csm_book_owner(
            keys.authenticate(keys.create_key("b", "csm", owner="ben.okafor", data_dir=crm_dir)[1], crm_dir), crm_dir
        )
        == ""
    )


@pytest.mark.parametrize(
    ("owner", "reads"),
    [
        ("emma.rossi", "Emma Rossi"),
        ("emma_rossi", "Emma Rossi"),
        ("emma.rossi@acme.com", "Emma Rossi"),
        ("Maya Chen", "Maya Chen"),
        ("Maya de Vries", "Maya de Vries"),
        ("", "your customer success manager"),
        (None, "your customer success manager"),
    ],
)
def test_an_owner_reads_as_a_name_in_messages(owner, reads):
    assert fmt.owner_name(owner) == reads
