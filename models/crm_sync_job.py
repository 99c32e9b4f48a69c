"""Sync jobs: the queue of operations between Odoo and the CRM.

What the queue does
-------------------
Every import, export, delete or merge is one ``crm.sync.job``. The engine
queues jobs with :meth:`CrmSyncJob._enqueue` (or ``_enqueue_many``); the
queue cron runs them through a handler model chosen by operation
(:data:`JOB_HANDLERS`), each handler implementing ``_run_job(job)``.

How it works
------------
* Coalescing: at most one job per idempotency key waits at a time (states
  ``pending`` and ``failed``), enforced by a partial unique index. A second
  change to the same record merges its payload into the waiting job, which
  keeps its creation date. Running jobs are left out of that index, so a
  change made while a push runs queues a follow-up job instead of being
  merged into a payload that is already on its way. The claim never starts
  a job whose key already has a running job, so one record is never pushed
  twice at the same time.
* Claiming: a worker claims due pending jobs with ``SELECT ... FOR UPDATE
  SKIP LOCKED``, marks them ``running`` and commits before the handler
  starts. Several workers or servers on one database never run the same job.
* Running: the handler runs inside a savepoint. Outside tests, every job is
  committed on its own, so one failure never undoes another job's work. The
  outcome is written after the savepoint rollback, so failure details
  survive the rollback of the failed work. So does a CRM id the handler
  stored with ``_store_crm_id``: a retry never creates a second CRM record.
* Outcomes: success makes the job ``done`` and resolves older exceptions of
  the same record. A retryable ``SyncError`` makes it ``failed`` with a
  jittered exponential backoff (at least the CRM's Retry-After) until
  ``max_attempts``, then ``exception``. Any other error makes it
  ``exception`` at once. PostgreSQL serialisation failures, lock timeouts and
  deadlocks put the job back to ``pending`` after a short jittered delay and
  do not count as an attempt.
* Crons: process the queue (also triggered right after an enqueue), move due
  ``failed`` jobs back to ``pending``, requeue jobs left ``running`` by a
  crashed worker, and delete old ``done`` and ``ignored`` jobs in chunks.

Caveats
-------
* In tests (the test runner's thread) nothing commits: jobs run in
  savepoints of the test transaction.
* Under Odoo's REPEATABLE READ isolation, an enqueue that races another
  transaction inserting the same key raises a real serialisation failure.
  Odoo retries the HTTP request (and the queue retries a job) in a new
  transaction, which then merges into the other job.
"""

import json
import logging
import sys
import threading
import time
import traceback
from datetime import timedelta

from psycopg2 import errors as pg_errors
from psycopg2.extras import Json

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.osv import expression
from odoo.tools import SQL

from ..sync_core import backoff
from ..sync_core.errors import ERROR_CATEGORIES, INTERNAL, VALIDATION, SyncError
from ..sync_core.job_payload import merge_payloads
from .crm_sync_backend import OBJECT_TYPE_SELECTION, OBJECT_TYPES

_logger = logging.getLogger(__name__)

STATE_PENDING = "pending"
STATE_RUNNING = "running"
STATE_DONE = "done"
STATE_FAILED = "failed"
STATE_EXCEPTION = "exception"
STATE_IGNORED = "ignored"
JOB_STATES = [
    (STATE_PENDING, "Pending"),
    (STATE_RUNNING, "Running"),
    (STATE_DONE, "Done"),
    (STATE_FAILED, "Failed, will retry"),
    (STATE_EXCEPTION, "Exception"),
    (STATE_IGNORED, "Ignored"),
]
# States of a job waiting for a worker; at most one job per key is in them.
WAITING_STATES = (STATE_PENDING, STATE_FAILED)
# States a user may send back to the queue, and states a user may ignore.
RETRY_STATES = (STATE_FAILED, STATE_EXCEPTION, STATE_IGNORED)
IGNORE_STATES = (STATE_PENDING, STATE_FAILED, STATE_EXCEPTION)

OPERATION_IMPORT = "import"
OPERATION_EXPORT = "export"
OPERATION_DELETE = "delete"
OPERATION_MERGE = "merge"
JOB_OPERATIONS = [
    (OPERATION_IMPORT, "Import"),
    (OPERATION_EXPORT, "Export"),
    (OPERATION_DELETE, "Delete"),
    (OPERATION_MERGE, "Merge"),
]
# Handler model of each operation; each implements ``_run_job(job)`` and may
# implement ``_run_jobs(jobs)`` to run several jobs in one batch.
JOB_HANDLERS = {
    OPERATION_IMPORT: "crm.sync.importer",
    OPERATION_EXPORT: "crm.sync.exporter",
    OPERATION_DELETE: "crm.sync.deleter",
    OPERATION_MERGE: "crm.sync.merger",
}

EXCEPTION_KINDS = [
    ("error", "Error"),
    ("duplicate", "Possible duplicate"),
    ("conflict", "Conflict"),
    ("review", "Needs review"),
]
# Exception kinds that a person settles with the resolve wizard.
RESOLUTION_KINDS = ("duplicate", "conflict", "review")

JOB_SOURCES = [
    ("odoo", "Odoo change"),
    ("crm", "CRM pull"),
    ("webhook", "CRM webhook"),
    ("cron", "Scheduled action"),
    ("user", "User"),
]
SOURCE_WEBHOOK = "webhook"

DEFAULT_PRIORITY = 10  # lower runs first
DEFAULT_MAX_ATTEMPTS = backoff.MAX_ATTEMPTS

# Backoff of a job retried after a PostgreSQL concurrency error, in seconds.
CONCURRENCY_BASE_DELAY = 1.0
CONCURRENCY_MAX_DELAY = 60.0

# Seconds a job may stay running before the repair cron assumes its worker
# died and requeues it. It must exceed the longest job: a job pushes at most
# one CRM batch, which takes seconds, even at the backend's request timeout.
STALE_RUNNING_TIMEOUT = 900

QUEUE_RUN_MAX_JOBS = 500  # jobs per run of the queue cron
QUEUE_RUN_MAX_SECONDS = 120  # seconds per run of the queue cron

RETENTION_DAYS_PARAM = "external_crm_sync.job_retention_days"
DEFAULT_RETENTION_DAYS = 30  # days a done or ignored job is kept
RETENTION_CHUNK_SIZE = 1000  # jobs deleted per transaction
RETENTION_MAX_SECONDS = 300  # seconds per run of the cleanup cron

PROCESS_CRON_XMLID = "external_crm_sync.ir_cron_crm_sync_process_queue"

