from odoo.tests import tagged

from .partner_sync_common import PartnerSyncCase


@tagged("post_install", "-at_install")
class TestSyncExceptions(PartnerSyncCase):
    """Open exceptions stay one per record, and syncs do not repeat work."""

    def export_jobs(self, partner):
        return self.Job.search(
            [
                ("backend_id", "=", self.backend.id),
                ("operation", "=", "export"),
                ("res_model", "=", "res.partner"),
                ("res_id", "=", partner.id),
            ]
        )

    def create_bad_customer(self, phone):
        return self.Partner.create(
            {
                "name": "Bad Phone Ltd",
                "is_company": True,
                "customer_rank": 1,
                "phone": phone,
            }
        )

    def edit_later(self, partner, vals):
        """Edit a partner as a user would in a later transaction.

        Every write of a test shares one transaction time, so the write_date
        is moved forward by hand to represent the later edit.
        """
        partner.with_context(crm_sync_no_export=True).write(vals)
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE res_partner SET write_date = write_date + interval '1 minute' "
            "WHERE id = %s",
            [partner.id],
        )
        partner.invalidate_recordset(["write_date"])

    def test_new_exception_supersedes_older(self):
        partner = self.create_bad_customer("not a phone")
        self.process()
        first = self.export_jobs(partner)
        self.assertEqual(first.state, "exception")

        partner.phone = "still not a phone"
        self.process()

        self.assertEqual(first.state, "ignored")
        self.assertIn("Superseded by job", first.result_message)
        open_jobs = self.exceptions("company")
        self.assertEqual(len(open_jobs), 1)
        self.assertIn("still not a phone", open_jobs.error_message)

    def test_push_sweep_skips_unchanged_exception(self):
        partner = self.create_bad_customer("not a phone")
        self.process()
        self.assertEqual(self.export_jobs(partner).state, "exception")

        self.backend._cron_push()
        self.backend._cron_push()

        self.assertEqual(len(self.export_jobs(partner)), 1)

    def test_push_sweep_queues_edit_after_exception(self):
        partner = self.create_bad_customer("not a phone")
        self.process()
        first = self.export_jobs(partner)

        self.edit_later(partner, {"phone": "still not a phone"})
        self.backend._cron_push()
        self.process()

        jobs = self.export_jobs(partner)
        self.assertEqual(len(jobs), 2)
        self.assertEqual(first.state, "ignored")
        newest = jobs - first
        self.assertEqual(newest.state, "exception")
        self.assertIn("still not a phone", newest.error_message)
        self.assertEqual(len(self.exceptions("company")), 1)

    def test_first_sync_runs_no_exports(self):
        store = self.sandbox.store
        company_ids = [
            store.create("companies", {"name": f"First Sync {index} Ltd"})["id"]
            for index in range(3)
        ]
        for index, company_id in enumerate(company_ids):
            contact_id = store.create(
                "contacts",
                {
                    "firstname": f"Person{index}",
                    "lastname": "Smith",
                    "email": f"person{index}@first-sync.example",
                },
            )["id"]
            store.associate("contacts", contact_id, "companies", company_id)

        self.backend._sync_now()

        jobs = self.Job.search([("backend_id", "=", self.backend.id)])
        imports = jobs.filtered(lambda job: job.operation == "import")
        exports = jobs.filtered(lambda job: job.operation == "export")
        self.assertEqual(len(imports), 6)
        self.assertEqual(set(imports.mapped("state")), {"done"})
        self.assertFalse(exports, exports.mapped("result_message"))

    def create_duplicate_company(self):
        """Return (CRM company id, its two matching Odoo partners)."""
        first = self.Partner.create(
            {"name": "Twin Ltd", "is_company": True, "company_registry": "01234567"}
        )
        second = self.Partner.create(
            {"name": "Twin Limited", "is_company": True, "company_registry": "01234567"}
        )
        crm_id = self.sandbox.store.create(
            "companies", {"name": "Twin Ltd", "company_number": "01234567"}
        )["id"]
        return crm_id, first | second

    def test_duplicate_message_lists_candidates(self):
        crm_id, partners = self.create_duplicate_company()

        self.pull("company")

        job = self.exceptions("company", kind="duplicate")
        first, second = partners.sorted("id")
        self.assertEqual(
            job.error_message,
            f"The company registration number 01234567 of CRM company 'Twin Ltd' "
            f"(CRM id {crm_id}) matches 2 Odoo partners: 'Twin Ltd' (id {first.id}) "
            f"and 'Twin Limited' (id {second.id}). Link it to one of them or create "
            "a new partner.",
        )

    def test_duplicate_message_names_linked_partner(self):
        linked_crm_id = self.sandbox.store.create(
            "companies", {"name": "Thornbury Widgets Ltd", "vat_number": "GB123456789"}
        )["id"]
        self.pull("company")
        partner = self.partner_of(linked_crm_id)
        crm_id = self.sandbox.store.create(
            "companies", {"name": "THORNBURY  WIDGETS LTD", "vat_number": "GB123456789"}
        )["id"]

        self.pull("company")

        job = self.exceptions("company", kind="duplicate")
        self.assertEqual(
            job.error_message,
            f"The VAT number GB123456789 of CRM company 'THORNBURY  WIDGETS LTD' "
            f"(CRM id {crm_id}) matches Odoo partner 'Thornbury Widgets Ltd' "
            f"(id {partner.id}), which is already linked to CRM record "
            f"{linked_crm_id}. The CRM may contain a duplicate, so merge the CRM "
            "records or correct the value, then retry.",
        )

    def test_contact_of_duplicate_company_waits_for_review(self):
        company_crm_id, _partners = self.create_duplicate_company()
        contact_crm_id = self.sandbox.store.create(
            "contacts",
            {"firstname": "Tess", "lastname": "Twin", "email": "tess@twin.example"},
        )["id"]
        self.sandbox.store.associate(
            "contacts", contact_crm_id, "companies", company_crm_id
        )

        self.pull_all()

        company_job = self.exceptions("company", kind="duplicate")
        contact_job = self.exceptions("contact")
        self.assertEqual(len(company_job), 1)
        self.assertEqual(len(contact_job), 1)
        self.assertEqual(contact_job.attempts, 1)
        self.assertEqual(contact_job.error_category, "validation")
        self.assertIn(
            f"CRM contact 'Tess Twin' (CRM id {contact_crm_id})",
            contact_job.error_message,
        )
        self.assertIn(
            f"'Twin Ltd' (CRM id {company_crm_id})", contact_job.error_message
        )
        self.assertIn(f"job {company_job.id}", contact_job.error_message)
        self.assertIn("Possible duplicate", contact_job.error_message)

        self.env["crm.sync.importer"]._import_record(
            self.backend, "company", company_crm_id, resolution={"action": "create"}
        )
        company_job._mark_done("Created a new partner.")
        contact_job.action_retry()
        self.process()

        self.assertEqual(contact_job.state, "done")
        contact = self.partner_of(contact_crm_id, "contact")
        self.assertEqual(contact.parent_id, self.partner_of(company_crm_id))
