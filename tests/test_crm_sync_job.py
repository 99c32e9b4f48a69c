"""Tests of the sync queue: enqueue, claim, run, retry, exceptions and crons.

Queue mechanics run real jobs through the real queue code in the test
transaction. Only the handler lookup (``_find_job_handler``) is replaced, by a
scripted stand-in for the import, export, delete and merge handlers, so that
each test chooses the outcome: success, CRM error, database concurrency error
or bug. The sandbox tests at the end use the real export handler instead. The
worker tests use real PostgreSQL connections in threads, with committed
fixtures that they delete afterwards.
"""

import collections
import logging
import sys
import threading
import time
import traceback
from contextlib import closing
from datetime import timedelta

import psycopg2

from odoo import SUPERUSER_ID, api, sql_db
from odoo.exceptions import AccessError, UserError
from odoo.tests import TransactionCase, new_test_user, tagged
from odoo.tests.common import get_db_name

from odoo.addons.external_crm_sync.models import crm_sync_job
from odoo.addons.external_crm_sync.models.res_partner import NO_EXPORT_CONTEXT
from odoo.addons.external_crm_sync.sync_core import backoff, errors
from odoo.addons.external_crm_sync.sync_core.adapters.exceptions import (
    CrmRateLimitError,
    CrmServerError,
    CrmValidationError,
)

from .common import CrmSyncCase
from .partner_sync_common import PartnerSyncCase

JOB_LOGGER = crm_sync_job.__name__
# assertLogs takes logging.INFO, not "INFO": Odoo names its level 25 "INFO" too.
LOCK_TABLE = "crm_sync_job_test_lock"
THREAD_TIMEOUT = 30  # seconds a test waits for a worker thread before failing


class ScriptedHandler:
    """Stand-in handler model that runs one scripted step per call, in order.

    A step is a function of the job; its return value is the job's result.
    Without a step left, the job succeeds with the result "done".
    """

    def __init__(self, *steps):
        self.steps = list(steps)
        self.calls = []

    def _run_job(self, job):
        self.calls.append(job.id)
        if not self.steps:
            return "done"
        return self.steps.pop(0)(job)


class BatchHandler(ScriptedHandler):
    """Stand-in handler that runs several jobs per call, like a CRM batch push."""

    def __init__(self, failing_ids=()):
        super().__init__()
        self.batches = []
        self.failing_ids = set(failing_ids)

    def _run_jobs(self, jobs):
        self.batches.append(jobs.ids)
        results = {}
        for job in jobs:
            if job.id in self.failing_ids:
                results[job.id] = CrmValidationError(
                    f"Contact {job.crm_id} field 'email': invalid."
                )
            else:
                results[job.id] = f"pushed in batch {len(self.batches)}"
        return results


class ReviewNeeded(errors.SyncError):
    """A handler's request for a person's decision, as the engine raises it."""

    def __init__(self, message, *, kind, data, candidate_ids):
        super().__init__(message, category=errors.DUPLICATE, retryable=False)
        self.exception_kind = kind
        self.exception_data = data
        self.candidate_partner_ids = candidate_ids


def raising(error):
    """Return a handler step that raises ``error``."""

    def step(job):
        raise error

    return step


def renaming(partner, name, then=None):
    """Return a step that renames a partner, then raises ``then`` if given."""

    def step(job):
        partner.with_env(job.env).write({"name": name})
        if then is not None:
            raise then
        return "renamed"

    return step


def stack_of(thread):
    """Return the current stack of a running thread, to show where it is stuck."""
    frame = sys._current_frames().get(thread.ident)
    return "".join(traceback.format_stack(frame)) if frame else "(thread ended)"


def new_cursor():
    """Return a cursor on its own PostgreSQL connection, outside the test."""
    return sql_db.db_connect(get_db_name()).cursor()


def wait_until_blocked(cr, pid):
    """Return True once backend ``pid`` waits for a lock, False after THREAD_TIMEOUT."""
    deadline = time.monotonic() + THREAD_TIMEOUT
    while time.monotonic() < deadline:
        cr.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
        )
        row = cr.fetchone()
        if row and row[0] == "Lock":
            return True
        time.sleep(0.05)
    return False


def worker_env(registry, cr):
    """Return a superuser environment on ``cr``, usable from any thread.

    The transaction is bound to ``registry`` directly because looking the
    registry up by name waits for a lock that the test runner holds.
    """
    cr.transaction = api.Transaction(registry)
    return api.Environment(cr, SUPERUSER_ID, {})


