"""Translation of HubSpot error responses into adapter errors and batch item errors.

HubSpot's error body is ``{"status": "error", "message", "correlationId",
"category", "errors": [{"message", "context", ...}], ...}``, and HubSpot's
error-handling guide recommends treating every field as optional. A 207 batch
response lists one such StandardError per failed group of inputs, with the
failed inputs named in ``context`` (``ids`` or ``objectWriteTraceId``).
"""

import email.utils
import json
import math
import re
import time

from .. import errors
from .base import ItemError
from .exceptions import (
    CrmAdapterError,
    CrmAuthError,
    CrmConflictError,
    CrmNotFoundError,
    CrmPermissionError,
    CrmRateLimitError,
    CrmServerError,
    CrmValidationError,
)

# HubSpot error categories mapped to the engine's error categories.
HUBSPOT_CATEGORIES = {
    "VALIDATION_ERROR": errors.VALIDATION,
    "BAD_REQUEST": errors.VALIDATION,
    "OBJECT_NOT_FOUND": errors.NOT_FOUND,
    "CONFLICT": errors.CONFLICT,
    "OBJECT_ALREADY_EXISTS": errors.DUPLICATE,
    "RATE_LIMITS": errors.RATE_LIMIT,
    "MISSING_SCOPES": errors.PERMISSION,
    "INVALID_AUTHENTICATION": errors.AUTH,
}

# Keys of an error's context that name the scopes the request needed.
_SCOPE_CONTEXT_KEYS = ("requiredGranularScopes", "requiredScopes", "missingScopes")

# HubSpot names the record that already has a unique value this way, for
# example "Contact already exists. Existing ID: 10000000123".
_EXISTING_ID = re.compile(r"Existing ID:\s*(\d+)")

# Prefix of HubSpot's message for invalid property values. A JSON list of
# PropertyValidationResult objects (``name``, ``error``, ``message``) follows.
_INVALID_VALUES_PREFIX = "Property values were not valid:"

# HubSpot's codes for a property the portal lacks and for a read-only one.
_PROPERTY_MISSING = "PROPERTY_DOESNT_EXIST"
_READ_ONLY_VALUE = "READ_ONLY_VALUE"


def decode_error_body(response):
    """Return the JSON error body of a response as a dict, or {} when there is none."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def parse_retry_after(headers, now=None):
    """Return the wait in seconds that a 429 or 5xx response requests, or None.

    ``Retry-After`` may be seconds or an HTTP date. Without it, a response whose
    ``X-HubSpot-RateLimit-Remaining`` is 0 yields one rate window
    (``X-HubSpot-RateLimit-Interval-Milliseconds``), the longest time until the
    rolling window frees a slot.
    """
    value = headers.get("Retry-After")
    if value:
        seconds = _parse_retry_after_value(value.strip(), now)
        if seconds is not None:
            return seconds

    remaining = headers.get("X-HubSpot-RateLimit-Remaining")
    interval = headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
    if remaining == "0" and interval and interval.isdigit():
        return int(interval) / 1000
    return None


def _parse_retry_after_value(value, now):
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None:
        return max(0.0, seconds) if math.isfinite(seconds) else None

    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    return max(0.0, moment.timestamp() - now)


def error_from_response(response, request_label):
    """Return the adapter error for a non-2xx HubSpot response.

    ``request_label`` names the call in messages, such as ``GET /crm/v3/...``.
    """
    status = response.status_code
    body = decode_error_body(response)
    crm_message = str(body.get("message") or "").strip()

    if status == 401:
        return CrmAuthError(
            "The token is not accepted (HTTP 401): check the private app access token."
        )
    if status == 403:
        return _permission_error(body, request_label)
    if status == 404:
        return _with_crm_text(
            CrmNotFoundError, f"Not found (HTTP 404) on {request_label}", crm_message
        )
    if status == 409:
        return _conflict_error(crm_message, request_label)
    if status == 429:
        return _rate_limit_error(response, body, request_label)
    if status in (400, 422):
        return _validation_error(status, body, crm_message, request_label)
    if status == 423 or status >= 500:
        return CrmServerError(
            f"The CRM returned a server error (HTTP {status}) on {request_label}: "
            "retry later.",
            status=status,
            retry_after=parse_retry_after(response.headers),
        )
    return _with_crm_text(
        CrmAdapterError,
        f"Unexpected response (HTTP {status}) on {request_label}",
        crm_message,
        status=status,
    )


def _with_crm_text(error_class, summary, crm_message, **kwargs):
    """Build an error whose message ends with the CRM's text, unlike its log message."""
    message = f"{summary}: {crm_message}" if crm_message else f"{summary}."
    return error_class(message, log_message=f"{summary}.", **kwargs)


def _permission_error(body, request_label):
    scopes = required_scopes(body)
    if scopes:
        message = f"Missing scope {', '.join(scopes)}: add it to the private app."
    else:
        message = (
            f"Permission denied (HTTP 403) on {request_label}: check the scopes "
            "of the private app."
        )
    return CrmPermissionError(message, missing_scopes=scopes)


def required_scopes(body):
    """Return the scopes a 403 body names as required, in order, without repeats."""
    scopes = []
    for detail in body.get("errors") or []:
        context = detail.get("context") if isinstance(detail, dict) else None
        for key in _SCOPE_CONTEXT_KEYS:
            values = context.get(key) if isinstance(context, dict) else None
            scopes += [str(value) for value in values or [] if str(value) not in scopes]
    return scopes


