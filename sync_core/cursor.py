"""Incremental pull cursor that reads every CRM change once, within stated limits.

What it stores
==============

``since`` is the newest last-modified time (UTC, millisecond precision) of
the records processed so far. ``seen`` maps the id of every record processed
with a last-modified time at or after ``since - overlap`` to that time.
``resume`` is the position of a run that stopped before its end (a query
budget reached, or a crash after a checkpoint), or None. The JSON form
(:meth:`PullCursor.to_json`) is what the Odoo layer keeps per backend and
object type.

How a run works
===============

:meth:`PullCursor.window` starts a run and returns the first search window,
``[since - overlap, now - safety_lag]`` on the last-modified property. The
CRM query sorts by last-modified time, ascending. For each page of results:
:meth:`~PullCursor.accept` returns the records to process, the caller
processes them, then :meth:`~PullCursor.advance` records the page. After the
last page of a query, :meth:`~PullCursor.next_window` returns the next
window, or None when the run is done. :func:`run_pull` drives this loop and
is the way to use it.

Edge cases
==========

Ties. Many records can share one last-modified time. The cursor never moves
past a time while records at that time may be unread. A query restarted at a
time skips the records ``seen`` already has at that time.

Changes during the run. The upper bound ``now - safety_lag`` is fixed when
the run starts. A record changed while the run goes on gets a newer time,
falls outside the window and is read by the next run. The lag also gives the
CRM's search index time to catch up.

Result cap. HubSpot's search returns at most 10,000 results per query, and
its ``after`` paging is an offset, which skips a record when an earlier
result changes between two pages. So :func:`run_pull` never pages with
``after``. Each query fetches one page, and the next query restarts at the
newest time that page returned (keyset paging). This needs no stable order
among equal times, because every record older than the page's newest time
is inside the page. A caller that pages with ``after`` up to the cap may call
``next_window(capped=True)`` instead, and the same restart applies, provided
the CRM returns equal times in the same order on every page of a query.

More records at one time than one query returns. Restarting at that time
would return the same records again, so the cursor switches to a
:class:`TieWindow`: records at exactly that time with an id above
``after_id``, sorted by id (HubSpot's ``hs_object_id`` filter and sort).
When that is exhausted, the run goes on from one millisecond later. A search
backend that ignores ``after_id`` is detected and raises
:class:`~.errors.CursorStalledError` instead of looping.

Clock skew and late indexing. Last-modified times come from the CRM's
clock, and a record can appear in search results after newer ones. Each run
therefore starts ``overlap`` before ``since``, and ``seen`` drops the
records already processed at the same time. A record that appears later
than ``overlap`` after its last-modified time is missed until it changes
again, so ``overlap`` must exceed the CRM's worst indexing delay plus the
clock difference between the two systems.

Unfinished runs. A run that stops early keeps its position, and the next
run goes on from there instead of re-reading the overlap, so a query budget
smaller than the overlap's records still makes progress. The overlap is read
again by the first run after a finished one.
NOTE: a record that the stopped run passed while it was not yet searchable
is missed if the runs take longer than ``overlap`` to finish.

Processing a record twice is harmless because the change decision compares
fingerprints, so ``seen`` is capped at MAX_SEEN_IDS entries. Past the cap,
the oldest entries go first, and their records may be processed again.
"""

import dataclasses
import datetime
import json
from typing import NamedTuple

from .errors import CursorStalledError

UTC = datetime.UTC
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)

# Maximum results of one HubSpot search query, whatever the paging.
SEARCH_RESULT_CAP = 10_000

# Records per search request in run_pull (HubSpot allows at most 200).
DEFAULT_PAGE_SIZE = 100

# How far each run re-reads before ``since``, in seconds. It covers search
# indexing delay and clock skew between Odoo and the CRM.
OVERLAP_SECONDS = 300

# How far the window's upper bound stays behind the current time, in seconds.
SAFETY_LAG_SECONDS = 30

# Maximum entries in ``seen`` (ids). At about 30 bytes of JSON per entry (an
# estimate for 10-digit ids), the cursor's JSON form stays under 2 MB.
MAX_SEEN_IDS = 50_000

CURSOR_FORMAT_VERSION = 1