class QueueCase(CrmSyncCase):
    """Sandbox backend, a few partners and helpers to queue and run jobs."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Job = cls.env["crm.sync.job"]
        cls.partner = cls.env["res.partner"].create({"name": "Queue Test Ltd"})
        cls.other_partner = cls.env["res.partner"].create({"name": "Other Test Ltd"})

    def use_handler(self, handler):
        """Route every job of this test to ``handler``."""
        self.patch(type(self.Job), "_find_job_handler", lambda job: handler)
        return handler

    def enqueue(self, partner=None, payload=None, **kwargs):
        partner = partner or self.partner
        kwargs.setdefault("res_model", "res.partner")
        kwargs.setdefault("res_id", partner.id)
        return self.Job._enqueue(
            self.backend,
            kwargs.pop("object_type", "company"),
            kwargs.pop("operation", "export"),
            payload=payload,
            **kwargs,
        )

    def set_job(self, job, **vals):
        job._engine_write(vals)
        job.invalidate_recordset()

    def make_due(self, job):
        self.set_job(job, next_attempt_at=self.env.cr.now() - timedelta(seconds=1))

    def now(self):
        return self.env.cr.now().replace(microsecond=0)


@tagged("post_install", "-at_install")
class TestCrmSyncJobEnqueue(QueueCase):
    def test_enqueue_stores_pending_job(self):
        job = self.enqueue(payload={"fields": ["name"]})
        self.assertEqual(job.state, "pending")
        self.assertEqual(job.backend_id, self.backend)
        self.assertEqual(job.company_id, self.backend.company_id)
        self.assertEqual(job.payload, {"fields": ["name"]})
        self.assertEqual(job.next_attempt_at, self.now())
        self.assertEqual(job.attempts, 0)
        self.assertEqual(job.max_attempts, backoff.MAX_ATTEMPTS)
        self.assertEqual(
            job.idempotency_key,
            f"{self.backend.id}:company:export:res.partner:{self.partner.id}",
        )

    def test_enqueue_coalesces_edits_of_one_record(self):
        first = self.enqueue(payload={"values": {"name": "A"}, "fields": ["name"]})
        old_date = self.now() - timedelta(hours=1)
        self.env.cr.execute(
            "UPDATE crm_sync_job SET create_date = %s, next_attempt_at = %s "
            "WHERE id = %s",
            (old_date, self.now() + timedelta(minutes=5), first.id),
        )
        first.invalidate_recordset()

        second = self.enqueue(
            payload={"values": {"phone": "+44 1632 960000"}, "fields": ["phone"]},
            priority=5,
        )

        self.assertEqual(second, first)
        self.assertEqual(
            self.Job.search_count([("idempotency_key", "=", first.idempotency_key)]), 1
        )
        self.assertEqual(
            first.payload,
            {
                "values": {"name": "A", "phone": "+44 1632 960000"},
                "fields": ["name", "phone"],
            },
        )
        self.assertEqual(first.create_date, old_date)
        self.assertEqual(first.next_attempt_at, self.now())
        self.assertEqual(first.priority, 5)

    def test_enqueue_into_failed_job_keeps_backoff(self):
        job = self.enqueue(payload={"fields": ["name"]})
        retry_at = self.now() + timedelta(minutes=3)
        self.set_job(job, state="failed", attempts=1, next_attempt_at=retry_at)

        merged = self.enqueue(payload={"fields": ["email"]})

        self.assertEqual(merged, job)
        self.assertEqual(job.state, "failed")
        self.assertEqual(job.next_attempt_at, retry_at)
        self.assertEqual(job.payload, {"fields": ["name", "email"]})

    def test_enqueue_different_records_makes_two_jobs(self):
        first = self.enqueue()
        second = self.enqueue(self.other_partner)
        third = self.enqueue(operation="import")
        self.assertEqual(len(first | second | third), 3)

    def test_enqueue_while_running_queues_follow_up(self):
        running = self.enqueue(payload={"fields": ["name"]})
        self.assertEqual(self.Job._claim_jobs(10), running)

        follow_up = self.enqueue(payload={"fields": ["phone"]})

        self.assertNotEqual(follow_up, running)
        self.assertEqual(follow_up.state, "pending")
        self.assertEqual(running.payload, {"fields": ["name"]})
        self.assertFalse(
            self.Job._claim_jobs(10), "a key with a running job must not start twice"
        )
        running._mark_done("pushed")
        self.assertEqual(self.Job._claim_jobs(10), follow_up)

    def test_enqueue_many_merges_keys_within_batch(self):
        jobs = self.Job._enqueue_many(
            self.backend,
            [
                {
                    "object_type": "contact",
                    "operation": "import",
                    "crm_id": "501",
                    "payload": {"fields": ["email"]},
                },
                {
                    "object_type": "contact",
                    "operation": "import",
                    "crm_id": "501",
                    "payload": {"fields": ["phone"]},
                },
                {"object_type": "contact", "operation": "import", "crm_id": "502"},
            ],
        )
        self.assertEqual(len(jobs), 2)
        first = jobs.filtered(lambda job: job.crm_id == "501")
        self.assertEqual(first.payload, {"fields": ["email", "phone"]})

    def test_enqueue_many_skips_stored_webhook_events(self):
        event = {
            "object_type": "contact",
            "operation": "import",
            "crm_id": "601",
            "source": "webhook",
            "idempotency_key": "webhook:evt-601",
            "payload": {"events": [{"eventId": 601}]},
        }
        created = self.Job._enqueue_many(self.backend, [event], skip_existing=True)
        self.assertEqual(len(created), 1)
        self.assertFalse(
            self.Job._enqueue_many(self.backend, [event], skip_existing=True)
        )

        created._engine_write({"state": "done"})
        self.assertFalse(
            self.Job._enqueue_many(self.backend, [event], skip_existing=True),
            "a redelivered event must not run again after its job is done",
        )
        self.assertEqual(self.Job._enqueue(self.backend, **event), created)

    def test_enqueue_rejects_bad_requests(self):
        with self.assertRaisesRegex(ValueError, "Unknown operation 'sync'"):
            self.enqueue(operation="sync")
        with self.assertRaisesRegex(ValueError, "Unknown object type 'invoice'"):
            self.enqueue(object_type="invoice")
        with self.assertRaisesRegex(ValueError, "names no record"):
            self.Job._enqueue(self.backend, "contact", "import")
        with self.assertRaisesRegex(ValueError, "not JSON"):
            self.enqueue(payload={"when": object()})

    def test_enqueue_triggers_queue_cron(self):
        cron = self.env.ref("external_crm_sync.ir_cron_crm_sync_process_queue")
        Trigger = self.env["ir.cron.trigger"].sudo()
        before = Trigger.search_count([("cron_id", "=", cron.id)])
        self.enqueue()
        self.assertEqual(Trigger.search_count([("cron_id", "=", cron.id)]), before + 1)


@tagged("post_install", "-at_install")
class TestCrmSyncJobRun(QueueCase):
    def test_claim_orders_by_priority_then_time(self):
        late = self.enqueue(priority=10)
        urgent = self.enqueue(self.other_partner, priority=1)
        self.set_job(late, next_attempt_at=self.now() - timedelta(minutes=1))
        later = self.enqueue(operation="import", priority=10)

        claimed = self.Job._claim_jobs(2)

        self.assertEqual(claimed.ids, [urgent.id, late.id])
        self.assertEqual(set(claimed.mapped("state")), {"running"})
        self.assertEqual(claimed[0].claimed_at, self.now().replace(microsecond=0))
        self.assertEqual(later.state, "pending")

    def test_claim_skips_jobs_not_due(self):
        job = self.enqueue()
        self.set_job(job, next_attempt_at=self.now() + timedelta(seconds=30))
        self.assertFalse(self.Job._claim_jobs(10))

    def test_success_marks_done(self):
        handler = self.use_handler(ScriptedHandler(lambda job: "updated 2 fields"))
        job = self.enqueue()

        processed = self.Job._process_pending()

        self.assertEqual(processed, job)
        self.assertEqual(handler.calls, [job.id])
        self.assertEqual(job.state, "done")
        self.assertEqual(job.result_message, "updated 2 fields")
        self.assertEqual(job.attempts, 1)
        self.assertEqual(job.date_done, self.now())

    def test_failure_rolls_back_only_its_own_job(self):
        failing = self.enqueue(self.partner)
        succeeding = self.enqueue(self.other_partner)
        self.use_handler(
            ScriptedHandler(
                renaming(
                    self.partner,
                    "Half Written",
                    then=CrmServerError("CRM down", status=503),
                ),
                renaming(self.other_partner, "Renamed By Job"),
            )
        )

        self.Job._process_pending()

        self.assertEqual(failing.state, "failed")
        self.assertEqual(self.partner.name, "Queue Test Ltd")
        self.assertEqual(succeeding.state, "done")
        self.assertEqual(self.other_partner.name, "Renamed By Job")

    def test_crm_id_survives_failed_attempt(self):
        job = self.enqueue()

        def create_then_fail(job):
            job._store_crm_id(9001)
            self.partner.with_env(job.env).write({"name": "Not Kept"})
            raise CrmServerError("association call failed", status=502)

        self.use_handler(ScriptedHandler(create_then_fail))
        self.Job._process_pending()

        self.assertEqual(job.state, "failed")
        self.assertEqual(job.crm_id, "9001")
        self.assertEqual(self.partner.name, "Queue Test Ltd")

    def test_rate_limit_honours_retry_after(self):
        job = self.enqueue()
        self.use_handler(
            ScriptedHandler(
                raising(CrmRateLimitError("Too many requests", retry_after=30))
            )
        )

        self.Job._process_pending()

        self.assertEqual(job.state, "failed")
        self.assertEqual(job.attempts, 1)
        self.assertEqual(job.error_category, "rate_limit")
        self.assertEqual(job.error_message, "Too many requests")
        delay = (job.next_attempt_at - self.now()).total_seconds()
        self.assertGreaterEqual(delay, 29, "Retry-After is a floor of the delay")
        self.assertLessEqual(delay, 31)

    def test_retryable_error_backs_off_within_bounds(self):
        job = self.enqueue()
        self.set_job(job, attempts=3)
        self.use_handler(
            ScriptedHandler(raising(CrmServerError("bad gateway", status=502)))
        )

        self.Job._process_pending()

        self.assertEqual(job.attempts, 4)
        delay = (job.next_attempt_at - self.now()).total_seconds()
        ceiling = backoff.BASE_DELAY_SECONDS * backoff.BACKOFF_FACTOR**3
        self.assertGreaterEqual(delay, 0)
        self.assertLessEqual(delay, ceiling + 1)

    def test_retry_sweep_requeues_due_failed_jobs(self):
        due = self.enqueue()
        waiting = self.enqueue(self.other_partner)
        self.set_job(
            due, state="failed", next_attempt_at=self.now() - timedelta(seconds=5)
        )
        self.set_job(
            waiting, state="failed", next_attempt_at=self.now() + timedelta(minutes=5)
        )

        swept = self.Job._cron_retry_failed()

        self.assertEqual(swept, due)
        self.assertEqual(due.state, "pending")
        self.assertEqual(waiting.state, "failed")

    def test_last_attempt_becomes_exception(self):
        job = self.enqueue(payload={"values": {"email": "jane.doe@example.co.uk"}})
        self.set_job(job, max_attempts=2)
        self.use_handler(
            ScriptedHandler(
                raising(CrmServerError("CRM error 500", status=500)),
                raising(CrmServerError("CRM error 500", status=500)),
            )
        )

        self.Job._process_pending()
        self.assertEqual(job.state, "failed")
        self.make_due(job)
        self.Job._cron_retry_failed()
        with self.assertLogs(JOB_LOGGER, "ERROR") as logs:
            self.Job._process_pending()

        self.assertEqual(job.state, "exception")
        self.assertEqual(job.attempts, 2)
        self.assertEqual(job.error_category, "server")
        self.assertEqual(job.exception_kind, "error")
        self.assertIn("CRM error 500", job.error_message)
        self.assertIn("gave up after 2 attempts", job.error_message)
        self.assertEqual(len(logs.output), 1)
        line = logs.output[0]
        self.assertIn(f"Job {job.id} ", line)
        self.assertIn(f"backend {self.backend.id}", line)
        self.assertIn("export company", line)
        self.assertNotIn("jane.doe", line)

    def test_non_retryable_error_is_exception_at_once(self):
        job = self.enqueue()
        self.use_handler(
            ScriptedHandler(
                raising(
                    CrmValidationError("Contact 12 field 'email': 'x@' is invalid.")
                )
            )
        )
        with self.assertLogs(JOB_LOGGER, "WARNING") as logs:
            self.Job._process_pending()

        self.assertEqual(job.state, "exception")
        self.assertEqual(job.attempts, 1)
        self.assertEqual(job.error_category, "validation")
        self.assertEqual(
            job.error_message, "Contact 12 field 'email': 'x@' is invalid."
        )
        self.assertNotIn("x@", "\n".join(logs.output))

    def test_review_exception_keeps_resolution_data(self):
        job = self.enqueue()
        data = {"crm_id": "77", "matched_on": "vat"}
        self.use_handler(
            ScriptedHandler(
                raising(
                    ReviewNeeded(
                        "Company 'Queue Test Ltd' may already exist.",
                        kind="duplicate",
                        data=data,
                        candidate_ids=[self.other_partner.id, 999999999],
                    )
                )
            )
        )

        self.Job._process_pending()

        self.assertEqual(job.state, "exception")
        self.assertEqual(job.exception_kind, "duplicate")
        self.assertEqual(job.error_category, "duplicate")
        self.assertEqual(job.exception_data, data)
        self.assertIn('"matched_on": "vat"', job.exception_data_display)
        self.assertEqual(job.candidate_partner_ids, self.other_partner)

    def test_user_error_becomes_validation_exception(self):
        job = self.enqueue()
        self.use_handler(
            ScriptedHandler(raising(UserError("Partner 'X' field 'VAT': invalid.")))
        )
        self.Job._process_pending()
        self.assertEqual(job.state, "exception")
        self.assertEqual(job.error_category, "validation")
        self.assertEqual(job.error_message, "Partner 'X' field 'VAT': invalid.")

    def test_unexpected_error_logs_frames_not_message(self):
        job = self.enqueue()
        self.use_handler(ScriptedHandler(raising(KeyError("jane.doe@example.co.uk"))))
        with self.assertLogs(JOB_LOGGER, "ERROR") as logs:
            self.Job._process_pending()

        self.assertEqual(job.state, "exception")
        self.assertEqual(job.error_category, "internal")
        self.assertIn("KeyError", job.error_message)
        self.assertIn("jane.doe@example.co.uk", job.error_message)
        output = "\n".join(logs.output)
        self.assertIn("Traceback", output)
        self.assertIn("test_crm_sync_job.py", output)
        self.assertNotIn("jane.doe", output)

    def test_missing_handler_is_exception(self):
        self.use_handler(None)
        job = self.enqueue(operation="merge")
        with self.assertLogs(JOB_LOGGER, "WARNING"):
            self.Job._process_pending()
        self.assertEqual(job.state, "exception")
        self.assertEqual(job.error_category, "internal")
        self.assertIn("crm.sync.merger", job.error_message)

    def test_batch_handler_runs_jobs_together(self):
        handler = self.use_handler(BatchHandler())
        jobs = self.Job._enqueue_many(
            self.backend,
            [
                {"object_type": "contact", "operation": "export", "crm_id": str(number)}
                for number in range(3)
            ],
        )
        other = self.enqueue(operation="import")
        handler.failing_ids = {jobs[1].id}

        with self.assertLogs(JOB_LOGGER, "WARNING"):
            self.Job._process_pending()

        self.assertEqual(sorted(handler.batches[0]), sorted(jobs.ids))
        self.assertEqual(jobs[0].state, "done")
        self.assertEqual(jobs[0].result_message, "pushed in batch 1")
        self.assertEqual(jobs[1].state, "exception")
        self.assertEqual(jobs[1].error_category, "validation")
        self.assertEqual(jobs[2].state, "done")
        self.assertEqual(len(handler.batches), 1, "a job of another kind is no batch")
        self.assertEqual(handler.calls, [other.id])
        self.assertEqual(other.state, "done")

    def test_success_resolves_older_exception_of_record(self):
        failed = self.enqueue()
        self.set_job(failed, state="exception", error_category="server", attempts=8)
        import_exception = self.enqueue(operation="import")
        self.set_job(import_exception, state="exception", error_category="server")
        other_record = self.enqueue(self.other_partner)
        self.set_job(other_record, state="exception", error_category="server")
        self.use_handler(ScriptedHandler())

        later = self.enqueue()
        self.assertNotEqual(later, failed)
        self.Job._process_pending()

        self.assertEqual(later.state, "done")
        self.assertEqual(failed.state, "done")
        self.assertIn(f"job {later.id}", failed.result_message)
        self.assertEqual(import_exception.state, "exception")
        self.assertEqual(other_record.state, "exception")

    def test_success_resolves_exception_by_crm_id(self):
        failed = self.Job._enqueue(self.backend, "contact", "import", crm_id="77")
        self.set_job(failed, state="exception", error_category="validation")
        later = self.enqueue(operation="import", object_type="contact")
        self.set_job(later, crm_id="77")
        self.use_handler(ScriptedHandler())

        self.Job._process_pending()

        self.assertEqual(later.state, "done")
        self.assertEqual(failed.state, "done")

    def test_stale_running_job_is_requeued(self):
        stale = self.enqueue()
        fresh = self.enqueue(self.other_partner)
        self.Job._claim_jobs(2)
        long_ago = self.now() - timedelta(
            seconds=crm_sync_job.STALE_RUNNING_TIMEOUT + 60
        )
        self.set_job(stale, claimed_at=long_ago)

        with self.assertLogs(JOB_LOGGER, "WARNING"):
            requeued = self.Job._cron_requeue_stale()

        self.assertEqual(requeued, stale)
        self.assertEqual(stale.state, "pending")
        self.assertEqual(stale.attempts, 1)
        self.assertFalse(stale.claimed_at)
        self.assertIn("stopped before it finished", stale.error_message)
        self.assertEqual(fresh.state, "running")

    def test_stale_job_out_of_attempts_is_exception(self):
        job = self.enqueue()
        self.set_job(job, max_attempts=1)
        self.Job._claim_jobs(1)
        self.set_job(job, claimed_at=self.now() - timedelta(days=1))

        with self.assertLogs(JOB_LOGGER, "ERROR"):
            self.Job._cron_requeue_stale()

        self.assertEqual(job.state, "exception")
        self.assertEqual(job.error_category, "internal")

    def test_result_of_requeued_job_is_dropped(self):
        job = self.enqueue()

        def requeued_meanwhile(job):
            # The repair cron gave the job to another worker during this run.
            job.env.cr.execute(
                "UPDATE crm_sync_job SET claimed_at = claimed_at + interval '1 hour' "
                "WHERE id = %s",
                (job.id,),
            )
            return "late result"

        self.use_handler(ScriptedHandler(requeued_meanwhile))
        with self.assertLogs(JOB_LOGGER, "WARNING"):
            self.Job._process_pending()
        job.invalidate_recordset()
        self.assertEqual(job.state, "running")
        self.assertFalse(job.result_message)

    def test_cron_processes_queue(self):
        handler = self.use_handler(ScriptedHandler())
        job = self.enqueue()
        self.Job._cron_process_queue()
        self.assertEqual(handler.calls, [job.id])
        self.assertEqual(job.state, "done")


@tagged("post_install", "-at_install")
class TestCrmSyncJobConcurrencyErrors(QueueCase):
    """Real PostgreSQL concurrency errors raised inside a job's handler."""

    @classmethod
    def setUpClass(cls):
        # The row must exist before the test transaction takes its snapshot, so
        # it is committed before the class cursor opens and dropped after.
        with closing(new_cursor()) as cr:
            cr.execute(
                f"CREATE TABLE IF NOT EXISTS {LOCK_TABLE} "
                "(id integer PRIMARY KEY, hits integer NOT NULL DEFAULT 0)"
            )
            cr.execute(
                f"INSERT INTO {LOCK_TABLE} (id) VALUES (1), (2), (3), (4) "
                "ON CONFLICT DO NOTHING"
            )
            cr.commit()
        cls.addClassCleanup(cls._drop_lock_table)
        super().setUpClass()

    @classmethod
    def _drop_lock_table(cls):
        with closing(new_cursor()) as cr:
            cr.execute(f"DROP TABLE IF EXISTS {LOCK_TABLE}")
            cr.commit()

    def bump_row_elsewhere(self):
        with closing(new_cursor()) as cr:
            cr.execute(f"UPDATE {LOCK_TABLE} SET hits = hits + 1 WHERE id = 1")
            cr.commit()

    def test_serialization_failure_requeues_without_attempt(self):
        job = self.enqueue()
        self.bump_row_elsewhere()

        def update_row(job):
            job.env.cr.execute(
                f"UPDATE {LOCK_TABLE} SET hits = hits + 1 WHERE id = 1",
                log_exceptions=False,
            )

        self.use_handler(ScriptedHandler(update_row, lambda job: "second try"))
        with self.assertLogs(JOB_LOGGER, logging.INFO) as logs:
            self.Job._process_pending(limit=1)

        self.assertEqual(job.state, "pending")
        self.assertEqual(job.attempts, 0)
        self.assertEqual(job.concurrency_retries, 1)
        self.assertIn("(SerializationFailure)", logs.output[0])
        self.assertFalse(job.error_category)
        delay = (job.next_attempt_at - self.now()).total_seconds()
        self.assertGreaterEqual(delay, 0)
        self.assertLessEqual(delay, crm_sync_job.CONCURRENCY_BASE_DELAY + 1)

        self.make_due(job)
        self.Job._process_pending()
        self.assertEqual(job.state, "done")
        self.assertEqual(job.result_message, "second try")
        self.assertEqual(job.attempts, 1)

    def test_deadlock_requeues_without_attempt(self):
        job = self.enqueue()
        test_pid = self.env.cr._cnx.get_backend_pid()
        other = new_cursor()
        self.addCleanup(other.close)
        # The other transaction detects deadlocks late, so this one is the victim.
        other.execute("SET deadlock_timeout = '10s'")
        other.execute(f"SELECT id FROM {LOCK_TABLE} WHERE id = 4 FOR UPDATE")

        def close_the_cycle():
            with closing(new_cursor()) as observer:
                if wait_until_blocked(observer, test_pid):
                    # Waits until the handler's savepoint rollback frees row 3.
                    other.execute(
                        f"SELECT id FROM {LOCK_TABLE} WHERE id = 3 FOR UPDATE"
                    )
            other.rollback()

        cycle = threading.Thread(target=close_the_cycle)

        def lock_both_rows(job):
            job.env.cr.execute("SET LOCAL deadlock_timeout = '100ms'")
            job.env.cr.execute(f"SELECT id FROM {LOCK_TABLE} WHERE id = 3 FOR UPDATE")
            cycle.start()
            job.env.cr.execute(
                f"SELECT id FROM {LOCK_TABLE} WHERE id = 4 FOR UPDATE",
                log_exceptions=False,
            )

        self.use_handler(ScriptedHandler(lock_both_rows))
        with self.assertLogs(JOB_LOGGER, logging.INFO) as logs:
            self.Job._process_pending(limit=1)
        cycle.join(THREAD_TIMEOUT)

        self.assertFalse(cycle.is_alive(), f"stuck at:\n{stack_of(cycle)}")
        self.assertEqual(job.state, "pending")
        self.assertEqual(job.attempts, 0)
        self.assertEqual(job.concurrency_retries, 1)
        self.assertIn("(DeadlockDetected)", logs.output[0])

    def test_lock_not_available_requeues_without_attempt(self):
        job = self.enqueue()

        def lock_row(job):
            job.env.cr.execute(
                f"SELECT id FROM {LOCK_TABLE} WHERE id = 2 FOR UPDATE NOWAIT",
                log_exceptions=False,
            )

        self.use_handler(ScriptedHandler(lock_row))
        with closing(new_cursor()) as other:
            other.execute(f"SELECT id FROM {LOCK_TABLE} WHERE id = 2 FOR UPDATE")
            with self.assertLogs(JOB_LOGGER, logging.INFO) as logs:
                self.Job._process_pending()
            other.rollback()

        self.assertEqual(job.state, "pending")
        self.assertEqual(job.attempts, 0)
        self.assertEqual(job.concurrency_retries, 1)
        self.assertIn("(LockNotAvailable)", logs.output[0])