def _conflict_error(crm_message, request_label):
    match = _EXISTING_ID.search(crm_message)
    existing_id = match.group(1) if match else None
    if existing_id:
        summary = (
            "A record with the same unique value already exists in the CRM "
            f"(id {existing_id})"
        )
    else:
        summary = (
            f"The request conflicts with the CRM's data (HTTP 409) on {request_label}"
        )
    return _with_crm_text(
        CrmConflictError, summary, crm_message, existing_id=existing_id
    )


def _rate_limit_error(response, body, request_label):
    retry_after = parse_retry_after(response.headers)
    policy = body.get("policyName")
    summary = "The CRM's rate limit was reached (HTTP 429"
    summary += f", policy {policy})" if policy else ")"
    summary += f" on {request_label}: "
    if retry_after is None:
        summary += "retry later."
    else:
        summary += f"retry in {retry_after:g} s."
    return CrmRateLimitError(summary, retry_after=retry_after, policy=policy)


def _validation_error(status, body, crm_message, request_label):
    names = invalid_property_names(body)
    summary = f"The CRM rejected the data of {request_label} (HTTP {status})"
    named_summary = summary
    if names:
        named_summary += f", invalid properties: {', '.join(names)}"

    sentences = property_error_sentences(body)
    if not sentences:
        return _with_crm_text(
            CrmValidationError,
            named_summary,
            crm_message,
            status=status,
            property_names=names,
        )
    # The sentences may quote the rejected values, so only names are logged.
    return CrmValidationError(
        f"{summary}: {' '.join(sentences)}",
        log_message=f"{named_summary}.",
        status=status,
        property_names=names,
    )


def invalid_property_names(body):
    """Return the property names an error body marks as invalid, without repeats."""
    names = []
    for detail in body.get("errors") or []:
        context = detail.get("context") if isinstance(detail, dict) else None
        values = context.get("propertyName") if isinstance(context, dict) else None
        names += [str(value) for value in values or [] if str(value) not in names]

    for result in _validation_results(body):
        name = result.get("name")
        if name and name not in names:
            names.append(str(name))
    return names


def property_error_sentences(body):
    """Return one plain sentence per invalid property that an error body names.

    The sentences come from the PropertyValidationResult list in HubSpot's
    message, else from the ``errors`` details that name a ``propertyName``.
    Both carry HubSpot's ``message``, which may quote the rejected value.
    """
    problems = [
        (str(result["name"]), result.get("error"), result.get("message"))
        for result in _validation_results(body)
        if result.get("name")
    ]
    if not problems:
        problems = _detail_problems(body)

    sentences = []
    for name, code, message in problems:
        sentence = _property_sentence(name, code, message)
        if sentence not in sentences:
            sentences.append(sentence)
    return sentences


def _validation_results(body):
    """Return the PropertyValidationResult dicts embedded in HubSpot's message."""
    message = str(body.get("message") or "")
    if not message.startswith(_INVALID_VALUES_PREFIX):
        return []
    try:
        results = json.loads(message[len(_INVALID_VALUES_PREFIX) :])
    except ValueError:
        return []
    if not isinstance(results, list):
        return []
    return [result for result in results if isinstance(result, dict)]


def _detail_problems(body):
    problems = []
    for detail in body.get("errors") or []:
        context = detail.get("context") if isinstance(detail, dict) else None
        names = context.get("propertyName") if isinstance(context, dict) else None
        for name in names or []:
            problems.append((str(name), detail.get("code"), detail.get("message")))
    return problems


def _property_sentence(name, code, message):
    """Return a sentence such as 'Property "email" is not valid: <reason>.'."""
    if code == _PROPERTY_MISSING:
        return f'Property "{name}" does not exist.'
    if code == _READ_ONLY_VALUE:
        return f'Property "{name}" is read-only, so its value cannot be set.'

    reason = str(message or "").strip().rstrip(".")
    if not reason:
        return f'Property "{name}" is not valid ({code or "no reason given"}).'
    if f'"{name}"' in reason:
        return f"{reason}."
    return f'Property "{name}" is not valid: {reason}.'


def item_error(key, entry):
    """Return the ItemError for one input named by a 207 response's StandardError."""
    hubspot_category = str(entry.get("category") or "")
    crm_message = str(entry.get("message") or "").strip()
    category = HUBSPOT_CATEGORIES.get(hubspot_category, errors.INTERNAL)

    match = _EXISTING_ID.search(crm_message)
    existing_id = match.group(1) if match else None
    if category == errors.CONFLICT and existing_id:
        category = errors.DUPLICATE
    sentences = property_error_sentences(entry)
    if sentences:
        crm_message = " ".join(sentences)
    elif not crm_message:
        crm_message = (
            f"The CRM rejected this input ({hubspot_category or 'no category'})."
        )
    return ItemError(
        index_or_id=key,
        category=category,
        message=crm_message,
        retryable=category in errors.RETRYABLE_CATEGORIES,
        property_names=tuple(invalid_property_names(entry)),
        existing_id=existing_id,
    )


def keys_of_error_entry(entry):
    """Return the input references a StandardError names: trace ids, then ids."""
    context = entry.get("context")
    if not isinstance(context, dict):
        return [], []
    trace_ids = [str(value) for value in context.get("objectWriteTraceId") or []]
    ids = [str(value) for value in (context.get("ids") or context.get("id") or [])]
    return trace_ids, ids
