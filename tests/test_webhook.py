"""Inbound webhooks over real HTTP, and the deletion and merge handlers.

Requests are signed here with a reference HMAC, independent of
sync_core.signature, or by the sandbox's own webhook sender.
"""

import base64
import hashlib
import hmac
import itertools
import json
import logging
import threading
import time
from datetime import timedelta
from unittest.mock import patch

import requests
from psycopg2.errors import SerializationFailure

from odoo import SUPERUSER_ID, Command, api
from odoo.sql_db import db_connect
from odoo.tests import HttpCase, TransactionCase, tagged
from odoo.tools import config

from ..models.crm_sync_backend import WEBHOOK_PATH
from ..sync_core.webhook_events import MAX_BODY_BYTES, parse_batch
from .common import SANDBOX_SECRET, SANDBOX_TOKEN, start_sandbox

HTTP_TIMEOUT = 30  # seconds per request to the test server
FIVE_MINUTES_MS = 5 * 60 * 1000
MAX_STORE_ATTEMPTS = (
    5  # transactions per worker: Odoo's MAX_TRIES_ON_CONCURRENCY_FAILURE
)


def reference_signature(secret, method, url, body, timestamp):
    """Return HubSpot's v3 signature, computed without the code under test."""
    message = method.encode() + url.encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def now_ms():
    return int(time.time() * 1000)