class SearchWindow(NamedTuple):
    """Query: last-modified time in ``[gte, lte]``, sorted by that time."""

    gte: datetime.datetime
    lte: datetime.datetime

    @property
    def gte_ms(self):
        """Lower bound in epoch milliseconds, as HubSpot filters expect."""
        return to_epoch_ms(self.gte)

    @property
    def lte_ms(self):
        """Upper bound in epoch milliseconds, as HubSpot filters expect."""
        return to_epoch_ms(self.lte)


class TieWindow(NamedTuple):
    """Query: last-modified time equal to ``modified_at``, ids above ``after_id``.

    Results must be sorted by id (``hs_object_id``), ascending. ``after_id``
    None means from the smallest id.
    """

    modified_at: datetime.datetime
    after_id: str | None

    @property
    def modified_at_ms(self):
        """The time in epoch milliseconds, as HubSpot filters expect."""
        return to_epoch_ms(self.modified_at)


@dataclasses.dataclass
class PullStats:
    """Counts of one run_pull call."""

    queries: int = 0
    fetched: int = 0
    processed: int = 0
    finished: bool = True


class PullCursor:
    """Position of the incremental pull of one object type from one CRM."""

    def __init__(
        self,
        since=None,
        seen=None,
        *,
        overlap=datetime.timedelta(seconds=OVERLAP_SECONDS),
        safety_lag=datetime.timedelta(seconds=SAFETY_LAG_SECONDS),
        record_key=None,
        resume=None,
    ):
        self._since_ms = to_epoch_ms(since) if since is not None else None
        self._seen = {str(record_id): int(ms) for record_id, ms in (seen or {}).items()}
        self._overlap_ms = _duration_ms(overlap)
        self._safety_lag_ms = _duration_ms(safety_lag)
        self._record_key = record_key or default_record_key
        self._window = None
        self._resume = _decode_position(resume)
        self._run_upper_ms = None
        self._reset_query()
        self._prune_seen()

    # ------------------------------------------------------------------
    # State and JSON form
    # ------------------------------------------------------------------

    @property
    def since(self):
        """Newest last-modified time processed, as an aware UTC datetime."""
        return from_epoch_ms(self._since_ms) if self._since_ms is not None else None

    @property
    def seen(self):
        """Copy of the processed ids near ``since``, with their times in ms."""
        return dict(self._seen)

    @classmethod
    def from_json(cls, data, **options):
        """Return a cursor from its JSON text or dict; empty data: first sync.

        ``options`` are the keyword arguments of the constructor. Raises
        ValueError for data in an unknown format.
        """
        if not data:
            return cls(**options)
        if isinstance(data, (str, bytes)):
            data = json.loads(data)
        if not isinstance(data, dict) or data.get("version") != CURSOR_FORMAT_VERSION:
            raise ValueError(
                f"Pull cursor data has an unknown format (expected version "
                f"{CURSOR_FORMAT_VERSION}); clear it to restart with a full sync."
            )
        since = data.get("since")
        return cls(
            since=datetime.datetime.fromisoformat(since) if since else None,
            seen=data.get("seen") or {},
            resume=data.get("resume"),
            **options,
        )

    def to_dict(self):
        """Return the cursor as a JSON-ready dict (for an Odoo Json field)."""
        return {
            "version": CURSOR_FORMAT_VERSION,
            "since": self.since.isoformat(timespec="milliseconds")
            if self.since
            else None,
            "seen": dict(sorted(self._seen.items())),
            "resume": _encode_position(self._window or self._resume),
        }

    def to_json(self):
        """Return the cursor as JSON text."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    # ------------------------------------------------------------------
    # A run
    # ------------------------------------------------------------------

    def window(self, now):
        """Start a run at ``now`` and return its first window.

        That is a SearchWindow from ``since - overlap``, unless an earlier
        run stopped before its end (see :func:`run_pull`'s ``max_queries``).
        Then the run goes on where that one stopped, which may be a
        TieWindow, and skips the overlap.

        ``gte`` may come after ``lte`` when ``since`` is newer than
        ``now - safety_lag`` (the CRM's clock is ahead), and then there is
        nothing to query yet. Naive datetimes are read as UTC.
        """
        self._run_upper_ms = to_epoch_ms(now) - self._safety_lag_ms
        upper = from_epoch_ms(self._run_upper_ms)
        position = self._window or self._resume
        self._resume = None
        if isinstance(position, TieWindow):
            self._window = position
        elif position is not None:
            self._window = SearchWindow(position.gte, upper)
        else:
            start_ms = 0
            if self._since_ms is not None:
                start_ms = max(self._since_ms - self._overlap_ms, 0)
            self._window = SearchWindow(from_epoch_ms(start_ms), upper)
        self._reset_query()
        return self._window

    def accept(self, records):
        """Return the records of a page to process, in page order.

        Leaves out records outside the current window and versions already
        processed (same id, same or older time). When the page has one id
        twice, only its newest version is returned.
        """
        self._require_window()
        newest = {}
        for record in records:
            modified_ms, record_id = self._key(record)
            if self._in_window(modified_ms) and modified_ms > newest.get(record_id, -1):
                newest[record_id] = modified_ms
        accepted = []
        for record in records:
            modified_ms, record_id = self._key(record)
            if newest.get(record_id) != modified_ms:
                continue
            if modified_ms <= self._seen.get(record_id, -1):
                continue
            accepted.append(record)
            newest.pop(record_id)
        return accepted

    def advance(self, records):
        """Mark a page as processed and move ``since`` forward.

        Call it with the whole page, as returned, after its accepted records
        were processed.
        """
        self._require_window()
        for record in records:
            modified_ms, record_id = self._key(record)
            if not self._in_window(modified_ms):
                continue
            if modified_ms > self._seen.get(record_id, -1):
                self._seen[record_id] = modified_ms
            self._since_ms = max(self._since_ms or 0, modified_ms)
            self._note_query_progress(modified_ms, record_id)
        self._prune_seen()

    def next_window(self, capped):
        """Return the next window of this run, or None when the run is done.

        ``capped`` is True when the last query returned as many results as
        it was allowed to (a full page, or the 10,000-result cap), so more
        may follow. Raises CursorStalledError when another query could not
        make progress.
        """
        self._require_window()
        if isinstance(self._window, TieWindow):
            following = self._after_tie(capped)
        else:
            following = self._after_search(capped)
        self._window = following
        self._reset_query()
        return following

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def _after_search(self, capped):
        if not capped:
            return None
        if self._query_max_ms is None:
            raise CursorStalledError(
                "The CRM search returned a full page with no record inside the "
                "requested time window, so the pull cannot tell where to go on. "
                "Check the adapter's last-modified filter."
            )
        if self._query_max_ms > to_epoch_ms(self._window.gte):
            return SearchWindow(
                from_epoch_ms(self._query_max_ms), from_epoch_ms(self._run_upper_ms)
            )
        # A whole query at one time: walk that time by id.
        return TieWindow(self._window.gte, None)

    def _after_tie(self, capped):
        tie_ms = to_epoch_ms(self._window.modified_at)
        if not capped:
            if tie_ms + 1 > self._run_upper_ms:
                return None
            return SearchWindow(
                from_epoch_ms(tie_ms + 1), from_epoch_ms(self._run_upper_ms)
            )
        last_id = self._query_last_id
        after_id = self._window.after_id
        if last_id is None or (
            after_id is not None and id_order(last_id) <= id_order(after_id)
        ):
            raise CursorStalledError(
                f"The CRM search returned no record with an id above {after_id!r} at "
                f"{self._window.modified_at.isoformat()}, so it ignores the id filter "
                "and the pull would loop. The adapter must filter and sort ties by id."
            )
        return TieWindow(self._window.modified_at, last_id)

    def _in_window(self, modified_ms):
        if isinstance(self._window, TieWindow):
            return modified_ms == to_epoch_ms(self._window.modified_at)
        return (
            to_epoch_ms(self._window.gte)
            <= modified_ms
            <= to_epoch_ms(self._window.lte)
        )

    def _note_query_progress(self, modified_ms, record_id):
        if self._query_max_ms is None or modified_ms > self._query_max_ms:
            self._query_max_ms = modified_ms
        if self._query_last_id is None or id_order(record_id) > id_order(
            self._query_last_id
        ):
            self._query_last_id = record_id

    def _reset_query(self):
        self._query_max_ms = None
        self._query_last_id = None

    def _prune_seen(self):
        if self._since_ms is None:
            return
        oldest_kept = self._since_ms - self._overlap_ms
        self._seen = {
            record_id: ms for record_id, ms in self._seen.items() if ms >= oldest_kept
        }
        if len(self._seen) > MAX_SEEN_IDS:
            newest = sorted(self._seen.items(), key=lambda item: item[1])[
                -MAX_SEEN_IDS:
            ]
            self._seen = dict(newest)

    def _require_window(self):
        if self._window is None:
            raise RuntimeError("Call window(now) to start a run before reading pages.")

    def _key(self, record):
        modified_at, record_id = self._record_key(record)
        return to_epoch_ms(modified_at), str(record_id)


def run_pull(
    cursor,
    now,
    search,
    handle,
    *,
    page_size=DEFAULT_PAGE_SIZE,
    max_queries=None,
    checkpoint=None,
):
    """Pull every change up to ``now - safety_lag`` and return PullStats.

    ``search(window, limit)`` returns one page (a list of at most ``limit``
    records) for a SearchWindow or a TieWindow, sorted as their docstrings
    require.
    ``handle(records)`` processes the accepted records of a page.
    ``checkpoint(cursor)``, when given, runs after each page, for example to
    save the cursor and commit. ``max_queries`` bounds the work of one run;
    the stats then report ``finished=False`` and the next run goes on from the
    cursor.
    """
    stats = PullStats()
    window = cursor.window(now)
    while window is not None:
        if isinstance(window, SearchWindow) and window.gte > window.lte:
            break
        if max_queries is not None and stats.queries >= max_queries:
            stats.finished = False
            break
        page = list(search(window, page_size))
        stats.queries += 1
        stats.fetched += len(page)
        accepted = cursor.accept(page)
        handle(accepted)
        cursor.advance(page)
        stats.processed += len(accepted)
        window = cursor.next_window(capped=len(page) >= page_size)
        if checkpoint is not None:
            checkpoint(cursor)
    return stats


def _encode_position(window):
    if isinstance(window, TieWindow):
        return {"tie": window.modified_at.isoformat(), "after_id": window.after_id}
    if isinstance(window, SearchWindow):
        return {"gte": window.gte.isoformat()}
    return None


def _decode_position(data):
    if not data:
        return None
    if "tie" in data:
        return TieWindow(
            datetime.datetime.fromisoformat(data["tie"]), data.get("after_id")
        )
    gte = datetime.datetime.fromisoformat(data["gte"])
    return SearchWindow(gte, gte)


def default_record_key(record):
    """Return (last-modified time, id) of a HubSpot search result dict.

    The time is ``updatedAt``, or else the ``hs_lastmodifieddate`` or
    ``lastmodifieddate`` (contacts) property.
    """
    properties = record.get("properties") or {}
    modified_at = (
        record.get("updatedAt")
        or properties.get("hs_lastmodifieddate")
        or properties.get("lastmodifieddate")
    )
    if modified_at is None:
        raise ValueError(f"CRM record {record.get('id')!r} has no last-modified time.")
    return modified_at, record["id"]


def id_order(record_id):
    """Return a sort key that orders numeric ids by value.

    HubSpot's ``hs_object_id`` is a number property, so "10" sorts after "9".
    """
    text = str(record_id)
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def to_epoch_ms(value):
    """Return a time (datetime, epoch ms, or ISO 8601 text) in epoch milliseconds.

    Naive datetimes are read as UTC, as Odoo stores them.
    """
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        delta = value - EPOCH
        return (
            delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000
        )
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    return to_epoch_ms(datetime.datetime.fromisoformat(text))


def from_epoch_ms(ms):
    """Return epoch milliseconds as an aware UTC datetime."""
    return EPOCH + datetime.timedelta(milliseconds=ms)


def _duration_ms(duration):
    if isinstance(duration, datetime.timedelta):
        return int(duration.total_seconds() * 1000)
    return int(float(duration) * 1000)
