"""Cursor tests against a simulated CRM search with HubSpot's behaviour.

FakeSearch keeps each record's current last-modified time and the time it
becomes searchable (index delay), returns ties in a shuffled order like
HubSpot's unspecified order, and enforces the 10,000-result cap for offset
paging.
"""

import datetime
import json
import random

import pytest

from sync_core import cursor as cursor_module
from sync_core.cursor import PullCursor, TieWindow, run_pull
from sync_core.errors import CursorStalledError

UTC = datetime.UTC
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SECOND = 1000
MINUTE = 60 * SECOND


def record(record_id, modified_ms):
    """Return a search result shaped like HubSpot's."""
    modified_at = cursor_module.from_epoch_ms(modified_ms)
    return {
        "id": str(record_id),
        "updatedAt": modified_at.isoformat().replace("+00:00", "Z"),
        "properties": {"hs_object_id": str(record_id)},
    }


class FakeSearch:
    """In-memory CRM search: one version per record, eventually indexed."""

    def __init__(self, seed=0):
        self.modified = {}  # id -> last-modified time in ms
        self.visible_from = {}  # id -> CRM time in ms when search finds it
        self.clock_ms = START_MS  # the CRM's clock
        self.rng = random.Random(seed)
        self.queries = 0
        self._offset_query = (None, [])

    def put(self, record_id, modified_ms, index_delay_ms=0):
        # A record's last-modified time only moves forward, as in HubSpot.
        modified_ms = max(modified_ms, self.modified.get(record_id, -1) + 1)
        self.modified[record_id] = modified_ms
        self.visible_from[record_id] = modified_ms + index_delay_ms

    def _visible(self):
        return [
            (record_id, modified_ms)
            for record_id, modified_ms in self.modified.items()
            if self.visible_from[record_id] <= self.clock_ms
        ]

    def _matches(self, window):
        if isinstance(window, TieWindow):
            tie_ms = window.modified_at_ms
            after = int(window.after_id) if window.after_id is not None else -1
            hits = [(i, ms) for i, ms in self._visible() if ms == tie_ms and i > after]
            return sorted(hits)
        hits = [
            (i, ms) for i, ms in self._visible() if window.gte_ms <= ms <= window.lte_ms
        ]
        # Sorted by time; ties come in an unspecified order, as in HubSpot.
        self.rng.shuffle(hits)
        return sorted(hits, key=lambda hit: hit[1])

    def search(self, window, limit):
        self.queries += 1
        return [record(i, ms) for i, ms in self._matches(window)[:limit]]

    def search_offset(self, window, after, limit):
        """Page with an ``after`` offset, rejected past the result cap.

        Equal times keep one shuffled order for all pages of a query, which
        offset paging needs. The data must not change during such a query.
        """
        if after >= cursor_module.SEARCH_RESULT_CAP:
            raise AssertionError("paged beyond the 10,000-result cap")
        self.queries += 1
        if after == 0 or self._offset_query[0] != window:
            self._offset_query = (window, self._matches(window))
        hits = self._offset_query[1]
        return [record(i, ms) for i, ms in hits[after : after + limit]], len(hits)


def pull(fake, cursor, skew_ms=0, page_size=100, **options):
    """Run one pull at the CRM's current time plus Odoo's clock skew."""
    processed = []
    now = cursor_module.from_epoch_ms(fake.clock_ms + skew_ms)
    stats = run_pull(
        cursor,
        now,
        fake.search,
        lambda records: processed.extend(
            (int(item["id"]), cursor_module.to_epoch_ms(item["updatedAt"]))
            for item in records
        ),
        page_size=page_size,
        **options,
    )
    return processed, stats


def offset_pull(fake, cursor, page_size=200):
    """Pull with ``after`` paging up to the cap, as a naive adapter would."""
    processed = []
    window = cursor.window(cursor_module.from_epoch_ms(fake.clock_ms))
    while window is not None:
        after = 0
        capped = False
        while True:
            page, total = fake.search_offset(window, after, page_size)
            for item in cursor.accept(page):
                processed.append(
                    (int(item["id"]), cursor_module.to_epoch_ms(item["updatedAt"]))
                )
            cursor.advance(page)
            after += len(page)
            if after >= total:
                break
            if after >= cursor_module.SEARCH_RESULT_CAP:
                capped = True
                break
        window = cursor.next_window(capped=capped)
    return processed


def assert_each_version_once(processed, fake):
    assert len(processed) == len(set(processed)), "a version was processed twice"
    latest = {}
    for record_id, modified_ms in processed:
        latest[record_id] = max(latest.get(record_id, 0), modified_ms)
    assert latest == fake.modified, "a record's latest version was never processed"


