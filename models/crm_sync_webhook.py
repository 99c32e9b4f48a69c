import logging

from odoo import api, models

from ..sync_core.webhook_events import idempotency_key

_logger = logging.getLogger(__name__)

OPERATION_IMPORT = "import"
OPERATION_MERGE = "merge"


class CrmSyncWebhook(models.AbstractModel):
    """Receiver of verified CRM webhook batches: one queued job per new event."""

    _name = "crm.sync.webhook"
    _description = "CRM Sync Webhook Receiver"

    @api.model
    def _store_events(self, backend, events):
        """Queue one job per handled event that was not stored before.

        ``events`` are parsed :class:`WebhookEvent` objects. An event whose key
        ``webhook:<backend>:<eventId>`` is already stored, in any state, is
        acknowledged without a second job. The jobs go in with one INSERT;
        under REPEATABLE READ a race with another worker storing the same
        event raises a serialisation failure, and Odoo's HTTP layer retries
        the request in a new transaction, which then finds the stored job.
        Returns the counts of received, stored, duplicate and ignored events.

        Events may arrive out of order. No event's data is applied as such:
        an import re-reads the current CRM record and a deletion first checks
        that the record is gone, so an older event never brings back older data.
        """
        backend.ensure_one()
        candidates = []
        for event in events:
            route = self._get_event_route(backend, event)
            if route:
                candidates.append((event, *route))

        vals_list = [
            self._prepare_event_job_vals(backend, event, object_type, operation)
            for event, object_type, operation in candidates
        ]

        jobs = self.env["crm.sync.job"]
        if vals_list:
            jobs = jobs.sudo()._enqueue_many(backend, vals_list, skip_existing=True)

        summary = {
            "received": len(events),
            "stored": len(jobs),
            "duplicates": len(vals_list) - len(jobs),
            "ignored": len(events) - len(vals_list),
        }
        _logger.info(
            "Webhook for backend %s: %s event(s) received, %s stored, %s already "
            "stored, %s ignored",
            backend.id,
            summary["received"],
            summary["stored"],
            summary["duplicates"],
            summary["ignored"],
        )
        return summary

    @api.model
    def _get_event_route(self, backend, event):
        """Return ``(object_type, operation)`` of an event, or None to ignore it.

        Events of object types or kinds the engine does not sync are dropped,
        and so are events of an object type the backend does not sync. An
        import is dropped when the backend sends that object type to the CRM
        only, but deletions and merges are still queued, because they change
        which CRM record a binding points to.
        """
        route = event.job_route()
        if route is None:
            _logger.debug(
                "Backend %s: webhook event %s of type %s is not synced; ignored",
                backend.id,
                event.event_id,
                event.subscription_type,
            )
            return None

        object_type, operation = route
        direction = dict(backend._get_sync_objects()).get(object_type)
        if direction is None or (
            operation == OPERATION_IMPORT and direction == "export"
        ):
            _logger.debug(
                "Backend %s: webhook event %s ignored, %s is not imported from the CRM",
                backend.id,
                event.event_id,
                object_type,
            )
            return None
        return route

    @api.model
    def _prepare_event_job_vals(self, backend, event, object_type, operation):
        crm_id = event.object_id
        if operation == OPERATION_MERGE:
            crm_id = event.merge_ids()[0]
        return {
            "object_type": object_type,
            "operation": operation,
            "crm_id": crm_id,
            "payload": {"events": [event.payload]},
            "idempotency_key": idempotency_key(backend.id, event.event_id),
            "source": "webhook",
        }
