from odoo.tests import HttpCase, tagged

from .common import SANDBOX_SECRET, SANDBOX_TOKEN, start_sandbox


@tagged("post_install", "-at_install")
class TestExceptionTour(HttpCase):
    """The exceptions view, Retry and a partner's audit trail in a real browser."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sandbox = start_sandbox(cls)
        cls.sandbox.rate_limiter.configure(None)
        for object_type in ("companies", "contacts"):
            cls.sandbox.store.define_property(object_type, "odoo_sync_key", unique=True)
        cls.backend = cls.env["crm.sync.backend"].create(
            {
                "name": "Tour sandbox",
                "kind": "hubspot",
                "base_url": cls.sandbox.base_url,
                "access_token": SANDBOX_TOKEN,
                "webhook_secret": SANDBOX_SECRET,
                "rate_limit": 10_000,
                "rate_window": 1.0,
            }
        )

    def _sync_contact_then_break_its_phone(self):
        contact = self.sandbox.store.create(
            "contacts",
            {
                "firstname": "Tamsin",
                "lastname": "Tourwell",
                "email": "tour-old@example.com",
                "phone": "020 7946 0000",
            },
        )
        self.backend._sync_now()

        # A CRM user types a phone number that cannot be valid.
        self.sandbox.store.update("contacts", contact["id"], {"phone": "12"})
        Job = self.env["crm.sync.job"]
        Job._enqueue(
            self.backend, "contact", "import", crm_id=contact["id"], source="user"
        )
        Job._process_pending(backend=self.backend)
        return Job.search([("crm_id", "=", contact["id"]), ("state", "=", "exception")])

    def test_exception_retry_and_audit_tour(self):
        exception = self._sync_contact_then_break_its_phone()
        self.assertEqual(len(exception), 1)
        self.assertEqual(exception.error_category, "validation")
        self.assertIn("is not a valid phone number", exception.error_message)

        self.start_tour(
            "/odoo", "external_crm_sync_exception_tour", login="admin", timeout=120
        )

        self.assertEqual(exception.state, "pending")

    def test_duplicate_link_tour(self):
        uk = self.env.ref("base.uk")
        first, second = self.env["res.partner"].create(
            [
                {
                    "name": "Fenwick Joinery Ltd",
                    "is_company": True,
                    "vat": "GB 812 3456 70",
                    "country_id": uk.id,
                },
                {
                    "name": "Fenwick Joinery (Leeds) Ltd",
                    "is_company": True,
                    "vat": "GB812345670",
                    "country_id": uk.id,
                },
            ]
        )
        self.sandbox.store.create(
            "companies",
            {"name": "FENWICK JOINERY LTD", "vat_number": "GB812345670"},
        )
        self.backend._sync_now()
        exception = self.env["crm.sync.job"].search(
            [("backend_id", "=", self.backend.id), ("state", "=", "exception")]
        )
        self.assertEqual(len(exception), 1)
        self.assertEqual(exception.exception_kind, "duplicate")

        self.start_tour(
            "/odoo", "external_crm_sync_duplicate_tour", login="admin", timeout=120
        )

        self.assertEqual(exception.state, "done")
        self.assertTrue(first.crm_binding_ids)
        self.assertFalse(second.crm_binding_ids)