# --------------------------------------------------------------------------
# Window and state
# --------------------------------------------------------------------------


def test_window_first_run_starts_at_epoch():
    pull_cursor = PullCursor()
    now = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    window = pull_cursor.window(now)
    assert window.gte == cursor_module.EPOCH
    assert window.lte == now - datetime.timedelta(seconds=30)


def test_window_overlaps_since():
    since = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    pull_cursor = PullCursor(since)
    gte, lte = pull_cursor.window(since + datetime.timedelta(hours=1))
    assert gte == since - datetime.timedelta(seconds=cursor_module.OVERLAP_SECONDS)
    assert lte == since + datetime.timedelta(minutes=59, seconds=30)


def test_window_naive_now_is_utc():
    pull_cursor = PullCursor()
    aware = pull_cursor.window(datetime.datetime(2026, 1, 1, 12, 0, tzinfo=UTC))
    naive = pull_cursor.window(datetime.datetime(2026, 1, 1, 12, 0))
    assert aware == naive


def test_json_round_trip():
    pull_cursor = PullCursor()
    pull_cursor.window(cursor_module.from_epoch_ms(START_MS + MINUTE))
    pull_cursor.advance([record(7, START_MS), record(8, START_MS)])
    restored = PullCursor.from_json(pull_cursor.to_json())
    assert restored.since == cursor_module.from_epoch_ms(START_MS)
    assert restored.seen == {"7": START_MS, "8": START_MS}
    assert json.loads(pull_cursor.to_json())["since"] == "2026-01-01T00:00:00.000+00:00"
    assert PullCursor.from_json(pull_cursor.to_dict()).seen == restored.seen


def test_constructor_drops_seen_before_overlap():
    since = cursor_module.from_epoch_ms(START_MS)
    seen = {"1": START_MS, "2": START_MS - 4 * MINUTE, "3": START_MS - 6 * MINUTE}
    pull_cursor = PullCursor(since, seen)
    assert pull_cursor.seen == {"1": START_MS, "2": START_MS - 4 * MINUTE}


@pytest.mark.parametrize("data", [None, False, "", {}])
def test_from_json_empty_is_first_sync(data):
    assert PullCursor.from_json(data).since is None


def test_from_json_unknown_version_raises():
    with pytest.raises(ValueError) as caught:
        PullCursor.from_json({"version": 99, "since": None, "seen": {}})
    assert "full sync" in str(caught.value)


def test_accept_needs_window():
    with pytest.raises(RuntimeError):
        PullCursor().accept([record(1, START_MS)])


def test_accept_skips_seen_and_out_of_window():
    pull_cursor = PullCursor(cursor_module.from_epoch_ms(START_MS), {"1": START_MS})
    pull_cursor.window(cursor_module.from_epoch_ms(START_MS + MINUTE))
    page = [
        record(1, START_MS),  # processed already
        record(2, START_MS),  # new at the same time
        record(3, START_MS + MINUTE),  # after the window's upper bound
        record(4, START_MS - 10 * MINUTE),  # before the overlap
    ]
    accepted = pull_cursor.accept(page)
    assert [item["id"] for item in accepted] == ["2"]


def test_accept_keeps_newest_duplicate_in_page():
    pull_cursor = PullCursor()
    pull_cursor.window(cursor_module.from_epoch_ms(START_MS + MINUTE))
    page = [record(5, START_MS), record(5, START_MS + SECOND)]
    accepted = pull_cursor.accept(page)
    assert [item["updatedAt"] for item in accepted] == [page[1]["updatedAt"]]


def test_record_key_reads_properties():
    item = {"id": "9", "properties": {"lastmodifieddate": "1767225600000"}}
    assert cursor_module.default_record_key(item) == ("1767225600000", "9")
    with pytest.raises(ValueError):
        cursor_module.default_record_key({"id": "9", "properties": {}})


def test_id_order_numeric():
    ids = ["10", "9", "100", "abc"]
    assert sorted(ids, key=cursor_module.id_order) == ["9", "10", "100", "abc"]


# --------------------------------------------------------------------------
# Runs against the simulated search
# --------------------------------------------------------------------------


def test_pull_reads_everything_once():
    fake = FakeSearch()
    for record_id in range(1, 1001):
        fake.put(record_id, START_MS + record_id * SECOND)
    fake.clock_ms = START_MS + 2000 * SECOND
    pull_cursor = PullCursor()
    processed, stats = pull(fake, pull_cursor)
    assert_each_version_once(processed, fake)
    assert stats.finished
    again, _stats = pull(fake, pull_cursor)
    assert again == []


