"""HTTP transport of the HubSpot adapter: session, throttle, timeouts, error mapping.

Every call goes through :meth:`HubSpotTransport.request`, which waits for the
client-side throttle, sends with a timeout, turns transport failures and
non-2xx responses into adapter errors, and decodes the JSON body.

Rate limits: the throttle keeps the adapter under ``rate_limit`` requests per
``rate_window`` seconds, and search calls also under HubSpot's separate search
limit. If HubSpot still responds with 429 and a Retry-After of at most
:data:`INLINE_RETRY_MAX_WAIT` seconds, the request is sent once more after that
wait. Otherwise, or if the second attempt is also rejected, CrmRateLimitError
is raised with ``retry_after`` so that the job queue reschedules the job
instead of holding a worker.
"""

import contextlib
import functools
import logging
import time
from urllib.parse import quote

import requests

from .base import check_base_url
from .exceptions import CrmMalformedResponseError, CrmNetworkError, CrmTimeoutError
from .hubspot_errors import error_from_response
from .throttle import shared_throttle

_logger = logging.getLogger(__name__)

# Longest Retry-After, in seconds, that the transport waits out within a call
# before it retries a rate-limited request once. Longer waits go to the queue.
INLINE_RETRY_MAX_WAIT = 2.0

# HubSpot limits CRM search to 4 requests per second per token (HubSpot
# developer changelog, "Burst limits are increasing for API key authenticated
# calls"), on top of the general limit.
SEARCH_RATE_LIMIT = 4
SEARCH_RATE_WINDOW = 1.0  # seconds

USER_AGENT = "external_crm_sync (Odoo)"


def path_segment(value):
    """Quote one URL path segment, such as a record id, so it cannot add a path."""
    return quote(str(value), safe="")


class HubSpotTransport:
    """HTTP client for one HubSpot account (base URL and private app token).

    ``timeout`` is in seconds and applies to connecting and to each read.
    ``allow_remote`` lets the base URL name a host other than this machine;
    without it, only 127.0.0.1, localhost and ::1 are accepted.
    """

    def __init__(
        self,
        base_url,
        access_token,
        *,
        timeout=20.0,
        rate_limit=100,
        rate_window=10.0,
        allow_remote=False,
    ):
        if not access_token:
            raise ValueError("The access token is empty: enter the private app token.")
        if float(timeout) <= 0:
            raise ValueError(
                f"The request timeout must be positive seconds, got {timeout}."
            )
        self.base_url = check_base_url(base_url, allow_remote=allow_remote)
        self.timeout = float(timeout)
        self.throttle = shared_throttle(
            self.base_url, access_token, rate_limit, rate_window
        )
        self.search_throttle = shared_throttle(
            self.base_url, access_token, SEARCH_RATE_LIMIT, SEARCH_RATE_WINDOW, "search"
        )
        self.session = self._build_session(access_token, trust_environment=allow_remote)

    def __repr__(self):
        return f"<{type(self).__name__} {self.base_url}>"

    @staticmethod
    def _build_session(access_token, trust_environment):
        session = requests.Session()
        # Proxy variables and ~/.netrc could redirect a loopback call or replace
        # the Authorization header, so they only apply when remote hosts are allowed.
        session.trust_env = trust_environment
        session.headers.update(
            {
                "Authorization": f"Bearer {access_token}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            }
        )
        return session

    def close(self):
        self.session.close()

    def request(self, method, path, *, params=None, json_body=None, search=False):
        """Send one API call and return its decoded JSON body (None for 204).

        Raises an adapter error from ``exceptions`` for every failure.
        """
        label = f"{method} {path}"
        send = functools.partial(self._send, method, path, params, json_body, search)
        response = send()
        if response.status_code == 429:
            response = self._retry_rate_limited(response, send, label)
        if not 200 <= response.status_code < 300:
            raise error_from_response(response, label)
        return self._decode(response, label)

    @staticmethod
    def _retry_rate_limited(response, send, label):
        """Wait out a short Retry-After and send again once, else return the 429."""
        error = error_from_response(response, label)
        wait = error.retry_after
        if wait is None or wait > INLINE_RETRY_MAX_WAIT:
            return response
        _logger.info(
            "HubSpot rate limit on %s (policy %s): retrying once after %.1f s",
            label,
            error.policy,
            wait,
        )
        time.sleep(wait)
        return send()

    def _send(self, method, path, params, json_body, search):
        label = f"{method} {path}"
        with contextlib.ExitStack() as slots:
            slots.enter_context(self.throttle.slot())
            if search:
                slots.enter_context(self.search_throttle.slot())
            started = time.monotonic()
            response = self._send_unthrottled(method, path, params, json_body, label)

        _logger.debug(
            "HubSpot %s: HTTP %s in %.0f ms",
            label,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return response

    def _send_unthrottled(self, method, path, params, json_body, label):
        try:
            return self.session.request(
                method,
                self.base_url + path,
                params=params,
                json=json_body,
                timeout=self.timeout,
            )
        except requests.Timeout as error:
            raise CrmTimeoutError(
                f"The CRM at {self.base_url} timed out: no response to {label} within "
                f"{self.timeout:g} s."
            ) from error
        except (
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ) as error:
            raise CrmMalformedResponseError(
                f"The CRM at {self.base_url} broke off its response to {label}: "
                "retry later."
            ) from error
        except requests.RequestException as error:
            raise CrmNetworkError(
                f"Could not connect to the CRM at {self.base_url} for {label} "
                f"({type(error).__name__}): check the API base URL and that the "
                "CRM is reachable."
            ) from error

    @staticmethod
    def _decode(response, label):
        if response.status_code == 204 or not response.content:
            return None
        try:
            body = response.json()
        except ValueError:
            content_type = response.headers.get("Content-Type", "no content type")
            raise CrmMalformedResponseError(
                f"The CRM responded to {label} with HTTP {response.status_code} "
                f"but a body that is not valid JSON ({content_type}, "
                f"{len(response.content)} bytes): retry later, and check the API "
                "base URL if it persists.",
                status=response.status_code,
            ) from None
        if not isinstance(body, dict):
            raise CrmMalformedResponseError(
                f"The CRM responded to {label} with JSON that is not an object.",
                status=response.status_code,
            )
        return body
