"""Validate HubSpot v3 webhook signatures.

HubSpot sends ``X-HubSpot-Signature-v3`` and ``X-HubSpot-Request-Timestamp``
(milliseconds since the Unix epoch) with each webhook request. The signature
is the base64-encoded HMAC-SHA256, keyed with the app's client secret, of the
UTF-8 string ``method + uri + body + timestamp`` (HubSpot developer
documentation, "Validating requests"). In the URI HubSpot decodes the
percent-escapes listed in ``_DECODED_ESCAPES`` before signing and keeps every
other escape as sent.

NOTE: the escape list is taken from public verifier code that follows
HubSpot's guide. It has not been checked against requests from HubSpot
itself, only against this project's CRM sandbox.
"""

import base64
import hashlib
import hmac
import re
import time

from .errors import SignatureError

# Maximum age of a request timestamp, in milliseconds: five minutes, the limit
# HubSpot documents. Timestamps this far in the future are rejected as well.
SIGNATURE_TOLERANCE_MS = 300_000

_DECODED_ESCAPES = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_ESCAPE_RE = re.compile("|".join(_DECODED_ESCAPES), re.IGNORECASE)


def signed_uri(uri):
    """Return the URI as HubSpot signs it, with the listed escapes decoded."""
    return _ESCAPE_RE.sub(lambda match: _DECODED_ESCAPES[match.group(0).upper()], uri)


def compute_v3(secret, method, uri, body, timestamp):
    """Return the base64 HMAC-SHA256 v3 signature of one request.

    ``uri`` is the full URL the request was sent to, with scheme, host and
    query string. ``body`` is the raw request body (bytes, or text that is
    encoded as UTF-8). ``timestamp`` is the header value as received.
    """
    if isinstance(body, str):
        body = body.encode("utf-8")
    message = b"".join(
        [
            method.upper().encode("utf-8"),
            signed_uri(uri).encode("utf-8"),
            body or b"",
            str(timestamp).encode("utf-8"),
        ]
    )
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_v3(
    secret,
    method,
    uri,
    body,
    timestamp,
    signature,
    now_ms=None,
    tolerance_ms=SIGNATURE_TOLERANCE_MS,
):
    """Return True for a valid request, or raise SignatureError saying why not.

    It never returns False, so ``if verify_v3(...)`` and a bare call both
    reject forged requests. The timestamp must be within ``tolerance_ms`` of
    ``now_ms`` (default: the current time) in either direction, which stops
    replays of old captured requests. Signatures are compared in constant
    time with ``hmac.compare_digest``.
    """
    if not secret:
        raise SignatureError(
            "No client secret is configured, so webhook signatures cannot be "
            "checked. Set the app's client secret on the CRM backend."
        )
    if not signature or not timestamp:
        raise SignatureError(
            "The request has no X-HubSpot-Signature-v3 or "
            "X-HubSpot-Request-Timestamp header."
        )
    _check_timestamp(timestamp, now_ms, tolerance_ms)
    expected = compute_v3(secret, method, uri, body, timestamp)
    received = str(signature).encode("utf-8")
    if not hmac.compare_digest(expected.encode("ascii"), received):
        raise SignatureError("The webhook signature does not match the request.")
    return True


def _check_timestamp(timestamp, now_ms, tolerance_ms):
    try:
        sent_ms = int(str(timestamp).strip())
    except ValueError:
        raise SignatureError(
            "The X-HubSpot-Request-Timestamp header is not a whole number of "
            "milliseconds."
        ) from None
    if now_ms is None:
        now_ms = time.time_ns() // 1_000_000
    age_ms = now_ms - sent_ms
    if age_ms > tolerance_ms:
        raise SignatureError(
            f"The request timestamp is {age_ms // 1000} s old, more than the "
            f"{tolerance_ms // 1000} s allowed. It may be a replay."
        )
    if -age_ms > tolerance_ms:
        raise SignatureError(
            f"The request timestamp is {-age_ms // 1000} s in the future, more "
            f"than the {tolerance_ms // 1000} s allowed. Check the server clock."
        )
