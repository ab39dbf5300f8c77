"""Private files (issue 12, item 9): uploads are private temp copies deleted after use, and
everything in the data dir is the owner's alone (files 0600, folders 0700)."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components.shared import auth
from engine.auth import users
from engine.churn import training
from engine.core import config, store
from engine.data import demo as synth
from engine.data import ingest, warehouse
from tests.apptest import shown
from tests.conftest import DEMO_END

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
NEW_CUSTOMER = (
    "customer_id,name,plan_tier,industry,region,seats,signup_date,billing_cycle,csm_owner,status\n"
    "upload-1,Uploaded Ltd,growth,software,EMEA,25,2026-05-01,annual,ana.silva,active\n"
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- uploads ------------------------------------------------------------------------------------------
def test_private_upload_is_owner_only_and_deleted_afterwards(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    os.umask(0o022)  # even with a permissive umask
    with ingest.private_upload("customers.csv", b"a,b\n1,2\n") as path:
        assert path.name == "customers.csv" and path.read_bytes() == b"a,b\n1,2\n"
        assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
        assert path.parent.parent == tmp_path
    assert not path.exists() and not path.parent.exists()
    with pytest.raises(RuntimeError), ingest.private_upload("../../etc/evil.csv", b"x") as path:
        assert path.name == "evil.csv" and path.parent.parent == tmp_path  # no way out of the folder
        raise RuntimeError("the load failed")
    assert list(tmp_path.iterdir()) == []  # removed on errors too


def test_data_page_uploads_leave_nothing_behind(scored_copy, tmp_path, monkeypatch):
    uploads = tmp_path / "tmp"
    uploads.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(uploads))
    seen: list[tuple[str, int, int]] = []

    def spy(name, original):
        def wrapper(wh, table, path, *args, **kwargs):
            path = Path(path)
            seen.append((name, _mode(path), _mode(path.parent)))
            return original(wh, table, path, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(ingest, "validate_file", spy("check", ingest.validate_file))
    monkeypatch.setattr(ingest, "load_file", spy("load", ingest.load_file))
    monkeypatch.setenv("RADAR_DATA_DIR", str(scored_copy))
    at = AppTest.from_file(APP, default_timeout=120)
    auth.log_in(at.session_state, auth.TEST_VIEWERS["admin"])
    at.run()
    at.switch_page("views/data.py")
    at.run()
    at.file_uploader[0].set_value(("new_customers.csv", NEW_CUSTOMER.encode(), "text/csv"))
    at.run()
    assert not at.exception and any("Preview" in m.value for m in at.markdown)
    assert list(uploads.iterdir()) == []  # the preview's copy is gone once the run ends
    at.button(key="check_file").click().run()
    assert any("would insert 1" in i.value for i in at.info)
    assert list(uploads.iterdir()) == []
    at.button(key="commit_file").click().run()
    assert not at.exception and "1 inserted" in shown(at.success[0].value)
    assert "new_customers.csv" in shown(at.success[0].value)
    assert list(uploads.iterdir()) == []
    assert seen == [("check", 0o600, 0o700), ("load", 0o600, 0o700)]


# -- the data dir ----------------------------------------------------------------------------------------
@pytest.fixture
def permissive_process(monkeypatch):
    """A process that has not touched a data dir yet, with the usual 0o022 umask."""
    monkeypatch.setattr(config, "_private_done", set())
    os.umask(0o022)
    yield
    os.umask(config.PRIVATE_UMASK)


def _not_private(root: Path) -> list[str]:
    wrong = []
    for item in [root, *root.rglob("*")]:
        expected = 0o700 if item.is_dir() else 0o600
        if _mode(item) & 0o077 or (item.is_dir() and _mode(item) != expected):
            wrong.append(f"{item.relative_to(root)}: {oct(_mode(item))}")
    return wrong


def test_data_dir_files_are_created_private(tmp_path, permissive_process):
    data = tmp_path / "data"
    wh = warehouse.get_warehouse(data)
    synth.generate(wh, customers=400, seed=3, end=DEMO_END)
    training.train(wh, data_dir=data)  # a model artifact under models/ and the registry in state.db
    users.create_demo_users(wh, data)  # the auth file
    store.get_engine(data)
    warehouse.close_all()
    store.dispose_all()
    names = {p.name for p in data.rglob("*")}
    assert {"warehouse.duckdb", "state.db", "models", users.users_path(data).name} <= names
    assert any(p.suffix in (".pkl", ".joblib") for p in (data / "models").rglob("*"))
    assert _not_private(data) == []


def test_an_existing_data_dir_is_tightened_on_first_use(tmp_path, permissive_process):
    data = tmp_path / "old"
    (data / "models" / "churn-v1").mkdir(parents=True)
    for name in ("warehouse.duckdb", "state.db", "auth.yaml", "models/churn-v1/model.pkl"):
        (data / name).write_bytes(b"x")
    data.chmod(0o755)
    assert _mode(data / "auth.yaml") == 0o644
    assert config.data_dir(data) == data.resolve()
    assert _not_private(data) == []


def test_only_the_apps_own_files_are_touched(tmp_path, permissive_process):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # a shared folder such as /tmp used as the data dir
    (shared / "someone_elses.txt").write_text("x")
    (shared / "warehouse.duckdb").write_bytes(b"x")
    config.data_dir(shared)
    assert _mode(shared) == 0o1777  # never lock others out of a shared folder
    assert _mode(shared / "someone_elses.txt") == 0o644
    assert _mode(shared / "warehouse.duckdb") == 0o600