@tagged("post_install", "-at_install")
class TestWebhook(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sandbox = start_sandbox(cls)
        cls.backend = cls.env["crm.sync.backend"].create(
            {
                "name": "Sandbox webhooks",
                "kind": "hubspot",
                "base_url": cls.sandbox.base_url,
                "access_token": SANDBOX_TOKEN,
                "webhook_secret": SANDBOX_SECRET,
            }
        )
        cls.webhook_url = f"{cls.base_url()}{WEBHOOK_PATH}/{cls.backend.id}"
        cls.event_ids = itertools.count(7_000_001)
        cls.env.flush_all()

    def setUp(self):
        super().setUp()
        self.sandbox.reset()
        self.sandbox.webhooks.configure(
            url=self.webhook_url, client_secret=SANDBOX_SECRET
        )
        self.addCleanup(self.sandbox.webhooks.configure, url=None)

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def make_event(self, subscription_type, object_id, **fields):
        event = {
            "eventId": next(self.event_ids),
            "subscriptionId": 2_100_001,
            "portalId": 99_000_001,
            "appId": 4_400_001,
            "occurredAt": now_ms(),
            "subscriptionType": subscription_type,
            "attemptNumber": 0,
            "objectId": int(object_id),
            "changeSource": "CRM_UI",
        }
        event.update(fields)
        return event

    def post(
        self,
        body,
        *,
        timestamp=None,
        secret=SANDBOX_SECRET,
        url=None,
        signed_url=None,
        headers=None,
    ):
        """POST a body signed as HubSpot signs it; return the response."""
        url = url or self.webhook_url
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        timestamp = str(now_ms() if timestamp is None else timestamp)
        all_headers = {
            "Content-Type": "application/json",
            "X-HubSpot-Request-Timestamp": timestamp,
            "X-HubSpot-Signature-v3": reference_signature(
                secret, "POST", signed_url or url, body, timestamp
            ),
            "X-HubSpot-Signature-Version": "v3",
        }
        all_headers.update(headers or {})
        self.env.flush_all()
        response = requests.post(
            url, data=body, headers=all_headers, timeout=HTTP_TIMEOUT
        )
        self.env.invalidate_all()
        return response

    def webhook_jobs(self):
        return self.env["crm.sync.job"].search(
            [("backend_id", "=", self.backend.id), ("source", "=", "webhook")],
            order="id",
        )

    def process_jobs(self):
        """Run the queued jobs through the real queue, in the test transaction."""
        self.env.flush_all()
        # Requests run on a test cursor whose clock is the wall clock, ahead
        # of this transaction's time, so the jobs they queued are not yet due
        # for _process_pending. Make them due a second ago.
        self.env.cr.execute(
            "UPDATE crm_sync_job SET next_attempt_at = %s "
            "WHERE backend_id = %s AND state = 'pending'",
            [self.env.cr.now() - timedelta(seconds=1), self.backend.id],
        )
        jobs = self.env["crm.sync.job"]._process_pending(backend=self.backend)
        self.env.invalidate_all()
        return jobs

    def create_crm_company(self, name):
        snapshot = self.sandbox.store.create(
            "companies", {"name": name}, emit_events=False
        )
        return snapshot["id"]

    def create_bound_company(self, name):
        """Create a CRM company and an Odoo partner linked to it."""
        crm_id = self.create_crm_company(name)
        partner = self.env["res.partner"].create({"name": name, "is_company": True})
        binding = self.env["crm.sync.binding"]._bind(
            self.backend, "company", partner, crm_id
        )
        return crm_id, partner, binding

    def deliver_sandbox_events(self):
        """Send the sandbox's queued events to Odoo and check they were accepted."""
        self.env.flush_all()
        results = self.sandbox.webhooks.flush()
        self.env.invalidate_all()
        self.assertTrue(results, "the sandbox had no webhook event to send")
        for result in results:
            self.assertTrue(result.delivered, result.as_dict())
        return results

    def review_jobs(self):
        return self.env["crm.sync.job"].search(
            [
                ("backend_id", "=", self.backend.id),
                ("state", "=", "exception"),
                ("exception_kind", "=", "review"),
            ]
        )

    # ------------------------------------------------------------------
    # Route: storing events
    # ------------------------------------------------------------------

    def test_valid_batch_stored_as_jobs(self):
        events = [
            self.make_event("company.creation", 501),
            self.make_event(
                "contact.propertyChange",
                601,
                propertyName="email",
                propertyValue="jane.doe@example.co.uk",
            ),
            self.make_event("contact.deletion", 602),
        ]

        response = self.post(events)

        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(
            response.json(), {"received": 3, "stored": 3, "duplicates": 0, "ignored": 0}
        )
        jobs = self.webhook_jobs()
        self.assertEqual(
            [(job.object_type, job.operation, job.crm_id) for job in jobs],
            [
                ("company", "import", "501"),
                ("contact", "import", "601"),
                ("contact", "delete", "602"),
            ],
        )
        self.assertEqual(set(jobs.mapped("state")), {"pending"})
        self.assertEqual(
            jobs[0].idempotency_key, f"webhook:{self.backend.id}:{events[0]['eventId']}"
        )
        stored_event = jobs[1].payload["events"][0]
        self.assertEqual(stored_event["occurredAt"], events[1]["occurredAt"])
        self.assertEqual(stored_event["propertyName"], "email")
        self.assertNotIn("propertyValue", stored_event)

    def test_redelivery_stores_one_job(self):
        events = [
            self.make_event("company.creation", 501),
            self.make_event("company.deletion", 502),
        ]
        first = self.post(events)
        self.process_jobs()

        second = self.post(events)

        self.assertEqual(first.json()["stored"], 2)
        self.assertEqual(second.status_code, 200, second.text)
        self.assertEqual(second.json()["stored"], 0)
        self.assertEqual(second.json()["duplicates"], 2)
        self.assertEqual(len(self.webhook_jobs()), 2)

    def test_repeated_event_in_batch_stored_once(self):
        event = self.make_event("company.creation", 501)

        response = self.post([event, dict(event, attemptNumber=1)])

        self.assertEqual(response.json()["stored"], 1)
        self.assertEqual(len(self.webhook_jobs()), 1)

    def test_unhandled_subscription_ignored(self):
        events = [
            self.make_event("deal.creation", 801),
            self.make_event("ticket.propertyChange", 802),
            self.make_event("contact.somethingNew", 803),
        ]

        response = self.post(events)

        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.json()["ignored"], 3)
        self.assertFalse(self.webhook_jobs())

    def test_export_only_backend_skips_imports(self):
        self.backend.direction_company = "export"

        response = self.post(
            [
                self.make_event("company.propertyChange", 501, propertyName="name"),
                self.make_event("company.deletion", 502),
            ]
        )

        self.assertEqual(response.json()["ignored"], 1)
        self.assertEqual(self.webhook_jobs().mapped("operation"), ["delete"])

    def test_same_batch_posted_concurrently(self):
        events = [
            self.make_event("company.creation", 500 + index) for index in range(20)
        ]
        responses = []

        def post_batch():
            responses.append(self.post(events))

        self.env.flush_all()
        threads = [threading.Thread(target=post_batch) for _index in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(HTTP_TIMEOUT)
        self.env.invalidate_all()

        self.assertEqual([response.status_code for response in responses], [200, 200])
        self.assertEqual(
            sorted(response.json()["stored"] for response in responses), [0, 20]
        )
        self.assertEqual(len(self.webhook_jobs()), 20)
        self.assertEqual(len(set(self.webhook_jobs().mapped("idempotency_key"))), 20)

    # ------------------------------------------------------------------
    # Route: rejected requests
    # ------------------------------------------------------------------

    def test_forged_signature_rejected(self):
        response = self.post(
            [self.make_event("company.deletion", 501)], secret="not-the-secret"
        )

        self.assertEqual(response.status_code, 401)
        self.assertEqual(response.text, "")
        self.assertFalse(self.webhook_jobs())

    def test_tampered_body_rejected(self):
        body = json.dumps([self.make_event("company.deletion", 501)]).encode()
        timestamp = str(now_ms())
        signature = reference_signature(
            SANDBOX_SECRET, "POST", self.webhook_url, body, timestamp
        )
        tampered = body.replace(b"501", b"502")

        response = requests.post(
            self.webhook_url,
            data=tampered,
            headers={
                "X-HubSpot-Request-Timestamp": timestamp,
                "X-HubSpot-Signature-v3": signature,
            },
            timeout=HTTP_TIMEOUT,
        )

        self.assertEqual(response.status_code, 401)
        self.assertFalse(self.webhook_jobs())

    def test_stale_timestamp_rejected(self):
        events = [self.make_event("company.deletion", 501)]

        stale = self.post(events, timestamp=now_ms() - FIVE_MINUTES_MS - 60_000)
        future = self.post(events, timestamp=now_ms() + FIVE_MINUTES_MS + 60_000)

        self.assertEqual(stale.status_code, 401)
        self.assertEqual(future.status_code, 401)
        self.assertFalse(self.webhook_jobs())

    def test_missing_signature_rejected(self):
        response = requests.post(
            self.webhook_url,
            data=json.dumps([self.make_event("company.deletion", 501)]),
            timeout=HTTP_TIMEOUT,
        )

        self.assertEqual(response.status_code, 401)
        self.assertFalse(self.webhook_jobs())

    def test_unknown_backend_rejected(self):
        url = f"{self.base_url()}{WEBHOOK_PATH}/{self.backend.id + 100_000}"

        response = self.post([self.make_event("company.deletion", 501)], url=url)

        self.assertEqual(response.status_code, 401)
        self.assertEqual(response.text, "")

    def test_archived_backend_rejected(self):
        self.backend.active = False

        response = self.post([self.make_event("company.deletion", 501)])

        self.assertEqual(response.status_code, 401)
        self.assertFalse(self.webhook_jobs())

    def test_signature_covers_public_url(self):
        public_url = f"https://crm.example.co.uk{WEBHOOK_PATH}/{self.backend.id}"
        proxy_headers = {
            "X-Forwarded-Host": "crm.example.co.uk",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": "127.0.0.1",
        }
        events = [self.make_event("company.deletion", 501)]

        without_proxy_mode = self.post(
            events, signed_url=public_url, headers=proxy_headers
        )
        with patch.dict(config.options, {"proxy_mode": True}):
            with_proxy_mode = self.post(
                events, signed_url=public_url, headers=proxy_headers
            )

        self.assertEqual(without_proxy_mode.status_code, 401)
        self.assertEqual(with_proxy_mode.status_code, 200, with_proxy_mode.text)
        self.assertEqual(len(self.webhook_jobs()), 1)

    def test_malformed_body_rejected(self):
        bodies = {
            "not JSON": b"{not json",
            "an object": json.dumps({"eventId": 1}).encode(),
            "a list of numbers": b"[1, 2]",
            "no eventId": json.dumps(
                [{"subscriptionType": "company.creation", "objectId": 501}]
            ).encode(),
            "no subscriptionType": json.dumps(
                [{"eventId": 9, "objectId": 501}]
            ).encode(),
            "no objectId": json.dumps(
                [{"eventId": 9, "subscriptionType": "company.creation"}]
            ).encode(),
        }
        for label, body in bodies.items():
            with self.subTest(body=label):
                response = self.post(body)

                self.assertEqual(response.status_code, 400)
        self.assertFalse(self.webhook_jobs())

    def test_oversized_body_rejected(self):
        padding = "x" * MAX_BODY_BYTES
        body = json.dumps([self.make_event("company.deletion", 501, padding=padding)])

        response = self.post(body.encode())

        self.assertEqual(response.status_code, 413)
        self.assertFalse(self.webhook_jobs())

    def test_chunked_body_rejected(self):
        body = json.dumps([self.make_event("company.deletion", 501)]).encode()

        response = requests.post(
            self.webhook_url, data=iter([body]), timeout=HTTP_TIMEOUT
        )

        self.assertEqual(response.status_code, 411)
        self.assertFalse(self.webhook_jobs())

    def test_get_not_allowed(self):
        response = requests.get(self.webhook_url, timeout=HTTP_TIMEOUT)

        self.assertEqual(response.status_code, 405)

    def test_logs_have_no_secret_or_values(self):
        events = [
            self.make_event(
                "contact.propertyChange",
                601,
                propertyName="email",
                propertyValue="jane.doe@example.co.uk",
            )
        ]
        with self.assertLogs("odoo.addons.external_crm_sync", logging.DEBUG) as logs:
            self.post(events)
            self.post(events, secret="not-the-secret")
            self.post(b'[{"eventId": "jane.doe@example.co.uk"}]')

        output = "\n".join(logs.output)
        self.assertIn(str(self.backend.id), output)
        self.assertNotIn("jane.doe", output)
        self.assertNotIn(SANDBOX_SECRET, output)

    def test_webhook_url_shown_on_backend(self):
        base_url = self.env["ir.config_parameter"].get_param("web.base.url")

        self.assertEqual(
            self.backend.webhook_url, f"{base_url}{WEBHOOK_PATH}/{self.backend.id}"
        )

    # ------------------------------------------------------------------
    # End to end with the sandbox sending its own webhooks
    # ------------------------------------------------------------------

    def test_sandbox_creation_imported(self):
        snapshot = self.sandbox.store.create("companies", {"name": "Harbour Tools Ltd"})

        self.deliver_sandbox_events()
        self.assertTrue(self.webhook_jobs())
        self.process_jobs()

        binding = self.env["crm.sync.binding"]._find_by_crm_id(
            self.backend, "company", snapshot["id"]
        )
        self.assertTrue(binding, "the webhook import linked no partner")
        self.assertEqual(binding.partner_id.name, "Harbour Tools Ltd")
        self.assertEqual(set(self.webhook_jobs().mapped("state")), {"done"})

    def test_events_out_of_order_keep_newest(self):
        crm_id = self.create_crm_company("Harbour Tools")
        self.sandbox.store.update("companies", crm_id, {"name": "Harbour Tools Ltd"})
        self.sandbox.store.update("companies", crm_id, {"name": "Harbour Tools Group"})
        events = self.sandbox.webhooks.queued()
        self.sandbox.webhooks.clear()
        self.assertEqual(len(events), 2)

        for event in reversed(events):
            self.assertEqual(self.post([event]).status_code, 200)
        self.process_jobs()

        binding = self.env["crm.sync.binding"]._find_by_crm_id(
            self.backend, "company", crm_id
        )
        self.assertEqual(binding.partner_id.name, "Harbour Tools Group")

    # ------------------------------------------------------------------
    # Deletions
    # ------------------------------------------------------------------

    def test_deletion_archives_link_and_partner(self):
        crm_id, partner, binding = self.create_bound_company("Quayside Bakery Ltd")
        self.sandbox.store.archive("companies", crm_id)

        self.deliver_sandbox_events()
        self.process_jobs()

        self.assertEqual(binding.state, "archived")
        self.assertTrue(
            partner.exists(), "a CRM deletion must never delete the partner"
        )
        self.assertFalse(partner.active)
        self.assertFalse(self.review_jobs())

    def test_deletion_with_open_order_needs_review(self):
        crm_id, partner, binding = self.create_bound_company("Moorland Cider Co")
        product = self.env["product.product"].create(
            {"name": "Consulting day", "type": "service", "list_price": 450.0}
        )
        order = self.env["sale.order"].create(
            {
                "partner_id": partner.id,
                "order_line": [Command.create({"product_id": product.id})],
            }
        )
        order.action_confirm()
        self.sandbox.store.archive("companies", crm_id)

        self.deliver_sandbox_events()
        self.process_jobs()

        self.assertEqual(binding.state, "archived")
        self.assertTrue(partner.active)
        review = self.review_jobs()
        self.assertEqual(len(review), 1)
        self.assertEqual(review.res_id, partner.id)
        self.assertIn(partner.name, review.error_message)
        self.assertIn(order.name, review.error_message)
        self.assertEqual(
            review.exception_data["open_documents"]["sale_orders"], [order.name]
        )

    def test_review_retry_archives_settled_partner(self):
        crm_id, partner, _binding = self.create_bound_company("Tidewater Books")
        order = self.env["sale.order"].create({"partner_id": partner.id})
        self.sandbox.store.archive("companies", crm_id)
        self.deliver_sandbox_events()
        self.process_jobs()
        review = self.review_jobs()
        self.assertTrue(partner.active)

        order.action_cancel()
        review.action_retry()
        self.process_jobs()

        self.assertEqual(review.state, "done")
        self.assertFalse(partner.active)

    def test_deletion_with_unpaid_invoice_needs_review(self):
        crm_id, partner, _binding = self.create_bound_company("Estuary Joinery Ltd")
        invoice = self.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": partner.id,
                "invoice_line_ids": [
                    Command.create(
                        {"name": "Oak bench", "quantity": 1, "price_unit": 320.0}
                    )
                ],
            }
        )
        invoice.action_post()
        self.sandbox.store.archive("companies", crm_id)

        self.deliver_sandbox_events()
        self.process_jobs()

        self.assertTrue(partner.active)
        review = self.review_jobs()
        self.assertEqual(
            review.exception_data["open_documents"]["invoices"], [invoice.name]
        )

    def test_stale_deletion_keeps_link(self):
        crm_id, partner, binding = self.create_bound_company("Harbour Tools Ltd")

        self.post([self.make_event("company.deletion", crm_id)])
        self.process_jobs()

        self.assertEqual(binding.state, "linked")
        self.assertTrue(partner.active)
        self.assertIn("still exists", self.webhook_jobs().result_message)

    def test_duplicate_deletion_delivery_is_harmless(self):
        crm_id, partner, binding = self.create_bound_company("Lighthouse Cafe")
        self.sandbox.store.archive("companies", crm_id)
        (event,) = self.sandbox.webhooks.queued()
        self.deliver_sandbox_events()
        self.process_jobs()

        response = self.post([dict(event, attemptNumber=1)])
        self.process_jobs()

        self.assertEqual(response.json()["duplicates"], 1)
        self.assertEqual(len(self.webhook_jobs()), 1)
        self.assertEqual(binding.state, "archived")
        self.assertTrue(partner.exists())

    def test_deletion_on_export_only_backend_keeps_partner(self):
        crm_id, partner, binding = self.create_bound_company("Riverside Print Ltd")
        self.backend.direction_company = "export"
        self.sandbox.store.archive("companies", crm_id)

        self.deliver_sandbox_events()
        self.process_jobs()

        self.assertEqual(binding.state, "archived")
        self.assertTrue(partner.active)
        self.assertFalse(self.review_jobs())

    def test_restore_event_relinks_record(self):
        crm_id, partner, binding = self.create_bound_company("Old Mill Pottery")
        binding.state = "archived"
        partner.action_archive()

        self.post([self.make_event("company.restore", crm_id)])
        self.process_jobs()

        self.assertEqual(binding.state, "linked")
        self.assertTrue(partner.active)

    # ------------------------------------------------------------------
    # Merges
    # ------------------------------------------------------------------

    def test_merge_remaps_and_proposes_partner_merge(self):
        kept_crm_id, kept_partner, kept_binding = self.create_bound_company("Acme Ltd")
        gone_crm_id, gone_partner, gone_binding = self.create_bound_company(
            "ACME Limited"
        )
        self.sandbox.store.merge("companies", kept_crm_id, gone_crm_id)

        self.deliver_sandbox_events()
        self.process_jobs()

        self.assertEqual(kept_binding.state, "linked")
        self.assertEqual(kept_binding.crm_id, kept_crm_id)
        self.assertEqual(gone_binding.state, "archived")
        self.assertTrue(kept_partner.active)
        self.assertTrue(gone_partner.active, "a merge is never a deletion")
        review = self.review_jobs()
        self.assertEqual(len(review), 1)
        self.assertEqual(review.exception_data["resolution"], "merge_partners")
        self.assertEqual(
            review.exception_data["partner_ids"], [kept_partner.id, gone_partner.id]
        )

    def test_merge_review_opens_odoo_merge_wizard(self):
        kept_crm_id, kept_partner, _kept_binding = self.create_bound_company(
            "Fenland Seeds"
        )
        gone_crm_id, gone_partner, _gone_binding = self.create_bound_company(
            "Fenland Seeds Ltd"
        )
        self.sandbox.store.merge("companies", kept_crm_id, gone_crm_id)
        self.deliver_sandbox_events()
        self.process_jobs()
        review = self.review_jobs()

        action = review.action_open_resolution()
        wizard = self.env[action["res_model"]].browse(action["res_id"])
        wizard.with_context(**action["context"]).action_merge()

        self.assertEqual(action["res_model"], "base.partner.merge.automatic.wizard")
        self.assertFalse(gone_partner.exists())
        self.assertTrue(kept_partner.exists())
        self.assertEqual(review.state, "done")

    def test_merge_moves_link_to_unlinked_survivor(self):
        kept_crm_id = self.create_crm_company("Saltmarsh Dairy")
        gone_crm_id, gone_partner, gone_binding = self.create_bound_company(
            "Saltmarsh Dairy Ltd"
        )
        self.sandbox.store.merge("companies", kept_crm_id, gone_crm_id)

        self.deliver_sandbox_events()
        self.process_jobs()

        self.assertEqual(gone_binding.state, "linked")
        self.assertEqual(gone_binding.crm_id, kept_crm_id)
        self.assertTrue(gone_partner.active)
        self.assertFalse(self.review_jobs())

    def test_deletion_of_merged_id_is_merge(self):
        kept_crm_id = self.create_crm_company("Coastline Surf")
        gone_crm_id, gone_partner, gone_binding = self.create_bound_company(
            "Coastline Surf Shop"
        )
        self.sandbox.store.merge(
            "companies", kept_crm_id, gone_crm_id, emit_events=False
        )

        self.post([self.make_event("company.deletion", gone_crm_id)])
        self.process_jobs()

        self.assertEqual(gone_binding.state, "linked")
        self.assertEqual(gone_binding.crm_id, kept_crm_id)
        self.assertTrue(gone_partner.active)


