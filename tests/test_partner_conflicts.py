from odoo.exceptions import UserError
from odoo.tests import tagged

from .partner_sync_common import PartnerSyncCase


@tagged("post_install", "-at_install")
class TestPartnerConflicts(PartnerSyncCase):
    """Changes made on both sides between two syncs, settled by the field rules."""

    def setUp(self):
        super().setUp()
        self.company_id = self.sandbox.store.create(
            "companies",
            {"name": "Shared Ltd", "phone": "+441134960100", "city": "York"},
        )["id"]
        self.contact_id = self.sandbox.store.create(
            "contacts",
            {"firstname": "Sam", "lastname": "Shaw", "jobtitle": "Buyer"},
        )["id"]
        self.sandbox.store.associate(
            "contacts", self.contact_id, "companies", self.company_id
        )
        self.pull_all()
        self.company = self.partner_of(self.company_id)
        self.contact = self.partner_of(self.contact_id, "contact")
        self.Job.search([("backend_id", "=", self.backend.id)]).unlink()

    def edit_crm(self, object_type, crm_id, values):
        self.sandbox.store.update(object_type, crm_id, values)

    def edit_odoo(self, partner, values):
        """Edit a partner as a user would; the export job stays queued."""
        partner.write(values)

    def open_wizard(self, job):
        action = job.action_open_resolution()
        return self.env[action["res_model"]].browse(action["res_id"])

    def test_both_owned_field_becomes_conflict(self):
        self.edit_crm("companies", self.company_id, {"phone": "+441134960111"})
        self.edit_odoo(self.company, {"phone": "+441134960222"})

        self.pull("company")

        # The export of the Odoo edit and the import of the CRM edit both see it.
        jobs = self.exceptions("company", kind="conflict")
        self.assertEqual(sorted(jobs.mapped("operation")), ["export", "import"])
        for job in jobs:
            self.assertEqual(job.error_category, "conflict")
            self.assertIn("Phone", job.error_message)
            conflict = job.exception_data["conflicts"][0]
            self.assertEqual(conflict["field"], "phone")
            self.assertEqual(conflict["odoo_value"], "+441134960222")
            self.assertEqual(conflict["crm_value"], "+441134960111")
        # Neither side was overwritten.
        self.assertEqual(self.company.phone, "+441134960222")
        self.assertEqual(
            self.crm("companies", self.company_id)["phone"], "+441134960111"
        )

    def test_conflict_resolved_keeping_odoo(self):
        self.edit_crm("companies", self.company_id, {"phone": "+441134960111"})
        self.edit_odoo(self.company, {"phone": "+441134960222"})
        self.pull("company")
        job = self.exceptions("company", kind="conflict")[0]

        wizard = self.open_wizard(job)
        self.assertEqual(wizard.conflict_line_ids.odoo_value, "+441134960222")
        self.assertEqual(wizard.conflict_line_ids.crm_value, "+441134960111")
        wizard.action_keep_odoo()

        self.assertEqual(job.state, "done")
        self.assertEqual(
            self.crm("companies", self.company_id)["phone"], "+441134960222"
        )
        self.assertEqual(self.company.phone, "+441134960222")
        entry = self.AuditLog.search(
            [("partner_id", "=", self.company.id), ("field_name", "=", "phone")],
            limit=1,
        )
        self.assertEqual(entry.direction, "export")
        self.assertEqual(entry.source, "odoo_user")
        self.assertEqual(entry.user_id, self.env.user)

        # One decision settles the same conflict in the other job too.
        self.assertFalse(self.exceptions("company"))
        self.full_sync()
        self.assertFalse(self.exceptions("company"))

    def test_conflict_resolved_keeping_crm(self):
        self.edit_crm("companies", self.company_id, {"phone": "+441134960111"})
        self.edit_odoo(self.company, {"phone": "+441134960222"})
        self.pull("company")
        job = self.exceptions("company", kind="conflict")[0]

        self.open_wizard(job).action_keep_crm()

        self.assertEqual(job.state, "done")
        self.assertFalse(self.exceptions("company"))
        self.assertEqual(self.company.phone, "+441134960111")
        self.assertEqual(
            self.crm("companies", self.company_id)["phone"], "+441134960111"
        )

    def test_odoo_owned_field_odoo_wins(self):
        self.edit_crm("companies", self.company_id, {"name": "Shared Limited (CRM)"})
        self.edit_odoo(self.company, {"name": "Shared Ltd (Odoo)"})

        self.pull("company")

        self.assertFalse(self.exceptions("company"))
        self.assertEqual(self.company.name, "Shared Ltd (Odoo)")
        self.assertEqual(
            self.crm("companies", self.company_id)["name"], "Shared Ltd (Odoo)"
        )
        entry = self.AuditLog.search(
            [
                ("partner_id", "=", self.company.id),
                ("field_name", "=", "name"),
                ("direction", "=", "export"),
            ]
        )
        self.assertEqual(entry.old_value, "Shared Limited (CRM)")
        self.assertEqual(entry.source, "engine")

    def test_crm_owned_field_crm_wins(self):
        self.edit_crm("contacts", self.contact_id, {"jobtitle": "Head Buyer"})
        self.edit_odoo(self.contact, {"function": "Chief Buyer"})

        self.pull("contact")

        self.assertFalse(self.exceptions("contact"))
        self.assertEqual(self.contact.function, "Head Buyer")
        self.assertEqual(
            self.crm("contacts", self.contact_id)["jobtitle"], "Head Buyer"
        )

    def test_change_on_one_side_flows_whoever_owns(self):
        # Odoo owns company names, but only the CRM changed this one.
        self.edit_crm("companies", self.company_id, {"name": "Renamed In CRM Ltd"})

        self.pull("company")

        self.assertEqual(self.company.name, "Renamed In CRM Ltd")
        self.assertFalse(self.exceptions("company"))

    def test_unchanged_side_never_overwrites(self):
        self.edit_odoo(self.company, {"city": "Selby"})

        # A pull of the unchanged CRM record must not restore the old city.
        self.full_sync()

        self.assertEqual(self.company.city, "Selby")
        self.assertEqual(self.crm("companies", self.company_id)["city"], "Selby")

    def test_conflict_does_not_hold_back_other_fields(self):
        self.edit_crm(
            "companies", self.company_id, {"phone": "+441134960111", "city": "Leeds"}
        )
        self.edit_odoo(self.company, {"phone": "+441134960222"})

        self.pull("company")

        self.assertEqual(self.company.city, "Leeds")
        jobs = self.exceptions("company", kind="conflict")
        self.assertTrue(jobs)
        for job in jobs:
            self.assertEqual(
                [conflict["field"] for conflict in job.exception_data["conflicts"]],
                ["phone"],
            )

    def test_conflict_found_by_export(self):
        # The CRM change is not pulled yet when the export of the Odoo edit runs.
        self.edit_crm("contacts", self.contact_id, {"email": "sam@crm.example"})
        self.edit_odoo(self.contact, {"email": "sam@odoo.example"})

        self.process()

        job = self.exceptions("contact", kind="conflict")
        self.assertEqual(job.operation, "export")
        self.open_wizard(job).action_keep_crm()
        self.assertEqual(self.contact.email, "sam@crm.example")
        self.assertEqual(job.state, "done")

    def test_import_only_rule_ignores_odoo_edit(self):
        rule = self.env["crm.sync.field.rule"].search(
            [
                ("backend_id", "=", self.backend.id),
                ("object_type", "=", "company"),
                ("odoo_field", "=", "city"),
            ]
        )
        rule.write({"direction": "import", "owner": "crm"})

        self.edit_odoo(self.company, {"city": "Whitby"})
        self.process()

        self.assertEqual(self.crm("companies", self.company_id)["city"], "York")

    def test_wizard_rejects_job_without_decision(self):
        self.edit_odoo(self.company, {"city": "Scarborough"})
        job = self.Job.search([("operation", "=", "export")])

        with self.assertRaises(UserError):
            self.env["crm.sync.resolve.wizard"].with_context(
                default_job_id=job.id
            ).create({})
