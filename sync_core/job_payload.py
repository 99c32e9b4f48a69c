"""Merging of sync job payloads when several changes to one record share a job.

A job payload is JSON: dicts, lists and scalars. When a record changes again
before its queued job has run, the queue keeps one job and merges the newer
payload into the older one with :func:`merge_payloads`.
"""


def merge_payloads(older, newer):
    """Return the payload that carries both changes, the newer one winning.

    Dicts are merged key by key, recursively. Lists are joined, keeping the
    order of the older list and appending the newer items it lacks, so lists of
    changed field names or of webhook events lose no entry. Any other value,
    or two values of different types, is replaced by the newer value. A
    ``None`` payload on either side counts as "no payload". Neither argument
    is modified.
    """
    if newer is None:
        return _copy(older)
    if older is None:
        return _copy(newer)
    if isinstance(older, dict) and isinstance(newer, dict):
        merged = {key: _copy(value) for key, value in older.items()}
        for key, value in newer.items():
            if key in merged:
                merged[key] = merge_payloads(merged[key], value)
            else:
                merged[key] = _copy(value)
        return merged
    if isinstance(older, list) and isinstance(newer, list):
        merged = [_copy(item) for item in older]
        for item in newer:
            if item not in merged:
                merged.append(_copy(item))
        return merged
    return _copy(newer)


def _copy(value):
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value