@tagged("post_install", "-at_install")
class TestWebhookConcurrency(TransactionCase):
    """Two workers storing one batch in separate, committed transactions."""

    def setUp(self):
        super().setUp()
        self.dbname = self.env.cr.dbname
        with self.new_cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            backend = env["crm.sync.backend"].create(
                {
                    "name": "Concurrency",
                    "kind": "hubspot",
                    "base_url": "http://127.0.0.1:9",
                    "webhook_secret": SANDBOX_SECRET,
                }
            )
            cr.execute("SELECT COALESCE(MAX(id), 0) FROM ir_cron_trigger")
            self.last_trigger_id = cr.fetchone()[0]
        self.backend_id = backend.id
        self.addCleanup(self.delete_committed_data)

    def new_cursor(self):
        """Return a cursor on its own connection, outside the test transaction."""
        return db_connect(self.dbname).cursor()

    def delete_committed_data(self):
        with self.new_cursor() as cr:
            # Jobs and field rules go with their backend (ondelete cascade).
            cr.execute("DELETE FROM crm_sync_backend WHERE id = %s", [self.backend_id])
            cr.execute(
                "DELETE FROM ir_cron_trigger WHERE id > %s", [self.last_trigger_id]
            )

    def store_in_worker(self, env, events, barrier, outcome):
        """Store the batch in the worker's own transaction, then commit.

        A serialisation failure rolls back and runs the transaction again, as
        Odoo's HTTP layer does for a request. Odoo's own helper for that,
        odoo.service.model.retrying, cannot run here: it rebuilds the registry,
        whose lock the test runner's thread holds.
        """
        backend_id = self.backend_id
        with env.cr:
            for attempt in range(MAX_STORE_ATTEMPTS):
                # The first statement takes the snapshot: on the first attempt
                # both workers take theirs before either inserts.
                env.cr.execute("SELECT 1")
                if attempt == 0:
                    barrier.wait(timeout=HTTP_TIMEOUT)
                backend = env["crm.sync.backend"].browse(backend_id)
                try:
                    summary = env["crm.sync.webhook"]._store_events(backend, events)
                    env.cr.commit()
                except SerializationFailure:
                    env.cr.rollback()
                    env.transaction.clear()
                    outcome["serialization_failures"] += 1
                    continue
                outcome["summaries"].append(summary)
                return

    def test_same_batch_in_two_transactions(self):
        body = json.dumps(
            [
                {
                    "eventId": 9_000_000 + index,
                    "subscriptionType": "company.creation",
                    "objectId": 500 + index,
                    "occurredAt": now_ms(),
                }
                for index in range(50)
            ]
        ).encode()
        events = parse_batch(body)
        barrier = threading.Barrier(2)
        outcome = {"summaries": [], "serialization_failures": 0}
        # Environments are built here: the test runner's thread holds the
        # registry lock that building one takes.
        threads = [
            threading.Thread(
                target=self.store_in_worker,
                args=(
                    api.Environment(self.new_cursor(), SUPERUSER_ID, {}),
                    events,
                    barrier,
                    outcome,
                ),
            )
            for _index in range(2)
        ]

        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(HTTP_TIMEOUT * 2)

        summaries = outcome["summaries"]
        self.assertEqual(len(summaries), 2, "a worker failed: see the log")
        self.assertEqual(sorted(summary["stored"] for summary in summaries), [0, 50])
        self.assertEqual(
            sorted(summary["duplicates"] for summary in summaries), [0, 50]
        )
        self.assertEqual(outcome["serialization_failures"], 1)
        with self.new_cursor() as cr:
            cr.execute(
                "SELECT COUNT(*), COUNT(DISTINCT idempotency_key) FROM crm_sync_job "
                "WHERE backend_id = %s",
                [self.backend_id],
            )
            self.assertEqual(cr.fetchone(), (50, 50))
