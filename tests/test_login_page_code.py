"""The login page's own browser code: the cookie it writes and the modules it preloads."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from components.shared import cookie_writer, preload

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl"


def test_a_cookie_is_set_until_its_expiry_in_http_date_form():
    data = cookie_writer.cookie_data("radar_auth", TOKEN, datetime(2026, 12, 11, 9, 5, 7, tzinfo=UTC), secure=False)
    assert data == {"name": "radar_auth", "value": TOKEN, "expires": "Fri, 11 Dec 2026 09:05:07 GMT", "secure": False}


def test_expiry_is_written_in_utc_whatever_the_zone_and_naive_means_utc():
    sao_paulo = timezone(timedelta(hours=-3))
    aware = cookie_writer.cookie_data("c", "v", datetime(2026, 12, 11, 21, 0, tzinfo=sao_paulo), secure=True)
    naive = cookie_writer.cookie_data("c", "v", datetime(2026, 12, 12, 0, 0), secure=True)
    assert aware["expires"] == naive["expires"] == "Sat, 12 Dec 2026 00:00:00 GMT"
    assert aware["secure"] is True


def test_deleting_sets_an_empty_value_that_expired_long_ago():
    data = cookie_writer.cookie_data("radar_auth", None, None, secure=False)
    assert data["value"] == ""
    assert data["expires"] == "Thu, 01 Jan 1970 00:00:00 GMT"


@pytest.mark.parametrize(
    ("name", "value", "expires"),
    [
        ("radar auth", TOKEN, datetime(2027, 1, 1)),  # a space
        ("radar_auth", "x; Domain=evil.example", datetime(2027, 1, 1)),  # an attribute smuggled in
        ("radar_auth", "a=b", datetime(2027, 1, 1)),
        ("", TOKEN, datetime(2027, 1, 1)),
        ("radar_auth", TOKEN, None),  # a set without an expiry would be a session cookie
    ],
)
def test_values_that_would_change_the_cookie_line_are_refused(name, value, expires):
    with pytest.raises(ValueError, match="login cookie"):
        cookie_writer.cookie_data(name, value, expires, secure=False)


def test_every_preloaded_module_is_in_the_pinned_streamlit_build():
    files = preload.module_files()
    assert [re.match(r"[^.]+", f).group() for f in files] == list(preload.AFTER_LOGIN)
    assert all((preload.STREAMLIT_JS / f).is_file() for f in files)


def test_a_missing_or_ambiguous_module_is_skipped(tmp_path):
    for name in ("Metric.Ab12.js", "Button.x1.js", "Button.y2.js", "MetricGroup.z3.js", "Metric.css"):
        (tmp_path / name).write_text("")
    assert preload.module_files(tmp_path, ("Metric", "Button", "Spinner")) == ("Metric.Ab12.js",)
    assert preload.module_files(tmp_path / "gone", ("Metric",)) == ()


def test_the_script_imports_each_file_once_per_page_next_to_streamlits_main_module():
    code = preload.script(("Metric.Ab12.js", "Button.x1.js"))
    assert '["Metric.Ab12.js", "Button.x1.js"]' in code
    assert "window.__radarPreloaded" in code  # a rerun of the login form does not fetch again
    assert "new URL(file, main.src)" in code