@tagged("post_install", "-at_install")
class TestCrmSyncJobActions(QueueCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sync_user = new_test_user(
            cls.env,
            login="crm_sync_queue_user",
            groups="base.group_user,external_crm_sync.group_crm_sync_user",
        )
        cls.plain_user = new_test_user(
            cls.env, login="crm_sync_queue_plain", groups="base.group_user"
        )

    def make_exception(self, partner):
        job = self.enqueue(partner, payload={"fields": ["name"]})
        self.set_job(
            job,
            state="exception",
            attempts=8,
            error_category="validation",
            error_message="Company field 'VAT': invalid.",
            exception_kind="error",
        )
        return job

    def test_bulk_retry_as_sync_user(self):
        jobs = self.make_exception(self.partner) | self.make_exception(
            self.other_partner
        )

        jobs.with_user(self.sync_user).action_retry()

        for job in jobs:
            self.assertEqual(job.state, "pending")
            self.assertEqual(job.attempts, 0)
            self.assertFalse(job.error_message)
            self.assertFalse(job.error_category)
            self.assertEqual(job.write_uid, self.sync_user)

    def test_bulk_ignore_as_sync_user(self):
        jobs = self.make_exception(self.partner) | self.enqueue(self.other_partner)

        jobs.with_user(self.sync_user).action_ignore()

        self.assertEqual(set(jobs.mapped("state")), {"ignored"})
        self.assertIn(self.sync_user.name, jobs[0].result_message)

    def test_retry_rejects_done_job_by_id(self):
        done = self.enqueue()
        self.set_job(done, state="done")
        failed = self.make_exception(self.other_partner)
        with self.assertRaisesRegex(UserError, f"{done.id} \\(Done\\)"):
            (done | failed).with_user(self.sync_user).action_retry()
        self.assertEqual(failed.state, "exception")

    def test_retry_absorbs_newer_waiting_job(self):
        old = self.make_exception(self.partner)
        newer = self.enqueue(payload={"fields": ["email"]})
        self.assertNotEqual(newer, old)

        old.with_user(self.sync_user).action_retry()

        self.assertFalse(newer.exists())
        self.assertEqual(old.state, "pending")
        self.assertEqual(old.payload, {"fields": ["name", "email"]})

    def test_user_cannot_create_jobs(self):
        vals = {
            "backend_id": self.backend.id,
            "object_type": "company",
            "operation": "export",
        }
        with self.assertRaises(AccessError):
            self.Job.with_user(self.sync_user).create(vals)
        with self.assertRaisesRegex(AccessError, "sync engine only"):
            self.Job.create(vals)

    def test_user_cannot_write_state(self):
        job = self.make_exception(self.partner)
        with self.assertRaisesRegex(AccessError, "state"):
            job.with_user(self.sync_user).write({"state": "done"})
        with self.assertRaisesRegex(AccessError, "attempts"):
            job.write({"attempts": 0})
        self.assertEqual(job.state, "exception")

    def test_sync_user_reads_and_plain_user_cannot(self):
        job = self.make_exception(self.partner)
        self.assertEqual(job.with_user(self.sync_user).error_category, "validation")
        with self.assertRaises(AccessError):
            job.with_user(self.plain_user).read(["state"])

    def test_jobs_of_other_company_hidden(self):
        other_company = self.env["res.company"].create({"name": "Queue Other Co"})
        other_backend = self.env["crm.sync.backend"].create(
            {
                "name": "Other company sandbox",
                "base_url": self.sandbox.base_url,
                "company_id": other_company.id,
            }
        )
        own = self.enqueue()
        hidden = self.Job._enqueue(
            other_backend,
            "company",
            "export",
            res_model="res.partner",
            res_id=self.partner.id,
        )
        visible = self.Job.with_user(self.sync_user).search(
            [("id", "in", (own | hidden).ids)]
        )
        self.assertEqual(visible.ids, own.ids)

    def test_open_record_returns_form_action(self):
        job = self.enqueue()
        action = job.action_open_record()
        self.assertEqual(action["res_model"], "res.partner")
        self.assertEqual(action["res_id"], self.partner.id)

        deleted = self.env["res.partner"].create({"name": "Short Lived Ltd"})
        orphan = self.enqueue(deleted)
        deleted.unlink()
        with self.assertRaisesRegex(UserError, f"Job {orphan.id} has no Odoo record"):
            orphan.action_open_record()

    def test_open_resolution_uses_wizard_when_installed(self):
        job = self.make_exception(self.partner)
        self.set_job(job, exception_kind="duplicate")
        if "crm.sync.resolve.wizard" in self.env:
            action = job.action_open_resolution()
            self.assertEqual(action["res_model"], "crm.sync.resolve.wizard")
            wizard = self.env[action["res_model"]].browse(action["res_id"])
            self.assertEqual(wizard.job_id, job)
        else:
            with self.assertRaisesRegex(UserError, "Resolution is not available"):
                job.action_open_resolution()

    def test_form_shows_payload_as_json(self):
        job = self.enqueue(payload={"values": {"name": "Acme"}, "fields": ["name"]})
        self.assertEqual(
            job.payload_display,
            '{\n  "fields": [\n    "name"\n  ],\n'
            '  "values": {\n    "name": "Acme"\n  }\n}',
        )
        self.assertEqual(job.record_name, "Queue Test Ltd")
        self.assertEqual(job.display_name, f"Job {job.id}: Export Company")


@tagged("post_install", "-at_install")
class TestCrmSyncJobRetention(QueueCase):
    def make_finished(self, partner, state, days_ago):
        job = self.enqueue(
            partner, operation="import" if state == "ignored" else "export"
        )
        self.set_job(job, state=state, date_done=self.now() - timedelta(days=days_ago))
        return job

    def test_old_done_and_ignored_jobs_deleted_in_chunks(self):
        partners = self.env["res.partner"].create(
            [{"name": f"Retention {number}"} for number in range(3)]
        )
        old = (
            self.make_finished(partners[0], "done", 40)
            | self.make_finished(partners[1], "done", 31)
            | self.make_finished(partners[2], "ignored", 60)
        )
        recent = self.make_finished(self.partner, "done", 5)
        old_exception = self.enqueue(self.other_partner)
        self.set_job(
            old_exception, state="exception", date_done=self.now() - timedelta(days=90)
        )

        deleted = self.Job._delete_old_jobs(30, chunk_size=2)

        self.assertEqual(deleted, 3)
        self.assertFalse(old.exists())
        self.assertTrue(recent.exists())
        self.assertTrue(old_exception.exists())

    def test_retention_days_from_system_parameter(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param(crm_sync_job.RETENTION_DAYS_PARAM, "3")
        job = self.make_finished(self.partner, "done", 4)
        self.Job._cron_delete_old_jobs()
        self.assertFalse(job.exists())

        params.set_param(crm_sync_job.RETENTION_DAYS_PARAM, "soon")
        with self.assertLogs(JOB_LOGGER, "WARNING") as logs:
            days = self.Job._get_retention_days()
        self.assertEqual(days, crm_sync_job.DEFAULT_RETENTION_DAYS)
        self.assertIn("'soon'", logs.output[0])


@tagged("post_install", "-at_install")
class TestCrmSyncJobWorkers(TransactionCase):
    """Two workers on their own connections, with committed jobs."""

    JOB_COUNT = 40

    def setUp(self):
        super().setUp()
        with closing(new_cursor()) as cr:
            env = worker_env(self.registry, cr)
            backend = env["crm.sync.backend"].create(
                {"name": "Queue workers test", "base_url": "http://127.0.0.1:9"}
            )
            jobs = env["crm.sync.job"]._enqueue_many(
                backend,
                [
                    {
                        "object_type": "contact",
                        "operation": "import",
                        "crm_id": str(number),
                    }
                    for number in range(self.JOB_COUNT)
                ],
            )
            cr.commit()
        self.backend_id = backend.id
        self.job_ids = set(jobs.ids)
        self.addCleanup(self._delete_committed_fixtures)

    def _delete_committed_fixtures(self):
        with closing(new_cursor()) as cr:
            cr.execute(
                "DELETE FROM crm_sync_job WHERE backend_id = %s", (self.backend_id,)
            )
            env = worker_env(self.registry, cr)
            env["crm.sync.backend"].browse(self.backend_id).unlink()
            cr.execute(
                "DELETE FROM ir_cron_trigger WHERE cron_id IN "
                "(SELECT res_id FROM ir_model_data WHERE module = 'external_crm_sync' "
                "AND model = 'ir.cron')"
            )
            cr.commit()

    def run_threads(self, *targets):
        failures = []

        def guarded(target):
            try:
                target()
            except Exception as error:  # pylint: disable=broad-except
                failures.append(error)

        threads = [
            threading.Thread(target=guarded, args=(target,)) for target in targets
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(THREAD_TIMEOUT)
            self.assertFalse(
                thread.is_alive(), f"a worker thread is stuck at:\n{stack_of(thread)}"
            )
        self.assertFalse(failures, f"worker threads failed: {failures!r}")

    def committed_states(self):
        with closing(new_cursor()) as cr:
            cr.execute(
                "SELECT id, state FROM crm_sync_job WHERE backend_id = %s",
                (self.backend_id,),
            )
            return dict(cr.fetchall())

    def test_skip_locked_gives_workers_different_jobs(self):
        first_holds_locks = threading.Event()
        second_claimed = threading.Event()
        claimed = {}

        def first_worker():
            with closing(new_cursor()) as cr:
                env = worker_env(self.registry, cr)
                backend = env["crm.sync.backend"].browse(self.backend_id)
                try:
                    claimed["first"] = (
                        env["crm.sync.job"]._claim_jobs(5, backend=backend).ids
                    )
                finally:
                    first_holds_locks.set()
                # Keep the row locks until the second worker has claimed.
                second_claimed.wait(THREAD_TIMEOUT)
                cr.commit()

        def second_worker():
            first_holds_locks.wait(THREAD_TIMEOUT)
            try:
                with closing(new_cursor()) as cr:
                    env = worker_env(self.registry, cr)
                    backend = env["crm.sync.backend"].browse(self.backend_id)
                    claimed["second"] = (
                        env["crm.sync.job"]._claim_jobs(5, backend=backend).ids
                    )
                    cr.commit()
            finally:
                second_claimed.set()

        self.run_threads(first_worker, second_worker)

        self.assertEqual(len(claimed["first"]), 5)
        self.assertEqual(len(claimed["second"]), 5)
        self.assertFalse(set(claimed["first"]) & set(claimed["second"]))
        ordered = sorted(self.job_ids)
        self.assertEqual(sorted(claimed["first"]), ordered[:5])
        self.assertEqual(sorted(claimed["second"]), ordered[5:10])
        states = self.committed_states()
        self.assertEqual(
            {job_id for job_id, state in states.items() if state == "running"},
            set(ordered[:10]),
        )

    def test_two_workers_run_each_job_once(self):
        runs = []
        runs_lock = threading.Lock()

        class RecordingHandler:
            def _run_job(self, job):
                with runs_lock:
                    runs.append((threading.current_thread().name, job.id))
                # Give the other worker time to claim in between.
                time.sleep(0.01)
                return "recorded"

        handler = RecordingHandler()
        self.patch(
            type(self.env["crm.sync.job"]), "_find_job_handler", lambda job: handler
        )
        start = threading.Barrier(2)

        def worker():
            with closing(new_cursor()) as cr:
                env = worker_env(self.registry, cr)
                backend = env["crm.sync.backend"].browse(self.backend_id)
                start.wait(THREAD_TIMEOUT)
                env["crm.sync.job"]._process_queue(
                    max_jobs=self.JOB_COUNT, max_seconds=THREAD_TIMEOUT, backend=backend
                )
                cr.commit()

        self.run_threads(worker, worker)

        counts = collections.Counter(job_id for _thread, job_id in runs)
        self.assertEqual(set(counts), self.job_ids)
        self.assertEqual(
            [job_id for job_id, count in counts.items() if count > 1],
            [],
            "jobs ran more than once",
        )
        workers = {thread for thread, _job_id in runs}
        self.assertEqual(len(workers), 2, f"only {workers} ran jobs")
        self.assertEqual(set(self.committed_states().values()), {"done"})

    def test_racing_enqueue_coalesces_on_retry(self):
        tries = []
        result = {}
        blocked_pid = []
        ready = threading.Event()

        with closing(new_cursor()) as first_cr:
            first_env = worker_env(self.registry, first_cr)
            first_backend = first_env["crm.sync.backend"].browse(self.backend_id)
            first_job = first_env["crm.sync.job"]._enqueue(
                first_backend,
                "contact",
                "export",
                crm_id="race",
                payload={"fields": ["name"]},
            )

            def second_worker():
                with closing(new_cursor()) as cr:
                    env = worker_env(self.registry, cr)
                    # The snapshot is taken now, before the first job commits.
                    cr.execute("SELECT count(*) FROM crm_sync_job")
                    blocked_pid.append(cr._cnx.get_backend_pid())
                    ready.set()

                    # Retry in a new transaction on a concurrency error, as
                    # Odoo's RPC and HTTP layers do (odoo.service.model.retrying).
                    backend = env["crm.sync.backend"].browse(self.backend_id)
                    while len(tries) < 3:
                        tries.append(1)
                        try:
                            job = env["crm.sync.job"]._enqueue(
                                backend,
                                "contact",
                                "export",
                                crm_id="race",
                                payload={"fields": ["email"]},
                            )
                        except psycopg2.errors.SerializationFailure:
                            cr.rollback()
                            continue
                        result["job_id"] = job.id
                        cr.commit()
                        break

            thread = threading.Thread(target=second_worker)
            thread.start()
            ready.wait(THREAD_TIMEOUT)
            self.assertTrue(
                wait_until_blocked(first_cr, blocked_pid[0]),
                "the second worker never waited for the first transaction's lock",
            )
            first_cr.commit()
            thread.join(THREAD_TIMEOUT)
            self.assertFalse(
                thread.is_alive(), f"the second worker is stuck at:\n{stack_of(thread)}"
            )

        self.assertEqual(len(tries), 2, "the first try must hit the concurrent insert")
        self.assertEqual(result["job_id"], first_job.id)
        with closing(new_cursor()) as cr:
            cr.execute(
                "SELECT id, payload FROM crm_sync_job "
                "WHERE backend_id = %s AND crm_id = 'race'",
                (self.backend_id,),
            )
            rows = cr.fetchall()
        self.assertEqual(rows, [(first_job.id, {"fields": ["name", "email"]})])


@tagged("post_install", "-at_install")
class TestCrmSyncJobSandbox(PartnerSyncCase):
    """The queue with the real export handler, against the sandbox CRM."""

    COMPANIES_PATH = "/crm/v3/objects/companies"

    def create_company(self, name):
        return self.Partner.with_context(**{NO_EXPORT_CONTEXT: True}).create(
            {"name": name, "is_company": True, "customer_rank": 1}
        )

    def queue_export(self, partner):
        return self.env["crm.sync.exporter"]._queue_export(
            self.backend, "company", partner, ["name"]
        )

    def retry_when_due(self, jobs):
        past = self.env.cr.now() - timedelta(seconds=1)
        jobs._engine_write({"next_attempt_at": past})
        self.Job._cron_retry_failed()
        return self.process()

    def crm_company_names(self):
        return sorted(
            record["properties"]["name"]
            for record in self.sandbox.store.all("companies")
        )

    def test_rate_limit_storm_retries_then_exports_once(self):
        partners = self.create_company("Storm One Ltd") | self.create_company(
            "Storm Two Ltd"
        )
        jobs = self.queue_export(partners[0]) | self.queue_export(partners[1])
        self.sandbox.faults.fail_next(count=50, status=429)

        self.process()

        # The queue's clock drops microseconds, as Datetime fields do.
        now = self.env.cr.now().replace(microsecond=0)
        for job in jobs:
            self.assertEqual(job.state, "failed")
            self.assertEqual(job.error_category, "rate_limit")
            self.assertEqual(job.attempts, 1)
            # The sandbox sends Retry-After: 1, a floor of the backoff.
            self.assertGreaterEqual((job.next_attempt_at - now).total_seconds(), 1)
        self.assertEqual(self.crm_company_names(), [])

        self.sandbox.faults.clear()
        self.retry_when_due(jobs)

        self.assertEqual(set(jobs.mapped("state")), {"done"})
        self.assertEqual(self.crm_company_names(), ["Storm One Ltd", "Storm Two Ltd"])

    def test_retry_after_lost_response_creates_no_duplicate(self):
        partner = self.create_company("Lost Reply Ltd")
        job = self.queue_export(partner)
        # The sandbox creates the company but sends a cut-off body back.
        self.sandbox.faults.malformed_next(
            kind="truncated", path_prefix=self.COMPANIES_PATH + "/batch/create"
        )

        self.process()

        self.assertEqual(job.state, "failed")
        self.assertEqual(job.error_category, "malformed")
        self.assertEqual(self.crm_company_names(), ["Lost Reply Ltd"])

        self.retry_when_due(job)

        self.assertEqual(job.state, "done")
        self.assertEqual(self.crm_company_names(), ["Lost Reply Ltd"])
        crm_ids = (
            self.bindings("company")
            .filtered(lambda binding: binding.partner_id == partner)
            .mapped("crm_id")
        )
        self.assertEqual(crm_ids, [self.sandbox.store.all("companies")[0]["id"]])

    def test_timeout_after_create_makes_one_record(self):
        partner = self.create_company("Slow Reply Ltd")
        job = self.queue_export(partner)
        # The sandbox creates the company, then responds after the client gave
        # up. Odoo's test mode raises request timeouts below 10 s to 10 s.
        self.backend.timeout = 5
        self.sandbox.faults.timeout_next(
            seconds=12, path_prefix=self.COMPANIES_PATH + "/batch/create"
        )

        self.process()

        self.assertEqual(job.state, "failed")
        self.assertEqual(job.error_category, "timeout")
        self.assertEqual(self.crm_company_names(), ["Slow Reply Ltd"])

        self.retry_when_due(job)

        self.assertEqual(job.state, "done")
        self.assertEqual(self.crm_company_names(), ["Slow Reply Ltd"])

    def test_crash_mid_batch_then_restart(self):
        names = [f"Crash Batch {number} Ltd" for number in range(6)]
        partners = self.Partner.browse()
        for name in names:
            partners |= self.create_company(name)
        jobs = self.Job.browse()
        for partner in partners:
            jobs |= self.queue_export(partner)

        # A worker claims the six jobs, finishes three, then dies: the other
        # three stay "running" with a claim older than the stale timeout.
        claimed = self.Job._claim_jobs(6, backend=self.backend)
        self.assertEqual(claimed, jobs)
        claimed[:3]._run(commit=False)
        long_ago = self.env.cr.now() - timedelta(hours=1)
        claimed[3:]._engine_write({"claimed_at": long_ago})
        self.assertEqual(set(claimed[3:].mapped("state")), {"running"})

        requeued = self.Job._cron_requeue_stale()
        self.assertEqual(requeued, claimed[3:])
        self.process()

        self.assertEqual(set(jobs.mapped("state")), {"done"})
        self.assertEqual(self.crm_company_names(), sorted(names))
        for partner in partners:
            self.assertEqual(len(partner.crm_binding_ids), 1, partner.name)

    def test_later_export_resolves_exception(self):
        partner = self.create_company("Flaky Ltd")
        failed = self.queue_export(partner)
        failed._engine_write({"max_attempts": 1})
        self.sandbox.faults.fail_next(count=5, status=500)
        with self.assertLogs(JOB_LOGGER, "ERROR"):
            self.process()
        self.assertEqual(failed.state, "exception")
        self.assertEqual(failed.error_category, "server")

        self.sandbox.faults.clear()
        later = self.queue_export(partner)
        self.assertNotEqual(later, failed)
        self.process()

        self.assertEqual(later.state, "done")
        self.assertEqual(failed.state, "done")
        self.assertIn("Resolved automatically", failed.result_message)
        self.assertEqual(self.crm_company_names(), ["Flaky Ltd"])
