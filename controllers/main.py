"""Inbound CRM webhooks: one signed POST route per backend.

HubSpot posts batches of events to ``/crm_sync/webhook/<backend id>``. The
route checks the size, the backend and the v3 signature, stores each new event
as a queued sync job and returns 200 once the jobs are committed. It never
calls the CRM: the queue does the work afterwards.

Responses carry no detail that helps a forger: 401 for an unknown or archived
backend and for a bad signature alike, with an empty body.

Deployment: the signature covers the full URL HubSpot posted to, scheme and
host included. Behind a reverse proxy, start Odoo with ``--proxy-mode`` and let
the proxy send ``X-Forwarded-Host`` and ``X-Forwarded-Proto``, so Odoo rebuilds
the public URL instead of its internal one. The route needs a database without
a session cookie, so Odoo must resolve exactly one database for the webhook's
host name (``--database`` or ``--db-filter``).
"""

import logging

from odoo import http
from odoo.http import request

from ..models.crm_sync_backend import WEBHOOK_PATH
from ..sync_core.errors import SignatureError
from ..sync_core.signature import verify_v3
from ..sync_core.webhook_events import MAX_BODY_BYTES, MalformedBatchError, parse_batch

_logger = logging.getLogger(__name__)

WEBHOOK_ROUTE = f"{WEBHOOK_PATH}/<int:backend_id>"
SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"


class CrmSyncWebhookController(http.Controller):
    @http.route(
        WEBHOOK_ROUTE,
        type="http",
        auth="public",
        methods=["POST"],
        csrf=False,
        save_session=False,
    )
    def receive_webhook(self, backend_id, **_params):
        """Verify one webhook batch and queue its events as sync jobs."""
        httprequest = request.httprequest

        size_error = self._check_declared_size(backend_id, httprequest)
        if size_error:
            return size_error
        body = httprequest.get_data(cache=True)
        if len(body) > MAX_BODY_BYTES:
            _logger.warning(
                "Webhook for backend %s rejected: body of %s bytes exceeds %s",
                backend_id,
                len(body),
                MAX_BODY_BYTES,
            )
            return self._response(413)

        backend = self._get_backend(backend_id)
        if not backend or not self._signature_valid(backend, httprequest, body):
            return self._response(401)

        try:
            events = parse_batch(body)
        except MalformedBatchError as error:
            # The message names the event position and field, never a value.
            _logger.warning("Webhook for backend %s rejected: %s", backend_id, error)
            return self._response(400, str(error))

        summary = request.env["crm.sync.webhook"].sudo()._store_events(backend, events)
        return request.make_json_response(summary)

    def _check_declared_size(self, backend_id, httprequest):
        """Return an error response unless Content-Length is present and small enough.

        Werkzeug 2.2, which Odoo 18 runs on, reads a chunked body without any
        size limit, so a request must declare its length.
        NOTE: this assumes HubSpot sends Content-Length, as the sandbox does; it
        was not checked against live HubSpot requests.
        """
        if httprequest.headers.get("Transfer-Encoding"):
            _logger.warning("Webhook for backend %s rejected: chunked body", backend_id)
            return self._response(411)
        length = httprequest.content_length
        if length is None:
            _logger.warning(
                "Webhook for backend %s rejected: no Content-Length", backend_id
            )
            return self._response(411)
        if length > MAX_BODY_BYTES:
            _logger.warning(
                "Webhook for backend %s rejected: Content-Length %s exceeds %s",
                backend_id,
                length,
                MAX_BODY_BYTES,
            )
            return self._response(413)
        return None

    def _get_backend(self, backend_id):
        """Return the active backend with this id, or an empty recordset."""
        backend = request.env["crm.sync.backend"].sudo().browse(backend_id).exists()
        if not backend or not backend.active:
            _logger.warning(
                "Webhook rejected: backend %s does not exist or is archived", backend_id
            )
            return backend.browse()
        return backend

    def _signature_valid(self, backend, httprequest, body):
        """Check the v3 signature and timestamp with the backend's webhook secret."""
        try:
            verify_v3(
                backend.webhook_secret,
                httprequest.method,
                httprequest.url,
                body,
                httprequest.headers.get(TIMESTAMP_HEADER),
                httprequest.headers.get(SIGNATURE_HEADER),
            )
        except SignatureError as error:
            # SignatureError messages name the failed check, never the secret.
            _logger.warning("Webhook for backend %s rejected: %s", backend.id, error)
            return False
        return True

    def _response(self, status, message=""):
        return request.make_response(
            message,
            headers=[("Content-Type", "text/plain; charset=utf-8")],
            status=status,
        )
