"""Errors in the shape HubSpot's CRM API returns them.

A single error body is ``{"status": "error", "message", "correlationId",
"category", ...}``; an error inside a batch response is a StandardError
(``status``, ``category``, ``message``, ``context``, ``links``, ``errors``).
"""

import json
import uuid


def correlation_id():
    return str(uuid.uuid4())


def error_body(message, category, **extra):
    """Return a HubSpot error body; ``extra`` adds fields such as ``errors``."""
    body = {
        "status": "error",
        "message": message,
        "correlationId": correlation_id(),
        "category": category,
    }
    body.update(extra)
    return body


class ApiError(Exception):
    """An error response: raised by the store and the handlers, sent by the server."""

    def __init__(self, status, message, category, headers=None, **extra):
        super().__init__(message)
        self.status = status
        self.message = message
        self.category = category
        self.headers = headers or {}
        self.extra = extra

    def body(self):
        return error_body(self.message, self.category, **self.extra)

    def standard_error(self, context=None):
        """Return this error as a StandardError entry of a batch response."""
        entry = {
            "status": "error",
            "category": self.category,
            "message": self.message,
            "context": context or {},
            "links": {},
            "errors": self.extra.get("errors", []),
        }
        if "subCategory" in self.extra:
            entry["subCategory"] = self.extra["subCategory"]
        return entry


def not_found(object_type, object_id):
    return ApiError(
        404,
        f"Object not found. objectId: {object_id}, objectType: {object_type}",
        "OBJECT_NOT_FOUND",
        context={"id": [str(object_id)]},
    )


def missing_scopes(scopes):
    """Return the 403 for a call that needs one of ``scopes`` and has none of them."""
    return ApiError(
        403,
        "This app hasn't been granted all required scopes to make this call. "
        f"Missing scope: {' or '.join(scopes)}.",
        "MISSING_SCOPES",
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": list(scopes)},
            }
        ],
    )


def validation_error(message, **extra):
    return ApiError(400, message, "VALIDATION_ERROR", **extra)


class PropertyError(ValueError):
    """One invalid property value, reported like HubSpot's PropertyValidationResult."""

    def __init__(self, name, code, message):
        super().__init__(message)
        self.name = name
        self.code = code
        self.message = message

    def as_result(self):
        return {
            "isValid": False,
            "message": self.message,
            "error": self.code,
            "name": self.name,
        }


def property_values_invalid(property_errors):
    """Return the 400 HubSpot sends when one or more property values are invalid."""
    results = [error.as_result() for error in property_errors]
    return validation_error(
        "Property values were not valid: " + json.dumps(results, ensure_ascii=False),
        errors=[
            {
                "message": error.message,
                "code": error.code,
                "context": {"propertyName": [error.name]},
            }
            for error in property_errors
        ],
    )