# PostgreSQL errors that mean "another transaction got in the way": the same
# work can succeed when it runs again in a new transaction.
CONCURRENCY_ERRORS = (
    pg_errors.SerializationFailure,
    pg_errors.LockNotAvailable,
    pg_errors.DeadlockDetected,
)

# Writes to jobs need this exact object in the context under this key. An RPC
# call cannot send a Python object, so only server code that imports this
# module can change a job. Users change jobs through the action methods.
_ENGINE_WRITE_KEY = "crm_sync_job_engine_write"
_ENGINE_WRITE_TOKEN = object()

# Context key of the _AttemptMemo given to handlers during a run.
_ATTEMPT_MEMO_KEY = "crm_sync_job_attempt_memo"

# precommit data key: the queue cron was triggered in this transaction.
_TRIGGERED_KEY = "crm_sync_job_queue_triggered"


class _AttemptMemo:
    """CRM ids that handlers stored during one run, kept outside the database.

    The values are written again after a savepoint rollback, so they survive
    the failure of a later step of the same attempt.
    """

    __slots__ = ("crm_ids",)

    def __init__(self):
        self.crm_ids = {}


class _Outcome:
    """Result of one job's attempt, computed before anything is written."""

    __slots__ = ("error", "kind", "result")

    DONE = "done"
    SYNC_ERROR = "sync_error"
    USER_ERROR = "user_error"
    CONCURRENCY = "concurrency"
    UNEXPECTED = "unexpected"

    def __init__(self, kind, result=None, error=None):
        self.kind = kind
        self.result = result
        self.error = error

    @classmethod
    def from_error(cls, error):
        if isinstance(error, CONCURRENCY_ERRORS):
            return cls(cls.CONCURRENCY, error=error)
        if isinstance(error, SyncError):
            return cls(cls.SYNC_ERROR, error=error)
        if isinstance(error, UserError):
            return cls(cls.USER_ERROR, error=error)
        return cls(cls.UNEXPECTED, error=error)


def _in_test_thread():
    """Return whether Odoo's test runner runs the current thread."""
    return getattr(threading.current_thread(), "testing", False)


