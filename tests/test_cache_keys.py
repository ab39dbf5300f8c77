"""Cache keys of the pages: leaders share what depends on the book alone, a CSM never shares
with anyone, and the background warm-up of a new snapshot runs only in a served app."""

from __future__ import annotations

import threading

from components.shared import cache
from engine.core.access import Viewer


def test_leaders_share_book_reads_and_csms_keep_their_own():
    keys = {role: cache.viewer_key(Viewer(f"someone-{role}", role)) for role in ("executive", "analyst", "admin")}
    assert keys["executive"] == cache.viewer_key(Viewer("another", "executive"))  # per role, not per user
    assert len(set(keys.values())) == 3  # role-specific reads stay apart
    assert {cache.book_key(k) for k in keys.values()} == {cache.LEADERS}
    ana = cache.viewer_key(Viewer("ana.silva", "csm"))
    assert ana == ("ana.silva", "csm") == cache.book_key(ana)
    assert cache.book_key(cache.viewer_key(Viewer("bo", "csm"))) != cache.book_key(ana)


def test_no_warm_up_without_a_request(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(threading.Thread, "start", lambda self: started.append(self.name))
    cache.warm_up(str(tmp_path))
    assert not started and not cache._warmed and not cache._watched


def test_each_snapshot_is_warmed_once_as_it_is_published(scored_copy, monkeypatch):
    """The watcher's step: the latest snapshot, once, and a scheduler's next one without anyone asking."""
    from engine.data import warehouse

    data = str(scored_copy)
    warmed = []
    monkeypatch.setattr(cache, "_warmed", set())
    monkeypatch.setattr(cache, "_warm", lambda d, stamp, wh: warmed.append((d, stamp, wh.generation)))
    first = cache.warm_latest(data)
    assert first == cache.snapshot_stamp(data)
    assert cache.warm_latest(data) is None  # already warm: nothing computed again
    with warehouse.writing(data, "test: the nightly score") as wh:
        wh.execute("DELETE FROM predictions WHERE false")
    second = cache.warm_latest(data)
    assert second not in (None, first)
    assert [(d, stamp) for d, stamp, _ in warmed] == [(data, first), (data, second)]
    assert warmed[1][2] == warehouse.get_warehouse(data, read_only=True).generation  # handed that snapshot


def test_one_watcher_per_data_dir_and_every_run_wakes_it(tmp_path, monkeypatch):
    looked = threading.Semaphore(0)
    monkeypatch.setattr(cache, "_served", lambda: True)
    monkeypatch.setattr(cache, "_watched", {})
    monkeypatch.setattr(cache, "WATCH_SECONDS", 3600.0)  # only a run can wake it within the test
    monkeypatch.setattr(cache, "warm_latest", lambda data_dir: looked.release())
    started = []
    real_start = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", lambda self: (started.append(self.name), real_start(self)))
    cache.warm_up(str(tmp_path))
    assert looked.acquire(timeout=10)  # the first look, at start
    cache.warm_up(str(tmp_path))
    assert looked.acquire(timeout=10)  # the next run woke it long before its poll
    assert started == ["radar-warm-up"]


def test_no_warehouse_yet_is_nothing_to_warm(tmp_path):
    assert cache.warm_latest(str(tmp_path)) is None


def test_warm_up_fills_the_leaders_book_reads(scored_dir, monkeypatch):
    from engine import segments
    from engine.accounts import peers

    data = str(scored_dir)
    stamp = cache.snapshot_stamp(data)
    cache._warm(data, stamp, cache.warehouse(data))

    def recomputed(*args, **kwargs):
        raise AssertionError("computed again instead of read from the warm cache")

    monkeypatch.setattr(segments, "book_segments", recomputed)
    monkeypatch.setattr(peers, "segment_benchmarks", recomputed)
    who = cache.viewer_key(Viewer("anyone", "analyst"))
    assert cache.segment_report(data, who, stamp).accounts > 0
    assert cache.segment_benchmarks(data, who, stamp).book.accounts > 0
    assert not cache.board_frame(data, who, stamp).empty


def test_warm_up_keeps_reading_its_own_snapshot_when_a_newer_one_is_published(scored_copy, monkeypatch):
    """A scheduler publishing mid-warm-up must not put the new snapshot's rows under the old stamp."""
    from engine.accounts import board
    from engine.data import warehouse

    data = str(scored_copy)
    pinned = cache.warehouse(data)
    stamp = cache.snapshot_stamp(data)
    real_mrr_by_plan = cache._mrr_by_plan

    def publish_meanwhile(*args):
        with warehouse.writing(data, "test: a scheduler") as wh:
            wh.execute("DELETE FROM predictions")
        return real_mrr_by_plan(*args)

    monkeypatch.setattr(cache, "_mrr_by_plan", publish_meanwhile)
    cache._warm(data, stamp, pinned)
    assert cache.snapshot_stamp(data) != stamp  # the newer one is out
    monkeypatch.setattr(board, "board_frame", lambda *a: (_ for _ in ()).throw(AssertionError("not warmed")))
    kept = cache.board_frame(data, cache.LEADERS, stamp)
    assert not kept.empty  # the new snapshot has no scores: these rows are the pinned snapshot's
