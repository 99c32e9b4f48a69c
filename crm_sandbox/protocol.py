"""Request and response objects shared by the CRM API and the control API."""

import json
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from .errors import ApiError, validation_error


@dataclass
class Request:
    """One parsed HTTP request."""

    method: str
    path: str
    query: dict
    headers: dict
    body: bytes = b""
    base_url: str = ""
    # Set by the server after authentication.
    token: object = None

    @classmethod
    def build(cls, method, target, headers, body, base_url):
        path, _, query_string = target.partition("?")
        return cls(
            method=method,
            path=path.rstrip("/") or "/",
            query=parse_qs(query_string, keep_blank_values=True),
            headers={name.lower(): value for name, value in headers.items()},
            body=body,
            base_url=base_url,
        )

    def json(self, default=None):
        """Return the parsed JSON body, ``default`` if empty, or raise a 400."""
        if not self.body.strip():
            return default
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise validation_error(f"Invalid input JSON: {error}") from None

    def json_object(self):
        body = self.json(default={})
        if not isinstance(body, dict):
            raise validation_error("The request body must be a JSON object.")
        return body

    def param(self, name, default=None):
        values = self.query.get(name)
        return values[0] if values else default

    def param_list(self, name):
        """Return a list query parameter, given repeated or comma-separated."""
        names = []
        for value in self.query.get(name, []):
            names += [part.strip() for part in value.split(",") if part.strip()]
        return names

    def param_bool(self, name):
        return str(self.param(name, "false")).lower() == "true"

    def param_int(self, name, default):
        value = self.param(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except ValueError:
            raise validation_error(
                f"{name} must be an integer, got {value!r}."
            ) from None


@dataclass
class Response:
    """One response: a JSON body (or none) with status and headers."""

    status: int = 200
    body: object = None
    headers: dict = field(default_factory=dict)
    # One of faults.MALFORMED_KINDS to break the body on purpose.
    malformed: str | None = None
    content_type: str = "application/json;charset=utf-8"
    raw: bytes | None = None

    def encoded(self):
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        return json.dumps(self.body, ensure_ascii=False).encode()

    @classmethod
    def from_error(cls, error):
        return cls(error.status, error.body(), dict(error.headers))


class Router:
    """Maps a method and a path pattern (``/crm/v3/objects/{type}``) to a handler."""

    def __init__(self):
        self._routes = []

    def add(self, method, pattern, handler):
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        self._routes.append((method, re.compile(f"^{regex}$"), handler))

    def resolve(self, method, path):
        """Return (handler, path parameters); raise 404 or 405 when nothing matches."""
        path_matched = False
        for route_method, regex, handler in self._routes:
            match = regex.match(path)
            if not match:
                continue
            path_matched = True
            if route_method == method:
                return handler, match.groupdict()
        if path_matched:
            raise ApiError(
                405, f"Method {method} is not allowed on {path}.", "VALIDATION_ERROR"
            )
        raise ApiError(404, f"No endpoint at {method} {path}.", "OBJECT_NOT_FOUND")
