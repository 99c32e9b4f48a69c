"""Pull: the CRM records changed since the last run, queued as import jobs.

``_pull(backend, object_type)`` lists every record on the first run and then
reads only the records changed since the stored cursor
(``sync_core.cursor``). Each record becomes one import job whose payload
contains its allow-listed properties, so the job needs no second read. The
cursor is saved after each page, so an interrupted pull goes on where it
stopped.
"""

import logging

from odoo import api, fields, models

from ..sync_core import cursor as pull_cursor
from ..sync_core.errors import SyncError
from .crm_sync_importer import IMPORT_OBJECT_TYPES

_logger = logging.getLogger(__name__)

# Records listed by a full first sync before their jobs are queued.
PULL_PAGE_SIZE = 100


class CrmSyncBatchImporter(models.AbstractModel):
    """Pull of changed CRM companies and contacts into import jobs."""

    _name = "crm.sync.batch.importer"
    _inherit = "crm.sync.synchronizer"
    _description = "CRM Sync Batch Importer"

    @api.model
    def _cron_pull(self, backends):
        """Pull companies, then contacts, for each backend that imports them."""
        for backend in backends:
            for object_type in self._pull_object_types(backend):
                try:
                    backend._pull(object_type)
                except SyncError as error:
                    _logger.warning(
                        "Pull of %s from backend %s failed (%s): %s",
                        object_type,
                        backend.id,
                        error.category,
                        getattr(error, "log_message", error.category),
                    )

    @api.model
    def _pull_object_types(self, backend):
        directions = dict(backend._get_sync_objects())
        return [
            object_type
            for object_type in IMPORT_OBJECT_TYPES
            if directions.get(object_type) in ("both", "import")
        ]

    @api.model
    def _pull(self, backend, object_type, now=None):
        """Queue import jobs for the records changed since the last pull.

        Without a stored cursor this is the full first sync: every record is
        listed. ``now`` (UTC) bounds the search window; tests pass a time
        ahead of the clock to include changes made a moment ago. Returns the
        number of jobs queued.
        """
        rules = self._get_rules(backend, object_type)
        properties = self._crm_properties(rules)
        stored = (backend.pull_cursors or {}).get(object_type)
        with backend._get_adapter() as adapter:
            if stored:
                queued = self._pull_changes(
                    backend, object_type, adapter, properties, stored, now
                )
            else:
                queued = self._pull_everything(
                    backend, object_type, adapter, properties
                )
        _logger.info(
            "Pull of %s from backend %s queued %s import jobs",
            object_type,
            backend.id,
            queued,
        )
        return queued

    @api.model
    def _pull_everything(self, backend, object_type, adapter, properties):
        started_at = fields.Datetime.now()
        queued = 0
        seen = {}
        page = []
        for record in adapter.iter_all(object_type, properties):
            page.append(record)
            if record.updated_at:
                seen[record.id] = pull_cursor.to_epoch_ms(record.updated_at)
            if len(page) >= PULL_PAGE_SIZE:
                queued += self._queue_imports(backend, object_type, page, properties)
                page = []
        queued += self._queue_imports(backend, object_type, page, properties)

        # Records changed while the listing ran are newer than its start, so
        # the next incremental pull reads them; the ones listed are "seen".
        newest = max(seen.values(), default=None)
        since = pull_cursor.from_epoch_ms(newest) if newest else started_at
        cursor = pull_cursor.PullCursor(since=since, seen=seen)
        self._save_cursor(backend, object_type, cursor)
        return queued

    @api.model
    def _pull_changes(self, backend, object_type, adapter, properties, stored, now):
        cursor = pull_cursor.PullCursor.from_json(stored, record_key=_record_key)
        counter = {"queued": 0}

        def search(window, limit):
            if isinstance(window, pull_cursor.TieWindow):
                return adapter.search_modified_at(
                    object_type,
                    window.modified_at,
                    window.after_id,
                    properties,
                    limit=limit,
                ).records
            return adapter.search_modified(
                object_type, window.gte, window.lte, properties, limit=limit
            ).records

        def handle(records):
            counter["queued"] += self._queue_imports(
                backend, object_type, records, properties
            )

        def checkpoint(current):
            self._save_cursor(backend, object_type, current)

        pull_cursor.run_pull(
            cursor,
            now or fields.Datetime.now(),
            search,
            handle,
            page_size=min(backend.batch_size, pull_cursor.DEFAULT_PAGE_SIZE),
            checkpoint=checkpoint,
        )
        return counter["queued"]

    @api.model
    def _save_cursor(self, backend, object_type, cursor):
        cursors = dict(backend.pull_cursors or {})
        cursors[object_type] = cursor.to_dict()
        backend.sudo().write({"pull_cursors": cursors})

    @api.model
    def _queue_imports(self, backend, object_type, records, properties):
        """Queue one import job per CRM record, with its allow-listed properties.

        A record whose earlier import is still an open exception and that has
        not changed since is left out, so a pull does not stack identical
        exceptions. Returns the number of jobs queued.
        """
        records = self._drop_unchanged_exceptions(backend, object_type, records)
        if not records:
            return 0
        allowed = set(properties)
        vals_list = [
            {
                "object_type": object_type,
                "operation": "import",
                "crm_id": record.id,
                "payload": {
                    "properties": {
                        name: value
                        for name, value in record.properties.items()
                        if name in allowed
                    },
                    "updated_at": _isoformat(record.updated_at),
                },
                "source": "cron",
            }
            for record in records
        ]
        jobs = self.env["crm.sync.job"].sudo()._enqueue_many(backend, vals_list)
        return len(jobs)

    @api.model
    def _drop_unchanged_exceptions(self, backend, object_type, records):
        if not records:
            return records
        open_jobs = (
            self.env["crm.sync.job"]
            .sudo()
            .search(
                [
                    ("backend_id", "=", backend.id),
                    ("object_type", "=", object_type),
                    ("operation", "=", "import"),
                    ("state", "=", "exception"),
                    ("crm_id", "in", [record.id for record in records]),
                ]
            )
        )
        parked = {
            (job.crm_id, (job.payload or {}).get("updated_at"))
            for job in open_jobs
            if isinstance(job.payload, dict)
        }
        return [
            record
            for record in records
            if (record.id, _isoformat(record.updated_at)) not in parked
        ]


def _record_key(record):
    return record.updated_at, record.id


def _isoformat(moment):
    return moment.isoformat() if moment else None