def test_pull_ties_larger_than_page():
    fake = FakeSearch(seed=3)
    # 750 records changed in the same millisecond by a bulk update, between
    # ordinary changes, read 100 per page.
    for record_id in range(1, 51):
        fake.put(record_id, START_MS + record_id)
    for record_id in range(51, 801):
        fake.put(record_id, START_MS + 5 * SECOND)
    for record_id in range(801, 851):
        fake.put(record_id, START_MS + 6 * SECOND + record_id)
    fake.clock_ms = START_MS + 10 * MINUTE
    pull_cursor = PullCursor()
    processed, stats = pull(fake, pull_cursor)
    assert_each_version_once(processed, fake)
    assert stats.queries < 40


def test_pull_ties_equal_to_page_size():
    fake = FakeSearch(seed=4)
    for record_id in range(1, 101):
        fake.put(record_id, START_MS)
    fake.clock_ms = START_MS + MINUTE
    processed, _stats = pull(fake, PullCursor())
    assert_each_version_once(processed, fake)


def test_pull_resumes_after_query_budget():
    fake = FakeSearch(seed=5)
    for record_id in range(1, 501):
        fake.put(record_id, START_MS + (record_id // 7) * SECOND)
    fake.clock_ms = START_MS + 10 * MINUTE
    pull_cursor = PullCursor()
    processed = []
    for _run in range(20):
        pull_cursor = PullCursor.from_json(pull_cursor.to_json())
        batch, stats = pull(fake, pull_cursor, max_queries=2)
        processed += batch
        if stats.finished:
            break
    assert stats.finished
    assert_each_version_once(processed, fake)


def test_pull_resumes_inside_tie():
    fake = FakeSearch(seed=10)
    for record_id in range(1, 451):
        fake.put(record_id, START_MS)
    fake.clock_ms = START_MS + MINUTE
    pull_cursor = PullCursor()
    processed, stats = pull(fake, pull_cursor, max_queries=3)
    assert not stats.finished
    saved = json.loads(pull_cursor.to_json())
    assert saved["resume"]["tie"] == "2026-01-01T00:00:00+00:00"
    assert saved["resume"]["after_id"] is not None
    restored = PullCursor.from_json(saved)
    window = restored.window(cursor_module.from_epoch_ms(fake.clock_ms))
    assert isinstance(window, TieWindow)
    batch, stats = pull(fake, restored)
    processed += batch
    assert stats.finished
    assert_each_version_once(processed, fake)
    assert restored.to_dict()["resume"] is None


def test_pull_checkpoint_saves_position():
    fake = FakeSearch(seed=11)
    for record_id in range(1, 251):
        fake.put(record_id, START_MS + record_id * SECOND)
    fake.clock_ms = START_MS + 10 * MINUTE
    saved = []
    processed = []

    def crash_after_two_pages(records):
        if len(saved) == 2:
            raise RuntimeError("worker killed")
        processed.extend(
            (int(item["id"]), cursor_module.to_epoch_ms(item["updatedAt"]))
            for item in records
        )

    with pytest.raises(RuntimeError):
        run_pull(
            PullCursor(),
            cursor_module.from_epoch_ms(fake.clock_ms),
            fake.search,
            crash_after_two_pages,
            checkpoint=lambda pull_cursor: saved.append(pull_cursor.to_json()),
        )
    restored = PullCursor.from_json(saved[-1])
    assert json.loads(saved[-1])["resume"]["gte"]
    batch, _stats = pull(fake, restored)
    processed += batch
    assert_each_version_once(processed, fake)


def test_pull_changes_during_run_wait_for_next():
    fake = FakeSearch(seed=6)
    for record_id in range(1, 301):
        fake.put(record_id, START_MS + record_id * SECOND)
    fake.clock_ms = START_MS + 10 * MINUTE
    pull_cursor = PullCursor()
    processed = []
    original_search = fake.search

    def search_while_users_edit(window, limit):
        page = original_search(window, limit)
        # A user edits a record that the run has not read yet, moving it
        # past the window. With offset paging this would shift later results.
        unread = [i for i, ms in fake.modified.items() if ms < START_MS + 300 * SECOND]
        if unread:
            fake.put(max(unread), fake.clock_ms)
        return page

    fake.search = search_while_users_edit
    batch, _stats = pull(fake, pull_cursor)
    processed += batch
    fake.search = original_search
    fake.clock_ms += MINUTE
    batch, _stats = pull(fake, pull_cursor)
    processed += batch
    assert_each_version_once(processed, fake)


def test_pull_offset_paging_past_result_cap():
    fake = FakeSearch(seed=7)
    record_id = 0
    for second in range(250):
        # 97 records per time, so pages of 200 split ties.
        for _index in range(97):
            record_id += 1
            fake.put(record_id, START_MS + second * SECOND)
    fake.clock_ms = START_MS + 10 * MINUTE
    assert len(fake.modified) > 2 * cursor_module.SEARCH_RESULT_CAP
    processed = offset_pull(fake, PullCursor())
    assert_each_version_once(processed, fake)


def test_pull_offset_paging_tie_beyond_cap():
    # More records share one millisecond than one query can ever return, so
    # the cursor must walk that millisecond by id.
    fake = FakeSearch(seed=8)
    for record_id in range(1, 12_501):
        fake.put(record_id, START_MS + SECOND)
    for record_id in range(12_501, 12_601):
        fake.put(record_id, START_MS + 2 * SECOND)
    fake.clock_ms = START_MS + MINUTE
    processed = offset_pull(fake, PullCursor())
    assert_each_version_once(processed, fake)


def test_pull_tie_beyond_cap_keyset():
    fake = FakeSearch(seed=9)
    for record_id in range(1, 10_502):
        fake.put(record_id, START_MS + SECOND)
    fake.clock_ms = START_MS + MINUTE
    processed, stats = pull(fake, PullCursor(), page_size=200)
    assert_each_version_once(processed, fake)
    # Two time queries find the tie, 53 walk it by id, one reads past it.
    assert stats.queries == 2 + 10_501 // 200 + 1 + 1


def test_pull_search_ignoring_after_id_stalls():
    fake = FakeSearch()
    for record_id in range(1, 301):
        fake.put(record_id, START_MS)
    fake.clock_ms = START_MS + MINUTE

    def search_without_id_filter(window, limit):
        if isinstance(window, TieWindow):
            window = TieWindow(window.modified_at, None)
        return fake.search(window, limit)

    with pytest.raises(CursorStalledError) as caught:
        run_pull(
            PullCursor(),
            cursor_module.from_epoch_ms(fake.clock_ms),
            search_without_id_filter,
            lambda records: None,
        )
    assert "id filter" in str(caught.value)


def test_pull_search_ignoring_window_stalls():
    def search_far_future(window, limit):
        return [record(i, START_MS + 999 * MINUTE) for i in range(limit)]

    with pytest.raises(CursorStalledError):
        run_pull(
            PullCursor(),
            cursor_module.from_epoch_ms(START_MS),
            search_far_future,
            lambda records: None,
        )


def test_pull_crm_clock_ahead_waits():
    since = cursor_module.from_epoch_ms(START_MS + 10 * MINUTE)
    pull_cursor = PullCursor(since, overlap=datetime.timedelta(seconds=60))
    calls = []
    stats = run_pull(
        pull_cursor,
        cursor_module.from_epoch_ms(START_MS),
        lambda window, limit: calls.append(window) or [],
        lambda records: None,
    )
    assert calls == []
    assert stats.queries == 0
    assert pull_cursor.since == since


@pytest.mark.parametrize("seed", range(12))
def test_pull_simulated_traffic_with_skew(seed):
    """Random edits, bulk-update ties, index delay and clock skew over time.

    The skew and the index delay together stay below the overlap, which is
    the documented condition for missing nothing.
    """
    rng = random.Random(seed)
    fake = FakeSearch(seed=seed)
    skew_ms = rng.randint(-2 * MINUTE, 2 * MINUTE)
    max_index_delay_ms = 2 * MINUTE
    pull_cursor = PullCursor()
    processed = []
    next_id = 1
    for step in range(60):
        fake.clock_ms += rng.randint(1, 40) * SECOND
        for _edit in range(rng.randint(0, 30)):
            if next_id > 1 and rng.random() < 0.5:
                record_id = rng.randint(1, next_id - 1)
            else:
                record_id, next_id = next_id, next_id + 1
            modified_ms = fake.clock_ms - rng.randint(0, 20 * SECOND)
            fake.put(record_id, modified_ms, rng.randint(0, max_index_delay_ms))
        if step % 9 == 4:
            # A bulk update stamps many records with one millisecond.
            bulk_ms = fake.clock_ms
            for record_id in rng.sample(range(1, next_id), min(next_id - 1, 250)):
                fake.put(record_id, bulk_ms, rng.randint(0, max_index_delay_ms))
        if step % 3 == 0:
            pull_cursor = PullCursor.from_json(pull_cursor.to_json())
            batch, stats = pull(fake, pull_cursor, skew_ms, page_size=50)
            processed += batch
            assert stats.queries < 2000
    # Quiet period: every change is indexed and inside a window.
    fake.clock_ms += 10 * MINUTE
    for _run in range(2):
        batch, _stats = pull(fake, pull_cursor, skew_ms, page_size=50)
        processed += batch
    # An intermediate version edited again before a run may never be read,
    # which is fine: the latest version of every record must be.
    assert_each_version_once(processed, fake)
