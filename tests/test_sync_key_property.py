"""Export into a CRM portal that lacks the sync key property.

HubSpot, and the sandbox, reject values of a custom property that does not
exist. The exporter creates ``odoo_sync_key`` before the first partner of an
object type goes out.
"""

from datetime import timedelta

from odoo.tests import tagged

from ..models import crm_sync_synchronizer
from ..models.crm_sync_synchronizer import SYNC_KEY_PROPERTY
from ..models.res_partner import NO_EXPORT_CONTEXT
from .common import SANDBOX_TOKEN
from .partner_sync_common import PartnerSyncCase

COMPANIES_PATH = "/crm/v3/objects/companies"


@tagged("post_install", "-at_install")
class TestSyncKeyProperty(PartnerSyncCase):
    """Exports into a sandbox portal where no one defined the sync key property."""

    @classmethod
    def _define_sync_key_property(cls):
        """Leave the portal without the property, unlike the other partner tests."""

    def setUp(self):
        super().setUp()
        # The exporter remembers ensured properties per process, and each test
        # starts from an empty portal.
        crm_sync_synchronizer._ENSURED_SYNC_KEYS.clear()
        self.addCleanup(crm_sync_synchronizer._ENSURED_SYNC_KEYS.clear)

    def create_partner(self, **values):
        values.setdefault("customer_rank", 1)
        return self.Partner.with_context(**{NO_EXPORT_CONTEXT: True}).create(values)

    def export(self, partner, object_type="company"):
        job = self.env["crm.sync.exporter"]._queue_export(
            self.backend, object_type, partner, ["name"]
        )
        self.process()
        return job

    def sync_key_definition(self, crm_type):
        return self.sandbox.store.object_type(crm_type).properties.get(
            SYNC_KEY_PROPERTY
        )

    def test_first_export_creates_property(self):
        partner = self.create_partner(name="Fresh Portal Ltd", is_company=True)
        self.assertIsNone(self.sync_key_definition("companies"))

        job = self.export(partner)

        self.assertEqual(job.state, "done", job.error_message)
        definition = self.sync_key_definition("companies")
        self.assertIsNotNone(definition)
        self.assertEqual(definition.type, "string")
        self.assertEqual(definition.field_type, "text")
        self.assertTrue(definition.unique)
        self.assertEqual(definition.label, "Odoo sync key")
        records = self.crm_records("companies")
        self.assertEqual(len(records), 1)
        self.assertEqual(records[0]["properties"]["name"], "Fresh Portal Ltd")
        self.assertEqual(
            records[0]["properties"][SYNC_KEY_PROPERTY],
            self.env["crm.sync.exporter"]._sync_key(partner),
        )
        self.assertEqual(self.partner_of(records[0]["id"]), partner)

    def test_second_export_creates_no_duplicate(self):
        partner = self.create_partner(name="Twice Sent Ltd", is_company=True)
        self.export(partner)

        partner.with_context(**{NO_EXPORT_CONTEXT: True}).city = "Leeds"
        second = self.export(partner)

        self.assertEqual(second.state, "done", second.error_message)
        records = self.crm_records("companies")
        self.assertEqual(len(records), 1)
        self.assertEqual(records[0]["properties"]["city"], "Leeds")

    def test_retry_after_lost_reply_finds_record(self):
        partner = self.create_partner(name="Lost Reply Ltd", is_company=True)
        # The sandbox creates the company, then cuts its reply short.
        self.sandbox.faults.malformed_next(
            kind="truncated", path_prefix=COMPANIES_PATH + "/batch/create"
        )
        job = self.export(partner)
        self.assertEqual(job.state, "failed")
        self.assertEqual(len(self.crm_records("companies")), 1)
        # A new worker process has no memory of the ensured property.
        crm_sync_synchronizer._ENSURED_SYNC_KEYS.clear()

        past = self.env.cr.now() - timedelta(seconds=1)
        job._engine_write({"next_attempt_at": past})
        self.Job._cron_retry_failed()
        self.process()

        self.assertEqual(job.state, "done", job.error_message)
        records = self.crm_records("companies")
        self.assertEqual(len(records), 1)
        self.assertEqual(self.partner_of(records[0]["id"]), partner)

    def test_contact_export_creates_both_properties(self):
        company = self.create_partner(name="Parent Co Ltd", is_company=True)
        contact = self.create_partner(
            name="Ada Example", parent_id=company.id, email="ada@parent.example"
        )

        job = self.export(contact, object_type="contact")

        self.assertEqual(job.state, "done", job.error_message)
        self.assertIsNotNone(self.sync_key_definition("companies"))
        self.assertIsNotNone(self.sync_key_definition("contacts"))
        self.assertEqual(len(self.crm_records("companies")), 1)
        self.assertEqual(len(self.crm_records("contacts")), 1)

    def test_missing_scope_names_the_fix(self):
        self.sandbox.set_scopes(
            ["crm.objects.companies.read", "crm.objects.companies.write"]
        )
        self.addCleanup(self.sandbox.add_token, SANDBOX_TOKEN)
        partner = self.create_partner(name="No Scope Ltd", is_company=True)

        job = self.export(partner)

        self.assertEqual(job.state, "exception")
        self.assertEqual(job.error_category, "permission")
        self.assertEqual(
            job.error_message,
            "Property odoo_sync_key is missing on companies and the token may not "
            "create it: add scope crm.schemas.companies.write or create a "
            "single-line text property named odoo_sync_key.",
        )
        self.assertEqual(self.crm_records("companies"), [])
        self.assertIsNone(self.sync_key_definition("companies"))

    def test_connection_test_names_property_scope(self):
        self.sandbox.set_scopes(
            ["crm.objects.companies.read", "crm.objects.companies.write"]
        )
        self.addCleanup(self.sandbox.add_token, SANDBOX_TOKEN)
        self.backend.write({"sync_contact": False})

        self.backend.action_test_connection()

        self.assertFalse(self.backend.last_check_ok)
        self.assertIn(
            "✘ Property odoo_sync_key is missing on companies and the token may not "
            "create it: add scope crm.schemas.companies.write or create a "
            "single-line text property named odoo_sync_key.",
            self.backend.last_check_message,
        )
        self.assertEqual(self.crm_records("companies"), [])

    def test_connection_test_passes_without_property(self):
        self.backend.action_test_connection()

        self.assertTrue(self.backend.last_check_ok, self.backend.last_check_message)
        self.assertIn(
            "✔ Property odoo_sync_key is missing on contacts, and the first export "
            "creates it.",
            self.backend.last_check_message,
        )
        self.assertIsNone(self.sync_key_definition("companies"))