class CrmSyncJob(models.Model):
    """One queued sync operation for one record, in one direction."""

    _name = "crm.sync.job"
    _description = "CRM Sync Job"
    _order = "id desc"

    backend_id = fields.Many2one(
        "crm.sync.backend", required=True, index=True, ondelete="cascade", readonly=True
    )
    company_id = fields.Many2one(
        related="backend_id.company_id", store=True, index=True, readonly=True
    )
    object_type = fields.Selection(OBJECT_TYPE_SELECTION, required=True, readonly=True)
    operation = fields.Selection(JOB_OPERATIONS, required=True, readonly=True)
    source = fields.Selection(JOB_SOURCES, required=True, default="odoo", readonly=True)
    res_model = fields.Char(string="Odoo Model", index=True, readonly=True)
    res_id = fields.Many2oneReference(
        string="Odoo Record ID", model_field="res_model", index=True, readonly=True
    )
    record_name = fields.Char(string="Odoo Record", compute="_compute_record_name")
    crm_id = fields.Char(string="CRM ID", index=True, readonly=True)
    payload = fields.Json(readonly=True)
    payload_display = fields.Text(
        string="Payload (Formatted)", compute="_compute_payload_display"
    )
    idempotency_key = fields.Char(index=True, readonly=True)
    priority = fields.Integer(default=DEFAULT_PRIORITY, readonly=True)
    state = fields.Selection(
        JOB_STATES, required=True, default=STATE_PENDING, index=True, readonly=True
    )
    attempts = fields.Integer(
        readonly=True,
        help="Attempts that ended in success or failure. Retries after a database "
        "concurrency error are not counted.",
    )
    max_attempts = fields.Integer(default=DEFAULT_MAX_ATTEMPTS, readonly=True)
    concurrency_retries = fields.Integer(
        readonly=True,
        help="Times the job was put back because another database transaction "
        "got in the way.",
    )
    next_attempt_at = fields.Datetime(string="Next Attempt", index=True, readonly=True)
    claimed_at = fields.Datetime(string="Started", readonly=True)
    date_done = fields.Datetime(string="Finished", readonly=True)
    error_category = fields.Selection(ERROR_CATEGORIES, index=True, readonly=True)
    error_message = fields.Text(string="Error", readonly=True)
    exception_kind = fields.Selection(EXCEPTION_KINDS, readonly=True)
    exception_data = fields.Json(readonly=True)
    exception_data_display = fields.Text(
        string="Resolution Data", compute="_compute_exception_data_display"
    )
    candidate_partner_ids = fields.Many2many(
        "res.partner",
        "crm_sync_job_candidate_partner_rel",
        "job_id",
        "partner_id",
        string="Candidate Partners",
        readonly=True,
    )
    result_message = fields.Char(string="Result", readonly=True)

    def init(self):
        cr = self.env.cr
        # The coalescing guarantee: one waiting job per key. _insert_jobs names
        # no conflict target, so this index and the webhook one below both
        # turn a second insert into "do nothing".
        cr.execute(
            SQL(
                "CREATE UNIQUE INDEX IF NOT EXISTS crm_sync_job_waiting_key_uniq "
                "ON crm_sync_job (idempotency_key) WHERE state IN %s",
                WAITING_STATES,
            )
        )
        # A webhook event is stored once, even after its job is done, so a
        # redelivered event never runs twice.
        cr.execute(
            SQL(
                "CREATE UNIQUE INDEX IF NOT EXISTS crm_sync_job_webhook_event_uniq "
                "ON crm_sync_job (idempotency_key) WHERE source = %s",
                SOURCE_WEBHOOK,
            )
        )
        cr.execute(
            SQL(
                "CREATE INDEX IF NOT EXISTS crm_sync_job_claim_idx "
                "ON crm_sync_job (priority, next_attempt_at, id) WHERE state = %s",
                STATE_PENDING,
            )
        )
        cr.execute(
            SQL(
                "CREATE INDEX IF NOT EXISTS crm_sync_job_running_key_idx "
                "ON crm_sync_job (idempotency_key) WHERE state = %s",
                STATE_RUNNING,
            )
        )

    # ------------------------------------------------------------------
    # Computed fields
    # ------------------------------------------------------------------

    @api.depends("operation", "object_type")
    def _compute_display_name(self):
        operations = dict(self._fields["operation"]._description_selection(self.env))
        object_types = dict(
            self._fields["object_type"]._description_selection(self.env)
        )
        for job in self:
            job.display_name = self.env._(
                "Job %(id)s: %(operation)s %(object_type)s",
                id=job.id or "-",
                operation=operations.get(job.operation, ""),
                object_type=object_types.get(job.object_type, ""),
            )

    @api.depends("res_model", "res_id", "crm_id")
    def _compute_record_name(self):
        for job in self:
            record = job._get_record()
            if not record:
                job.record_name = False
                continue
            try:
                job.record_name = record.display_name
            except AccessError:
                job.record_name = f"{job.res_model},{job.res_id}"

    @api.depends("payload")
    def _compute_payload_display(self):
        for job in self:
            job.payload_display = _format_json(job.payload)

    @api.depends("exception_data")
    def _compute_exception_data_display(self):
        for job in self:
            job.exception_data_display = _format_json(job.exception_data)

    def _commit(self):
        """Commit the current transaction.

        The queue commits each claim and each job's outcome on its own, which
        keeps one job's failure from undoing another job's work. Callers skip
        it in tests.
        """
        self.env.cr.commit()  # pylint: disable=invalid-commit

    def _now(self):
        """Return the transaction time in whole seconds, as Odoo stores datetimes."""
        return self.env.cr.now().replace(microsecond=0)

    def _get_record(self):
        """Return the job's Odoo record, or a falsy value when it names none or
        the record was deleted.

        An import job names only the CRM id: its record is the partner linked
        to that id, when there is one.
        """
        self.ensure_one()
        if self.res_model and self.res_id and self.res_model in self.env:
            return self.env[self.res_model].browse(self.res_id).exists()
        if not self.crm_id:
            return None
        binding = (
            self.env["crm.sync.binding"]
            .sudo()
            .search(
                [
                    ("backend_id", "=", self.backend_id.id),
                    ("object_type", "=", self.object_type),
                    ("crm_id", "=", self.crm_id),
                ],
                limit=1,
            )
        )
        return binding.partner_id.with_env(self.env)

    # ------------------------------------------------------------------
    # Guarded create and write
    # ------------------------------------------------------------------

    # No super(): the ORM create is closed; _enqueue inserts jobs itself.
    @api.model_create_multi
    def create(self, vals_list):  # pylint: disable=method-required-super
        raise AccessError(
            self.env._(
                "Sync jobs are created by the sync engine only, through "
                "crm.sync.job._enqueue()."
            )
        )

    def write(self, vals):
        if self.env.context.get(_ENGINE_WRITE_KEY) is not _ENGINE_WRITE_TOKEN:
            raise AccessError(
                self.env._(
                    "Sync jobs change only through the queue and the Retry and "
                    "Ignore buttons, so the field(s) %(fields)s cannot be written "
                    "directly.",
                    fields=", ".join(sorted(vals)),
                )
            )
        return super().write(vals)

    def _engine_write(self, vals):
        """Write guarded job fields on behalf of the queue or an action method."""
        return self.with_context(**{_ENGINE_WRITE_KEY: _ENGINE_WRITE_TOKEN}).write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_running(self):
        running = self.filtered(lambda job: job.state == STATE_RUNNING)
        if running:
            raise UserError(
                self.env._(
                    "Jobs %(ids)s are running and cannot be deleted. Wait until "
                    "they finish.",
                    ids=", ".join(str(job_id) for job_id in running.ids),
                )
            )

    # ------------------------------------------------------------------
    # Enqueue
    # ------------------------------------------------------------------

    @api.model
    def _enqueue(
        self,
        backend,
        object_type,
        operation,
        *,
        res_model=None,
        res_id=None,
        crm_id=None,
        payload=None,
        idempotency_key=None,
        source="odoo",
        priority=DEFAULT_PRIORITY,
    ):
        """Queue one operation, or merge it into the waiting job for its key.

        The default key is ``"{backend}:{object_type}:{operation}:{res_model}:
        {res_id or crm_id}"``, so several changes to one record before its job
        runs become one job. The payloads are merged (the newer value wins),
        the older job keeps its creation date, and a pending job's next
        attempt is reset to now. The queue cron is triggered so that the job runs soon
        after this transaction commits. Returns the new or merged job.
        """
        jobs = self._enqueue_many(
            backend,
            [
                {
                    "object_type": object_type,
                    "operation": operation,
                    "res_model": res_model,
                    "res_id": res_id,
                    "crm_id": crm_id,
                    "payload": payload,
                    "idempotency_key": idempotency_key,
                    "source": source,
                    "priority": priority,
                }
            ],
        )
        return jobs[:1]

    @api.model
    def _enqueue_many(self, backend, vals_list, skip_existing=False):
        """Queue several operations of one backend with a single INSERT.

        Each dict of ``vals_list`` takes the keyword arguments of
        :meth:`_enqueue` plus ``object_type`` and ``operation``. Entries with
        the same key are merged first. With ``skip_existing``, an entry whose
        key is already stored is dropped, and only the jobs created now are
        returned. Without it, such an entry merges into the waiting job of its
        key, and every new or merged job is returned.
        """
        backend.ensure_one()
        prepared = self._merge_same_keys(
            [self._prepare_job_vals(backend, **vals) for vals in vals_list]
        )
        if not prepared:
            return self.browse()

        jobs = self._insert_jobs(prepared)
        if not skip_existing:
            inserted_keys = set(jobs.mapped("idempotency_key"))
            for vals in prepared:
                if vals["idempotency_key"] not in inserted_keys:
                    jobs |= self._coalesce(vals)

        if jobs:
            self._trigger_processing()
        _logger.debug(
            "Backend %s: %s job(s) queued or merged from %s request(s)",
            backend.id,
            len(jobs),
            len(vals_list),
        )
        return jobs.with_env(self.env)

    @api.model
    def _prepare_job_vals(
        self,
        backend,
        *,
        object_type,
        operation,
        res_model=None,
        res_id=None,
        crm_id=None,
        payload=None,
        idempotency_key=None,
        source="odoo",
        priority=DEFAULT_PRIORITY,
    ):
        """Check one enqueue request and return the column values of its job."""
        self._check_enqueue_request(
            object_type, operation, source, res_model, res_id, crm_id, idempotency_key
        )
        if payload is not None:
            # Fail here, naming the job, rather than in the INSERT.
            try:
                json.dumps(payload)
            except (TypeError, ValueError) as error:
                raise ValueError(
                    f"Payload of the {operation} {object_type} job for "
                    f"{res_model},{res_id} / CRM {crm_id} is not JSON: {error}"
                ) from error

        crm_id = str(crm_id) if crm_id else None
        if not idempotency_key:
            idempotency_key = (
                f"{backend.id}:{object_type}:{operation}:{res_model}:{res_id or crm_id}"
            )
        now = self._now()
        return {
            "backend_id": backend.id,
            "company_id": backend.company_id.id,
            "object_type": object_type,
            "operation": operation,
            "source": source,
            "res_model": res_model or None,
            "res_id": res_id or None,
            "crm_id": crm_id,
            "payload": payload,
            "idempotency_key": idempotency_key,
            "priority": priority,
            "state": STATE_PENDING,
            "attempts": 0,
            "max_attempts": DEFAULT_MAX_ATTEMPTS,
            "concurrency_retries": 0,
            "next_attempt_at": now,
            "create_uid": self.env.uid,
            "create_date": now,
            "write_uid": self.env.uid,
            "write_date": now,
        }

    def _check_enqueue_request(
        self, object_type, operation, source, res_model, res_id, crm_id, key
    ):
        if object_type not in OBJECT_TYPES:
            raise ValueError(f"Unknown object type {object_type!r} for a sync job.")
        if operation not in JOB_HANDLERS:
            raise ValueError(f"Unknown operation {operation!r} for a sync job.")
        if source not in dict(JOB_SOURCES):
            raise ValueError(f"Unknown source {source!r} for a sync job.")
        if res_model and res_model not in self.env:
            raise ValueError(f"Unknown Odoo model {res_model!r} for a sync job.")
        if bool(res_model) != bool(res_id):
            raise ValueError(
                f"A sync job needs both res_model and res_id or neither, got "
                f"{res_model!r} and {res_id!r}."
            )
        if not (res_id or crm_id or key):
            raise ValueError(
                f"The {operation} {object_type} job names no record: pass res_id, "
                "crm_id or idempotency_key."
            )

    @api.model
    def _merge_same_keys(self, prepared):
        merged = {}
        for vals in prepared:
            key = vals["idempotency_key"]
            if key in merged:
                first = merged[key]
                first["payload"] = merge_payloads(first["payload"], vals["payload"])
                first["priority"] = min(first["priority"], vals["priority"])
            else:
                merged[key] = dict(vals)
        return list(merged.values())

    @api.model
    def _insert_jobs(self, prepared):
        """Insert jobs, skipping each one whose key is already taken.

        This is a plain INSERT ... ON CONFLICT DO NOTHING rather than ORM
        create() because a unique violation inside create() would abort the
        statement and log the query, payload included. Under REPEATABLE READ,
        a conflict with a job committed after this transaction's snapshot
        raises a serialisation failure instead, which callers retry.
        """
        self.flush_model()
        columns = list(prepared[0])
        rows = SQL(", ").join(
            SQL(
                "(%s)",
                SQL(", ").join(
                    SQL("%s", self._to_column(name, vals[name])) for name in columns
                ),
            )
            for vals in prepared
        )
        self.env.cr.execute(
            SQL(
                "INSERT INTO crm_sync_job (%s) VALUES %s "
                "ON CONFLICT DO NOTHING RETURNING id",
                SQL(", ").join(SQL.identifier(name) for name in columns),
                rows,
            ),
            log_exceptions=False,
        )
        return self.sudo().browse(row[0] for row in self.env.cr.fetchall())

    @staticmethod
    def _to_column(name, value):
        if name == "payload" and value is not None:
            return Json(value)
        return value

    @api.model
    def _coalesce(self, vals):
        """Merge an enqueue request into the stored job with the same key."""
        job = self._lock_waiting_job(vals["idempotency_key"])
        if not job:
            # The key belongs to a webhook event that was already stored and
            # has left the waiting states: the event is not queued again.
            return self.sudo().search(
                [("idempotency_key", "=", vals["idempotency_key"])],
                order="id desc",
                limit=1,
            )

        update = {
            "payload": merge_payloads(job.payload, vals["payload"]),
            "priority": min(job.priority, vals["priority"]),
        }
        # A failed job keeps its backoff, so a CRM rate limit is still obeyed.
        if job.state == STATE_PENDING:
            update["next_attempt_at"] = self._now()
        if vals["crm_id"] and not job.crm_id:
            update["crm_id"] = vals["crm_id"]
        if vals["res_id"] and not job.res_id:
            update.update(res_model=vals["res_model"], res_id=vals["res_id"])
        job._engine_write(update)
        _logger.debug("Job %s: merged a new change into the waiting job", job.id)
        return job

    @api.model
    def _lock_waiting_job(self, key, exclude=None):
        """Lock and return the waiting job of a key, if there is one."""
        self.flush_model()
        self.env.cr.execute(
            SQL(
                "SELECT id FROM crm_sync_job "
                "WHERE idempotency_key = %s AND state IN %s AND id != %s "
                "ORDER BY id LIMIT 1 FOR UPDATE",
                key,
                WAITING_STATES,
                exclude or 0,
            ),
            log_exceptions=False,
        )
        row = self.env.cr.fetchone()
        return self.sudo().browse(row[0]) if row else self.sudo().browse()

    @api.model
    def _trigger_processing(self):
        """Ask the queue cron to run as soon as this transaction commits."""
        precommit_data = self.env.cr.precommit.data
        if precommit_data.get(_TRIGGERED_KEY):
            return
        cron = self.sudo().env.ref(PROCESS_CRON_XMLID, raise_if_not_found=False)
        if not cron:
            return
        precommit_data[_TRIGGERED_KEY] = True
        cron._trigger()

    # ------------------------------------------------------------------
    # Claim
    # ------------------------------------------------------------------

    @api.model
    def _claim_jobs(self, limit=1, *, backend=None, like=None):
        """Claim up to ``limit`` due pending jobs for this worker.

        The jobs are locked with ``FOR UPDATE SKIP LOCKED``, so concurrent
        workers claim different jobs, and marked ``running`` with the claim
        time. Jobs whose key has a running job are skipped. ``backend`` keeps
        one backend's jobs; ``like`` keeps jobs with the same backend, object
        type and operation as that job (a batch). The caller commits before
        running them.

        Raises a psycopg2 concurrency error when another worker changed a
        candidate job after this transaction's snapshot. The transaction stays
        usable, and a claim in a new transaction then succeeds.
        """
        conditions = [
            SQL("job.state = %s", STATE_PENDING),
            SQL("job.next_attempt_at <= %s", self._now()),
            SQL(
                "NOT EXISTS (SELECT 1 FROM crm_sync_job other WHERE other.state = %s "
                "AND other.idempotency_key = job.idempotency_key)",
                STATE_RUNNING,
            ),
        ]
        if backend:
            conditions.append(SQL("job.backend_id = %s", backend.id))
        if like:
            conditions.append(
                SQL(
                    "job.backend_id = %s AND job.object_type = %s "
                    "AND job.operation = %s",
                    like.backend_id.id,
                    like.object_type,
                    like.operation,
                )
            )

        # The CTE is MATERIALIZED so that the locking SELECT runs exactly once:
        # as a subquery of the UPDATE, PostgreSQL may run it again per row and
        # claim more than ``limit`` jobs.
        query = SQL(
            """
            WITH claimable AS MATERIALIZED (
                SELECT job.id FROM crm_sync_job job
                 WHERE %(conditions)s
                 ORDER BY job.priority, job.next_attempt_at, job.id
                 LIMIT %(limit)s
                   FOR UPDATE SKIP LOCKED
            )
            UPDATE crm_sync_job
               SET state = %(running)s, claimed_at = %(claim_time)s,
                   write_date = %(claim_time)s, write_uid = %(uid)s
              FROM claimable
             WHERE crm_sync_job.id = claimable.id
         RETURNING crm_sync_job.id
            """,
            running=STATE_RUNNING,
            claim_time=self._now(),
            uid=self.env.uid,
            conditions=SQL(" AND ").join(conditions),
            limit=limit,
        )
        with self.env.cr.savepoint():
            self.env.cr.execute(query, log_exceptions=False)
            job_ids = [row[0] for row in self.env.cr.fetchall()]
        jobs = self.sudo().browse(job_ids)
        self.invalidate_model(["state", "claimed_at", "write_date", "write_uid"])
        return jobs.sorted(lambda job: (job.priority, job.next_attempt_at, job.id))

    @api.model
    def _claim_next(self, room, backend=None):
        """Claim the next due job, plus jobs to batch with it if its handler can."""
        head = self._claim_jobs(1, backend=backend)
        if not head:
            return head
        handler = head._find_job_handler()
        batch_size = min(head.backend_id.batch_size or 1, room)
        if handler is not None and hasattr(handler, "_run_jobs") and batch_size > 1:
            head |= self._claim_jobs(batch_size - 1, backend=backend, like=head)
        return head

    # ------------------------------------------------------------------
    # Processing loop
    # ------------------------------------------------------------------

    @api.model
    def _cron_process_queue(self):
        """Run due jobs until none is left or the run's job or time budget is spent."""
        processed = self._process_queue(
            max_jobs=QUEUE_RUN_MAX_JOBS, max_seconds=QUEUE_RUN_MAX_SECONDS
        )
        remaining = self._count_due_jobs()
        self.env["ir.cron"]._notify_progress(done=len(processed), remaining=remaining)

    @api.model
    def _process_pending(self, backend=None, limit=None):
        """Run every due pending job now, in this transaction, without committing.

        Jobs queued by handlers while it runs are included. Meant for tests
        and scripts that need the real queue path; returns the processed jobs.
        """
        return self._process_queue(
            max_jobs=limit or sys.maxsize,
            max_seconds=None,
            backend=backend,
            commit=False,
        )

    @api.model
    def _process_queue(self, *, max_jobs, max_seconds, backend=None, commit=True):
        """Claim and run due jobs, one claim (job or batch) per transaction.

        With ``commit`` (ignored in tests), the claim and every job's outcome
        are committed on their own. Returns the processed jobs.
        """
        commit = commit and not _in_test_thread()
        deadline = time.monotonic() + max_seconds if max_seconds else None
        processed = self.sudo().browse()
        started = time.monotonic()

        while len(processed) < max_jobs:
            if deadline is not None and time.monotonic() >= deadline:
                break
            if commit:
                # The claim must see every claim other workers committed.
                self._commit()
            try:
                jobs = self._claim_next(max_jobs - len(processed), backend=backend)
            except CONCURRENCY_ERRORS:
                if not commit:
                    raise
                _logger.debug("Job claim collided with another worker; claiming again")
                self.env.cr.rollback()
                continue
            if not jobs:
                break
            if commit:
                self._commit()
            jobs._run(commit=commit)
            processed |= jobs

        if processed:
            _logger.info(
                "Sync queue: %s job(s) processed in %.1f s",
                len(processed),
                time.monotonic() - started,
            )
        return processed

    @api.model
    def _count_due_jobs(self):
        return self.sudo().search_count(
            [
                ("state", "=", STATE_PENDING),
                ("next_attempt_at", "<=", self._now()),
            ]
        )

    # ------------------------------------------------------------------
    # Running claimed jobs
    # ------------------------------------------------------------------

    def _find_job_handler(self):
        """Return the handler model of this job's operation, or None if absent."""
        self.ensure_one()
        model_name = JOB_HANDLERS[self.operation]
        if model_name not in self.env:
            return None
        return self.env[model_name]

    def _get_job_handler(self):
        """Return the handler model of this job's operation.

        Raises a non-retryable SyncError when no installed module provides it.
        """
        handler = self._find_job_handler()
        if handler is None:
            raise SyncError(
                self.env._(
                    "No handler is installed for %(operation)s jobs (model "
                    "%(model)s): install the module that provides it, then retry.",
                    operation=self.operation,
                    model=JOB_HANDLERS[self.operation],
                ),
                category=INTERNAL,
                retryable=False,
            )
        return handler

    def _run(self, commit=False):
        """Run claimed jobs that share a handler and store their outcomes.

        With ``commit``, the work and the outcomes are committed together. A
        concurrency error at that point rolls both back, and the jobs are then
        requeued in a new transaction that keeps any CRM id the handler stored.
        """
        claims = {job.id: job.claimed_at for job in self}
        memo = _AttemptMemo()
        outcomes = self._execute(memo)
        try:
            self._store_outcomes(outcomes, claims, memo)
            if commit:
                self._commit()
        except CONCURRENCY_ERRORS as error:
            if not commit:
                raise
            self.env.cr.rollback()
            concurrency = _Outcome(_Outcome.CONCURRENCY, error=error)
            self._store_outcomes(dict.fromkeys(self.ids, concurrency), claims, memo)
            self._commit()

    def _execute(self, memo):
        """Call the handler inside a savepoint and return {job id: outcome}."""
        jobs = self.with_context(**{_ATTEMPT_MEMO_KEY: memo})
        try:
            handler = self[:1]._get_job_handler()
            with self.env.cr.savepoint():
                if len(jobs) > 1:
                    results = handler._run_jobs(jobs)
                else:
                    results = {jobs.id: handler._run_job(jobs)}
        # Every failure, a bug included, becomes the job's outcome.
        except Exception as error:  # pylint: disable=broad-except
            outcome = _Outcome.from_error(error)
            return dict.fromkeys(self.ids, outcome)

        # A job missing from the batch results counts as done. NOTE: the batch
        # savepoint is kept when some jobs succeeded, so a job whose result is
        # an error keeps its own database writes unless _run_jobs undid them.
        outcomes = {}
        for job in self:
            result = results.get(job.id)
            if isinstance(result, Exception):
                outcomes[job.id] = _Outcome.from_error(result)
            else:
                outcomes[job.id] = _Outcome(_Outcome.DONE, result=result)
        return outcomes

    def _store_outcomes(self, outcomes, claims, memo):
        owned = self._lock_own_claims(claims)
        for job in self - owned:
            _logger.warning(
                "Job %s was requeued while this worker ran it; its result is dropped "
                "and the job runs again",
                job.id,
            )
        for job in owned:
            crm_id = memo.crm_ids.get(job.id)
            if crm_id and job.crm_id != crm_id:
                job._engine_write({"crm_id": crm_id})
            job._apply_outcome(outcomes[job.id])

    def _lock_own_claims(self, claims):
        """Lock the jobs still running under this worker's claim and return them."""
        self.flush_model()
        self.env.cr.execute(
            SQL(
                "SELECT id, claimed_at FROM crm_sync_job "
                "WHERE id IN %s AND state = %s FOR UPDATE",
                tuple(self.ids),
                STATE_RUNNING,
            ),
            log_exceptions=False,
        )
        owned_ids = [
            job_id
            for job_id, claimed_at in self.env.cr.fetchall()
            if claimed_at == claims.get(job_id)
        ]
        self.invalidate_recordset()
        return self.browse(owned_ids)

    def _apply_outcome(self, outcome):
        self.ensure_one()
        if outcome.kind == _Outcome.DONE:
            self._mark_done(outcome.result)
        elif outcome.kind == _Outcome.CONCURRENCY:
            self._retry_after_concurrency(outcome.error)
        elif outcome.kind == _Outcome.SYNC_ERROR and outcome.error.retryable:
            self._fail_or_retry(outcome.error)
        else:
            self._raise_exception(outcome)

    # ------------------------------------------------------------------
    # Outcomes
    # ------------------------------------------------------------------

    def _mark_done(self, result_message=None):
        """Mark jobs done and resolve older open exceptions of the same records.

        The queue calls it on success; the resolve wizard calls it once a person
        settled an exception.
        """
        now = self._now()
        for job in self:
            # A run that succeeded is an attempt; a settled exception is not.
            attempts = job.attempts + 1 if job.state == STATE_RUNNING else job.attempts
            job._engine_write(
                {
                    "state": STATE_DONE,
                    "attempts": attempts,
                    "date_done": now,
                    "claimed_at": False,
                    "result_message": (result_message or "")[:255] or False,
                    "error_category": False,
                    "error_message": False,
                }
            )
            _logger.debug("Job %s done", job.id)
        self._mark_resolved_for_record()

    def _mark_resolved_for_record(self):
        """Close the older open exceptions of each done job's record."""
        for job in self.filtered(lambda job: job.state == STATE_DONE):
            stale = job._find_older_exceptions()
            if not stale:
                continue
            stale._engine_write(
                {
                    "state": STATE_DONE,
                    "date_done": self._now(),
                    "result_message": self.env._(
                        "Resolved automatically: job %(job)s for the same record "
                        "succeeded.",
                        job=job.id,
                    ),
                }
            )
            _logger.info(
                "Job %s resolved %s older exception(s) of its record: %s",
                job.id,
                len(stale),
                stale.ids,
            )

    def _find_older_exceptions(self):
        self.ensure_one()
        record_domains = []
        if self.res_model and self.res_id:
            record_domains.append(
                [("res_model", "=", self.res_model), ("res_id", "=", self.res_id)]
            )
        if self.crm_id:
            record_domains.append([("crm_id", "=", self.crm_id)])
        if not record_domains:
            return self.browse()
        return self.sudo().search(
            [
                ("state", "=", STATE_EXCEPTION),
                ("id", "<", self.id),
                ("backend_id", "=", self.backend_id.id),
                ("object_type", "=", self.object_type),
                ("operation", "=", self.operation),
                *expression.OR(record_domains),
            ]
        )

    def _retry_after_concurrency(self, error):
        self.ensure_one()
        retries = self.concurrency_retries + 1
        delay = backoff.next_delay(
            retries, base=CONCURRENCY_BASE_DELAY, cap=CONCURRENCY_MAX_DELAY
        )
        self._return_to_waiting(
            {
                "state": STATE_PENDING,
                "concurrency_retries": retries,
                "next_attempt_at": self._now() + timedelta(seconds=delay),
                "claimed_at": False,
            }
        )
        _logger.info(
            "Job %s (backend %s, %s %s, CRM id %s) hit a database concurrency "
            "error (%s); retry %s in %.1f s, not counted as an attempt",
            self.id,
            self.backend_id.id,
            self.operation,
            self.object_type,
            self.crm_id,
            type(error).__name__,
            retries,
            delay,
        )

    def _fail_or_retry(self, error):
        self.ensure_one()
        attempts = self.attempts + 1
        if backoff.attempts_exhausted(attempts, self.max_attempts):
            self._raise_exception(
                _Outcome(_Outcome.SYNC_ERROR, error=error), attempts, gave_up=True
            )
            return

        delay = backoff.next_delay(
            attempts, retry_after=getattr(error, "retry_after", None)
        )
        self._return_to_waiting(
            {
                "state": STATE_FAILED,
                "attempts": attempts,
                "next_attempt_at": self._now() + timedelta(seconds=delay),
                "claimed_at": False,
                "error_category": error.category,
                "error_message": str(error),
            }
        )
        _logger.info(
            "Job %s (backend %s, %s %s, CRM id %s) failed: %s; attempt %s of %s, "
            "retry in %.1f s",
            self.id,
            self.backend_id.id,
            self.operation,
            self.object_type,
            self.crm_id,
            error.category,
            attempts,
            self.max_attempts,
            delay,
        )

    def _raise_exception(self, outcome, attempts=None, gave_up=False):
        """Park the job as an exception that a person has to look at.

        ``gave_up`` means the error was retryable but no attempt is left.
        """
        self.ensure_one()
        error = outcome.error
        attempts = attempts or self.attempts + 1
        kind = getattr(error, "exception_kind", None) or "error"
        category = self._categorise(outcome)
        message = self._describe_error(outcome)
        if gave_up:
            message = self.env._(
                "%(error)s (gave up after %(attempts)s attempts)",
                error=message,
                attempts=attempts,
            )
        candidates = self.env["res.partner"].browse(
            getattr(error, "candidate_partner_ids", None) or []
        )
        self._engine_write(
            {
                "state": STATE_EXCEPTION,
                "attempts": attempts,
                "claimed_at": False,
                "date_done": False,
                "error_category": category,
                "error_message": message,
                "exception_kind": kind,
                "exception_data": _to_json_value(
                    getattr(error, "exception_data", None)
                ),
                "candidate_partner_ids": [
                    fields.Command.set(candidates.sudo().exists().ids)
                ],
            }
        )
        self._log_exception(outcome, kind, category, gave_up)
        self._close_superseded_exceptions()

    def _close_superseded_exceptions(self):
        """Ignore the older open exceptions of this job's record.

        A record keeps at most one open exception per backend, object type and
        operation: the newest one, which contains the current values. The older
        ones are set ``ignored`` (not ``done``) because nothing was synced.
        """
        self.ensure_one()
        superseded = self._find_older_exceptions()
        if not superseded:
            return
        superseded._engine_write(
            {
                "state": STATE_IGNORED,
                "date_done": self._now(),
                "result_message": self.env._(
                    "Superseded by job %(job)s, a newer exception of the same record.",
                    job=self.id,
                ),
            }
        )
        _logger.info(
            "Job %s superseded %s older exception(s) of its record: %s",
            self.id,
            len(superseded),
            superseded.ids,
        )

    @staticmethod
    def _categorise(outcome):
        if outcome.kind == _Outcome.SYNC_ERROR:
            return outcome.error.category
        if outcome.kind == _Outcome.USER_ERROR:
            return VALIDATION
        return INTERNAL

    def _describe_error(self, outcome):
        error = outcome.error
        if outcome.kind == _Outcome.UNEXPECTED:
            return self.env._(
                "Unexpected error %(error_type)s: %(error)s. This is a defect of "
                "the sync; the server log has the traceback.",
                error_type=type(error).__name__,
                error=error,
            )
        return str(error)

    def _log_exception(self, outcome, kind, category, gave_up):
        ids = (
            self.id,
            self.backend_id.id,
            self.operation,
            self.object_type,
            self.crm_id,
        )
        if outcome.kind == _Outcome.UNEXPECTED:
            # The message may quote record values, so only the frames are logged.
            frames = "".join(traceback.format_tb(outcome.error.__traceback__))
            _logger.error(
                "Job %s (backend %s, %s %s, CRM id %s) failed with an unexpected "
                "%s; the message is on the job. Traceback:\n%s",
                *ids,
                type(outcome.error).__name__,
                frames,
            )
        elif gave_up:
            _logger.error(
                "Job %s (backend %s, %s %s, CRM id %s) failed: %s; no attempt left, "
                "it is now an exception",
                *ids,
                category,
            )
        elif kind in RESOLUTION_KINDS:
            _logger.info(
                "Job %s (backend %s, %s %s, CRM id %s) needs review: %s", *ids, kind
            )
        else:
            _logger.warning(
                "Job %s (backend %s, %s %s, CRM id %s) rejected: %s; it is now an "
                "exception",
                *ids,
                category,
            )

    def _return_to_waiting(self, vals):
        """Write ``vals`` that put the job back in a waiting state.

        A job with the same key may have been queued meanwhile (a change made
        while this one ran). Only one job per key may wait, so that newer job
        is merged into this older one and deleted.
        """
        self.ensure_one()
        newer = self._lock_waiting_job(self.idempotency_key, exclude=self.id)
        if newer:
            vals = dict(
                vals,
                payload=merge_payloads(self.payload, newer.payload),
                priority=min(self.priority, newer.priority),
            )
            _logger.debug("Job %s: merged the newer job %s into it", self.id, newer.id)
            newer.unlink()
        self._engine_write(vals)

    # ------------------------------------------------------------------
    # Handler API
    # ------------------------------------------------------------------

    def _store_crm_id(self, crm_id):
        """Record the CRM id that this attempt just created.

        Handlers call it right after the CRM returned the id. The id stays on
        the job even when a later step of the attempt fails and its database
        work is rolled back, so the retry updates that CRM record instead of
        creating a second one.
        """
        self.ensure_one()
        crm_id = str(crm_id)
        memo = self.env.context.get(_ATTEMPT_MEMO_KEY)
        if memo is not None:
            memo.crm_ids[self.id] = crm_id
        self._engine_write({"crm_id": crm_id})

    # ------------------------------------------------------------------
    # User actions
    # ------------------------------------------------------------------

    def action_retry(self):
        """Send the jobs back to the queue with a fresh set of attempts."""
        self._check_action_states(RETRY_STATES, self.env._("retried"))
        now = self._now()
        for job in self:
            job._return_to_waiting(
                {
                    "state": STATE_PENDING,
                    "attempts": 0,
                    "concurrency_retries": 0,
                    "next_attempt_at": now,
                    "date_done": False,
                    "error_category": False,
                    "error_message": False,
                    "exception_kind": False,
                    "exception_data": False,
                    "candidate_partner_ids": [fields.Command.clear()],
                    "result_message": False,
                }
            )
        self._trigger_processing()
        _logger.info("User %s sent jobs %s back to the queue", self.env.uid, self.ids)
        return True

    def action_ignore(self):
        """Take the jobs out of the queue without running them."""
        self._check_action_states(IGNORE_STATES, self.env._("ignored"))
        self._engine_write(
            {
                "state": STATE_IGNORED,
                "date_done": self._now(),
                "result_message": self.env._(
                    "Ignored by %(user)s.", user=self.env.user.name
                ),
            }
        )
        _logger.info("User %s ignored jobs %s", self.env.uid, self.ids)
        return True

    def _check_action_states(self, allowed_states, action_label):
        wrong = self.filtered(lambda job: job.state not in allowed_states)
        if not wrong:
            return
        states = dict(self._fields["state"]._description_selection(self.env))
        raise UserError(
            self.env._(
                "These jobs cannot be %(action)s in their current state: %(jobs)s. "
                "Allowed states: %(allowed)s.",
                action=action_label,
                jobs=", ".join(f"{job.id} ({states[job.state]})" for job in wrong),
                allowed=", ".join(states[state] for state in allowed_states),
            )
        )

    def action_open_record(self):
        """Open the Odoo record the job synchronises."""
        self.ensure_one()
        record = self._get_record()
        if not record:
            raise UserError(
                self.env._(
                    "Job %(job)s has no Odoo record to open: it names none, or the "
                    "record %(model)s,%(id)s was deleted.",
                    job=self.id,
                    model=self.res_model or "-",
                    id=self.res_id or "-",
                )
            )
        return {
            "type": "ir.actions.act_window",
            "res_model": record._name,
            "res_id": record.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "current",
        }

    def action_open_resolution(self):
        """Open the tool that settles this exception (merge or resolve wizard)."""
        self.ensure_one()
        data = self.exception_data or {}
        merger = self.env.get("crm.sync.merger")
        if (
            isinstance(data, dict)
            and data.get("resolution") == "merge_partners"
            and merger is not None
            and hasattr(merger, "_action_open_partner_merge")
        ):
            return merger._action_open_partner_merge(self)

        if "crm.sync.resolve.wizard" not in self.env:
            raise UserError(
                self.env._(
                    "Resolution is not available: the resolve wizard is not "
                    "installed. Fix the record, then use Retry or Ignore."
                )
            )
        # The wizard is saved before it opens, so that its candidate rows have
        # ids and their "Link to this one" buttons run at once in the browser.
        wizard = (
            self.env["crm.sync.resolve.wizard"]
            .with_context(default_job_id=self.id)
            .create({})
        )
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Resolve %(job)s", job=self.display_name),
            "res_model": "crm.sync.resolve.wizard",
            "res_id": wizard.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
        }

    # ------------------------------------------------------------------
    # Maintenance crons
    # ------------------------------------------------------------------

    @api.model
    def _cron_retry_failed(self):
        """Move failed jobs whose backoff has passed back to pending."""
        self.flush_model()
        self.env.cr.execute(
            SQL(
                "UPDATE crm_sync_job SET state = %s, write_date = %s "
                "WHERE state = %s AND next_attempt_at <= %s RETURNING id",
                STATE_PENDING,
                self._now(),
                STATE_FAILED,
                self._now(),
            )
        )
        job_ids = [row[0] for row in self.env.cr.fetchall()]
        self.invalidate_model(["state", "write_date"])
        if job_ids:
            self._trigger_processing()
            _logger.info("Sync queue: %s failed job(s) due for retry", len(job_ids))
        return self.browse(job_ids)

    @api.model
    def _cron_requeue_stale(self):
        """Requeue jobs left running longer than STALE_RUNNING_TIMEOUT.

        Such a job's worker died (crash, kill, time limit). The lost run counts
        as an attempt, so a job that kills its worker every time ends as an
        exception instead of looping.
        """
        cutoff = self._now() - timedelta(seconds=STALE_RUNNING_TIMEOUT)
        stale = self.sudo().search(
            [("state", "=", STATE_RUNNING), ("claimed_at", "<", cutoff)]
        )
        for job in stale:
            job._requeue_stale()
        if stale:
            self._trigger_processing()
        return stale

    def _requeue_stale(self):
        self.ensure_one()
        attempts = self.attempts + 1
        message = self.env._(
            "The worker running this job stopped before it finished (crash, "
            "restart or time limit), %(count)s time(s) so far.",
            count=attempts,
        )
        if backoff.attempts_exhausted(attempts, self.max_attempts):
            error = SyncError(message, category=INTERNAL, retryable=False)
            self._raise_exception(
                _Outcome(_Outcome.SYNC_ERROR, error=error), attempts, gave_up=True
            )
            return
        self._return_to_waiting(
            {
                "state": STATE_PENDING,
                "attempts": attempts,
                "next_attempt_at": self._now(),
                "claimed_at": False,
                "error_category": INTERNAL,
                "error_message": message,
            }
        )
        _logger.warning(
            "Job %s (backend %s) was running since %s: requeued, attempt %s of %s",
            self.id,
            self.backend_id.id,
            self.claimed_at,
            attempts,
            self.max_attempts,
        )

    @api.model
    def _cron_delete_old_jobs(self):
        """Delete done and ignored jobs older than the retention period."""
        deleted = self._delete_old_jobs(
            self._get_retention_days(), chunk_size=RETENTION_CHUNK_SIZE
        )
        remaining = self._count_old_jobs(self._get_retention_days())
        self.env["ir.cron"]._notify_progress(done=deleted, remaining=remaining)

    @api.model
    def _get_retention_days(self):
        value = self.env["ir.config_parameter"].sudo().get_param(RETENTION_DAYS_PARAM)
        if not value:
            return DEFAULT_RETENTION_DAYS
        try:
            days = int(value)
        except ValueError:
            days = 0
        if days < 1:
            _logger.warning(
                "System parameter %s is %r, not a whole number of days of 1 or "
                "more; keeping jobs %s days",
                RETENTION_DAYS_PARAM,
                value,
                DEFAULT_RETENTION_DAYS,
            )
            return DEFAULT_RETENTION_DAYS
        return days

    @api.model
    def _old_jobs_domain(self, days):
        cutoff = self._now() - timedelta(days=days)
        return [
            ("state", "in", (STATE_DONE, STATE_IGNORED)),
            ("date_done", "<", cutoff),
        ]

    @api.model
    def _count_old_jobs(self, days):
        return self.sudo().search_count(self._old_jobs_domain(days))

    @api.model
    def _delete_old_jobs(self, days, chunk_size=RETENTION_CHUNK_SIZE):
        """Delete old done and ignored jobs, ``chunk_size`` per transaction.

        Commits after each chunk outside tests and stops after
        RETENTION_MAX_SECONDS. Returns the number of jobs deleted.
        """
        commit = not _in_test_thread()
        deadline = time.monotonic() + RETENTION_MAX_SECONDS
        domain = self._old_jobs_domain(days)
        deleted = 0
        while time.monotonic() < deadline:
            chunk = self.sudo().search(domain, limit=chunk_size, order="id")
            if not chunk:
                break
            chunk.unlink()
            deleted += len(chunk)
            if commit:
                self._commit()
        if deleted:
            _logger.info(
                "Sync queue: deleted %s done or ignored job(s) older than %s days",
                deleted,
                days,
            )
        return deleted


def _to_json_value(value):
    """Return ``value`` as stored JSON, or False; values JSON lacks become text."""
    if value in (None, False):
        return False
    return json.loads(json.dumps(value, default=str))


def _format_json(value):
    if value in (None, False):
        return False
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
