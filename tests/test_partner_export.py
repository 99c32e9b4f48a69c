import logging
import re

from odoo.tests import new_test_user, tagged

from .partner_sync_common import E164_RE, PartnerSyncCase


@tagged("post_install", "-at_install")
class TestPartnerExport(PartnerSyncCase):
    """Export of Odoo partners: hooks that queue jobs, then the job bodies."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sales_user = new_test_user(
            cls.env,
            login="crm_sync_sales",
            groups="base.group_user,base.group_partner_manager",
        )

    def export_jobs(self, partner=None):
        domain = [("backend_id", "=", self.backend.id), ("operation", "=", "export")]
        if partner:
            domain += [("res_model", "=", "res.partner"), ("res_id", "=", partner.id)]
        return self.Job.search(domain)

    def create_customer(self, **values):
        values.setdefault("is_company", True)
        values.setdefault("customer_rank", 1)
        return self.Partner.create(values)

    def bind_imported_company(self, **properties):
        """Create a company in the CRM and import it; return (partner, crm id)."""
        crm_id = self.sandbox.store.create("companies", properties)["id"]
        self.pull("company")
        return self.partner_of(crm_id), crm_id

    # ------------------------------------------------------------------
    # Queueing
    # ------------------------------------------------------------------

    def test_new_customer_queues_export_without_values(self):
        partner = self.create_customer(name="Queue Me Ltd", phone="020 7946 0300")

        job = self.export_jobs(partner)

        self.assertEqual(len(job), 1)
        self.assertEqual(job.object_type, "company")
        self.assertEqual(job.state, "pending")
        self.assertIn("phone", job.payload["fields"])
        self.assertNotIn("020 7946 0300", str(job.payload))
        self.assertNotIn("Queue Me Ltd", str(job.payload))

    def test_non_customer_not_queued(self):
        partner = self.Partner.create({"name": "Supplier Only Ltd", "is_company": True})

        self.assertFalse(self.export_jobs(partner))

    def test_field_without_rule_not_queued(self):
        partner, _crm_id = self.bind_imported_company(name="Quiet Ltd")

        partner.comment = "<p>Internal notes stay in Odoo</p>"
        partner.ref = "CUST-42"

        self.assertFalse(self.export_jobs(partner))

    def test_rule_field_change_queues_one_job(self):
        partner, _crm_id = self.bind_imported_company(name="Busy Ltd")

        partner.phone = "020 7946 0301"
        partner.city = "Bath"

        job = self.export_jobs(partner)
        self.assertEqual(len(job), 1)
        self.assertEqual(sorted(job.payload["fields"]), ["city", "phone"])

    def test_import_does_not_queue_export(self):
        self.sandbox.store.create("companies", {"name": "Echo Ltd", "city": "Hull"})

        self.pull("company")

        self.assertFalse(self.export_jobs())

    def test_cron_push_queues_customers_the_hooks_missed(self):
        partner = self.Partner.with_context(crm_sync_no_export=True).create(
            {"name": "Silent Ltd", "is_company": True, "customer_rank": 1}
        )
        self.assertFalse(self.export_jobs(partner))

        self.backend._cron_push()

        self.assertEqual(len(self.export_jobs(partner)), 1)

    # ------------------------------------------------------------------
    # Job bodies
    # ------------------------------------------------------------------

    def test_company_created_in_crm(self):
        partner = self.create_customer(
            name="Export Widgets Ltd",
            phone="020 7946 0958",
            vat="gb 123 4567 89",
            company_registry="sc19230",
            website="http://www.export-widgets.example",
            street="2 Mill Lane",
            city="Leeds",
            zip="LS1 4AP",
            country_id=self.env.ref("base.uk").id,
        )

        self.process()

        binding = partner.crm_binding_ids
        self.assertEqual(len(binding), 1)
        properties = self.crm("companies", binding.crm_id)
        self.assertEqual(properties["name"], "Export Widgets Ltd")
        self.assertEqual(properties["phone"], "+442079460958")
        self.assertEqual(properties["vat_number"], "GB123456789")
        self.assertEqual(properties["company_number"], "SC019230")
        self.assertEqual(properties["domain"], "export-widgets.example")
        self.assertEqual(properties["address"], "2 Mill Lane")
        self.assertEqual(properties["country"], "GB")
        self.assertTrue(
            properties["odoo_sync_key"].endswith(f":res.partner:{partner.id}")
        )
        job = self.export_jobs(partner)
        self.assertEqual(job.state, "done")
        self.assertEqual(job.crm_id, binding.crm_id)

    def test_only_rule_fields_leave_odoo(self):
        partner = self.create_customer(
            name="Private Data Ltd",
            comment="<p>credit hold</p>",
            ref="INTERNAL-7",
            email="accounts@private.example",
        )

        self.process()

        properties = self.crm("companies", partner.crm_binding_ids.crm_id)
        sent = set(properties) - {"hs_object_id", "createdate", "hs_lastmodifieddate"}
        self.assertEqual(sent, {"name", "odoo_sync_key"})
        self.assertNotIn("credit hold", str(properties))
        entries = self.AuditLog.search([("partner_id", "=", partner.id)])
        self.assertEqual(entries.mapped("field_name"), ["name"])

    def test_contact_exported_with_company_association(self):
        company = self.create_customer(name="Family Firm Ltd")
        contact = self.Partner.create(
            {
                "name": "Jane van der Berg",
                "parent_id": company.id,
                "email": "Jane@Family.example",
                "mobile": "07700 900123",
                "function": "Director",
            }
        )

        self.process()

        contact_id = contact.crm_binding_ids.crm_id
        company_id = company.crm_binding_ids.crm_id
        properties = self.crm("contacts", contact_id)
        self.assertEqual(properties["firstname"], "Jane van der")
        self.assertEqual(properties["lastname"], "Berg")
        self.assertEqual(properties["email"], "jane@family.example")
        self.assertEqual(properties["mobilephone"], "+447700900123")
        self.assertEqual(properties["jobtitle"], "Director")
        associations = self.sandbox.store.associations_of(
            "contacts", contact_id, "companies"
        )
        self.assertEqual([to_id for to_id, _types in associations], [company_id])

    def test_contact_moved_to_other_company(self):
        old_company = self.create_customer(name="Old Employer Ltd")
        new_company = self.create_customer(name="New Employer Ltd")
        contact = self.Partner.create(
            {
                "name": "Sam Hill",
                "parent_id": old_company.id,
                "email": "sam@hill.example",
            }
        )
        self.process()
        contact_id = contact.crm_binding_ids.crm_id
        old_id = old_company.crm_binding_ids.crm_id

        contact.parent_id = new_company
        self.process()

        associations = self.sandbox.store.associations_of(
            "contacts", contact_id, "companies"
        )
        new_id = new_company.crm_binding_ids.crm_id
        self.assertEqual([to_id for to_id, _types in associations], [new_id])
        self.assertEqual(
            self.sandbox.store.associations_of("companies", old_id, "contacts"), []
        )

    def test_first_push_searches_keys_in_batches(self):
        partners = self.Partner.create(
            [
                {"name": f"New {index} Ltd", "is_company": True, "customer_rank": 1}
                for index in range(120)
            ]
        )
        with self.assertLogs(
            "odoo.addons.external_crm_sync.sync_core.adapters.hubspot",
            level=logging.INFO,
        ) as logs:
            self.process()

        self.assertEqual(len(partners.crm_binding_ids), 120)
        self.assertEqual(len(self.crm_records("companies")), 120)
        key_searches = [
            line
            for line in logs.output
            if "IN search of companies by odoo_sync_key" in line
        ]
        values = [int(re.search(r": (\d+) values", line)[1]) for line in key_searches]
        self.assertEqual(sum(values), 120)
        self.assertLessEqual(len(key_searches), 12)

    def test_create_repeated_after_lost_response_links(self):
        partner = self.create_customer(name="Crash Test Ltd")
        sync_key = self.env["crm.sync.exporter"]._sync_key(partner)
        # A first attempt created the record, then the worker died before commit.
        crm_id = self.sandbox.store.create(
            "companies", {"name": "Crash Test Ltd", "odoo_sync_key": sync_key}
        )["id"]

        self.process()

        self.assertEqual(partner.crm_binding_ids.crm_id, crm_id)
        self.assertEqual(len(self.crm_records("companies")), 1)

    def test_export_links_crm_record_with_same_vat(self):
        crm_id = self.sandbox.store.create(
            "companies", {"name": "Same VAT Limited", "vat_number": "GB123456789"}
        )["id"]
        partner = self.create_customer(name="Same VAT Ltd", vat="GB 123 456 789")

        self.process()

        self.assertEqual(partner.crm_binding_ids.crm_id, crm_id)
        self.assertEqual(len(self.crm_records("companies")), 1)
        self.assertEqual(self.crm("companies", crm_id)["name"], "Same VAT Ltd")

    def test_export_with_two_crm_candidates_is_duplicate(self):
        for name in ("Double One", "Double Two"):
            self.sandbox.store.create(
                "companies", {"name": name, "company_number": "01234567"}
            )
        partner = self.create_customer(name="Double Ltd", company_registry="01234567")

        self.process()

        self.assertFalse(partner.crm_binding_ids)
        job = self.export_jobs(partner)
        self.assertEqual(job.state, "exception")
        self.assertEqual(job.exception_kind, "duplicate")
        self.assertEqual(len(job.exception_data["candidates"]), 2)
        self.assertEqual(len(self.crm_records("companies")), 2)

    def test_invalid_email_rejected_rest_of_batch_sent(self):
        company = self.create_customer(name="Batch Co Ltd")
        good = self.Partner.create(
            {
                "name": "Good Person",
                "parent_id": company.id,
                "email": "good@batch.example",
            }
        )
        bad = self.Partner.create(
            {"name": "Bad Person", "parent_id": company.id, "email": "bad@@batch"}
        )

        self.process()

        self.assertTrue(good.crm_binding_ids)
        self.assertFalse(bad.crm_binding_ids)
        job = self.export_jobs(bad)
        self.assertEqual(job.state, "exception")
        self.assertEqual(job.error_category, "validation")
        self.assertIn("Bad Person", job.error_message)
        self.assertIn("Email", job.error_message)
        self.assertIn("'bad@@batch'", job.error_message)

    def test_edits_pushed_through_one_batch_call(self):
        partners = self.Partner.create(
            [
                {"name": f"Batch {index} Ltd", "is_company": True, "customer_rank": 1}
                for index in range(30)
            ]
        )
        self.process()
        self.assertEqual(len(partners.crm_binding_ids), 30)

        partners.write({"city": "Norwich"})
        with self.assertLogs(
            "odoo.addons.external_crm_sync.sync_core.adapters.hubspot",
            level=logging.INFO,
        ) as logs:
            self.process()

        updates = [line for line in logs.output if "batch update of companies" in line]
        self.assertEqual(updates, [updates[0]])
        self.assertIn("30 updated", updates[0])
        for binding in partners.crm_binding_ids:
            self.assertEqual(self.crm("companies", binding.crm_id)["city"], "Norwich")

    def test_odoo_edit_flows_to_crm_with_audit(self):
        partner, crm_id = self.bind_imported_company(
            name="Flow Ltd", phone="+441134960000"
        )

        partner.with_user(self.sales_user).write({"phone": "0113 496 0001"})
        self.process()

        self.assertEqual(self.crm("companies", crm_id)["phone"], "+441134960001")
        entry = self.AuditLog.search(
            [("partner_id", "=", partner.id), ("direction", "=", "export")]
        )
        self.assertEqual(entry.field_name, "phone")
        self.assertEqual(entry.old_value, "+441134960000")
        self.assertEqual(entry.new_value, "+441134960001")
        self.assertEqual(entry.source, "odoo_user")
        self.assertEqual(entry.user_id, self.sales_user)

    def test_crm_edit_flows_to_odoo(self):
        partner, crm_id = self.bind_imported_company(name="Inbound Ltd", city="York")

        self.sandbox.store.update(
            "companies", crm_id, {"city": "Ripon", "phone": "01765 600000"}
        )
        self.pull("company")

        self.assertEqual(partner.city, "Ripon")
        self.assertRegex(partner.phone, E164_RE)
        self.assertFalse(self.export_jobs(partner))

    def test_archived_link_never_pushed(self):
        partner, crm_id = self.bind_imported_company(name="Gone Ltd", city="Ely")
        partner.crm_binding_ids.state = "archived"

        partner.city = "Wells"
        result = self.env["crm.sync.exporter"]._export_partner(self.backend, partner)

        self.assertFalse(self.export_jobs(partner))
        self.assertIn("archived", result)
        self.assertEqual(self.crm("companies", crm_id)["city"], "Ely")
        self.assertEqual(len(self.crm_records("companies")), 1)

    def test_second_push_changes_nothing(self):
        partner = self.create_customer(name="Steady Ltd", phone="020 7946 0777")
        self.process()
        crm_id = partner.crm_binding_ids.crm_id
        before = self.sandbox.store.get("companies", crm_id)["updatedAt"]

        self.env["crm.sync.exporter"]._export_partner(self.backend, partner)

        self.assertEqual(
            self.sandbox.store.get("companies", crm_id)["updatedAt"], before
        )
