"""Timestamps in HubSpot's formats: ISO-8601 UTC with milliseconds, or epoch ms."""

import re
from datetime import UTC, datetime

_EPOCH_MS = re.compile(r"^-?\d+$")


def utc_now():
    return datetime.now(UTC)


def truncate_to_ms(moment):
    """Return ``moment`` as an aware UTC datetime cut to whole milliseconds."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def to_iso(moment):
    """Format as HubSpot does: ``2024-01-17T19:55:04.281Z``."""
    moment = truncate_to_ms(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def to_epoch_ms(moment):
    moment = truncate_to_ms(moment)
    return int(moment.timestamp() * 1000)


def from_epoch_ms(value):
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def parse_datetime(value):
    """Parse epoch milliseconds, an ISO-8601 datetime or a date into UTC.

    A naive ISO value is read as UTC and a bare date as midnight UTC. Raises
    ValueError when the value is neither.
    """
    text = str(value).strip()
    if _EPOCH_MS.match(text):
        return from_epoch_ms(text)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
