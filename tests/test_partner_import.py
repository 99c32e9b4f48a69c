from odoo.tests import tagged

from .partner_sync_common import PartnerSyncCase


@tagged("post_install", "-at_install")
class TestPartnerImport(PartnerSyncCase):
    """Import of single CRM companies and contacts, through the job queue."""

    def create_crm_company(self, **properties):
        return self.sandbox.store.create("companies", properties)["id"]

    def create_crm_contact(self, company_id=None, **properties):
        contact_id = self.sandbox.store.create("contacts", properties)["id"]
        if company_id:
            self.sandbox.store.associate(
                "contacts", contact_id, "companies", company_id
            )
        return contact_id

    def test_company_created_with_normalised_values(self):
        crm_id = self.create_crm_company(
            name="Acme Widgets Ltd",
            phone="020 7946 0958",
            vat_number="gb 123 4567 89",
            company_number="sc 19230",
            domain="www.acme.example.co.uk",
            address="1 High Street",
            city="London",
            zip="SW1A 1AA",
            country="United Kingdom",
        )

        self.pull("company")

        partner = self.partner_of(crm_id)
        self.assertTrue(partner.is_company)
        self.assertEqual(partner.name, "Acme Widgets Ltd")
        self.assertEqual(partner.phone, "+442079460958")
        self.assertEqual(partner.vat, "GB123456789")
        self.assertEqual(partner.company_registry, "SC019230")
        self.assertEqual(partner.website, "https://acme.example.co.uk")
        self.assertEqual(partner.country_id.code, "GB")
        self.assertEqual(partner.street, "1 High Street")

    def test_contact_gets_parent_from_association(self):
        company_id = self.create_crm_company(name="Parent Co Ltd")
        contact_id = self.create_crm_contact(
            company_id,
            firstname="Mary Ann",
            lastname="Smith",
            email=" Mary.Smith@Example.COM ",
            jobtitle="Buyer",
        )

        self.pull("contact")

        contact = self.partner_of(contact_id, "contact")
        self.assertEqual(contact.name, "Mary Ann Smith")
        self.assertEqual(contact.email, "mary.smith@example.com")
        self.assertEqual(contact.function, "Buyer")
        self.assertEqual(contact.parent_id, self.partner_of(company_id))
        self.assertFalse(contact.is_company)

    def test_invalid_email_rejected_with_record_field_value(self):
        company_id = self.create_crm_company(name="Good Co Ltd", phone="not a phone")

        self.pull("company")

        self.assertFalse(self.partner_of(company_id))
        job = self.exceptions("company")
        self.assertEqual(len(job), 1)
        self.assertEqual(job.error_category, "validation")
        self.assertIn("Good Co Ltd", job.error_message)
        self.assertIn("Phone", job.error_message)
        self.assertIn("'not a phone'", job.error_message)

    def test_missing_name_rejected(self):
        company_id = self.create_crm_company(city="Leeds")

        self.pull("company")

        self.assertFalse(self.partner_of(company_id))
        job = self.exceptions("company")
        self.assertIn(company_id, job.error_message)
        self.assertIn("Name", job.error_message)
        self.assertIn("missing", job.error_message)

    def test_bad_record_does_not_stop_batch(self):
        good_id = self.create_crm_company(name="Fine Ltd", phone="+44 20 7946 0000")
        bad_id = self.create_crm_company(name="Broken Ltd", phone="12")

        self.pull("company")

        self.assertTrue(self.partner_of(good_id))
        self.assertFalse(self.partner_of(bad_id))
        self.assertEqual(len(self.exceptions("company")), 1)

    def test_second_run_creates_nothing(self):
        crm_id = self.create_crm_company(name="Once Only Ltd", phone="020 7946 0001")
        self.pull("company")
        partners_before = self.Partner.search_count([])

        self.full_sync()

        self.assertEqual(self.Partner.search_count([]), partners_before)
        self.assertEqual(
            len(self.bindings("company").filtered(lambda b: b.crm_id == crm_id)), 1
        )

    def test_changed_email_of_bound_contact_is_update(self):
        contact_id = self.create_crm_contact(
            firstname="Ann", lastname="Lee", email="ann@old.example"
        )
        self.pull("contact")
        contact = self.partner_of(contact_id, "contact")

        self.sandbox.store.update("contacts", contact_id, {"email": "ann@new.example"})
        self.pull("contact")

        self.assertEqual(self.partner_of(contact_id, "contact"), contact)
        self.assertEqual(contact.email, "ann@new.example")
        self.assertEqual(self.Partner.search_count([("name", "=", "Ann Lee")]), 1)

    def test_existing_partner_linked_by_vat(self):
        existing = self.Partner.create(
            {"name": "ACME WIDGETS LIMITED", "is_company": True, "vat": "GB 123456789"}
        )
        crm_id = self.create_crm_company(
            name="Acme Widgets Ltd", vat_number="GB123456789"
        )

        self.pull("company")

        self.assertEqual(self.partner_of(crm_id), existing)
        self.assertEqual(self.Partner.search_count([("vat", "ilike", "123456789")]), 1)

    def test_contact_linked_by_email(self):
        existing = self.Partner.create(
            {"name": "Bob Stone", "email": "BOB@Stone.example"}
        )
        contact_id = self.create_crm_contact(
            firstname="Robert", lastname="Stone", email="bob@stone.example"
        )

        self.pull("contact")

        self.assertEqual(self.partner_of(contact_id, "contact"), existing)

    def test_two_candidates_become_duplicate_exception(self):
        first = self.Partner.create(
            {"name": "Twin Ltd", "is_company": True, "company_registry": "01234567"}
        )
        second = self.Partner.create(
            {"name": "Twin Limited", "is_company": True, "company_registry": "1234567"}
        )
        second.company_registry = "01234567"
        crm_id = self.create_crm_company(name="Twin Ltd", company_number="01234567")

        self.pull("company")

        self.assertFalse(self.partner_of(crm_id))
        job = self.exceptions("company", kind="duplicate")
        self.assertEqual(len(job), 1)
        self.assertEqual(job.candidate_partner_ids, first | second)
        self.assertEqual(job.error_category, "duplicate")

    def test_phone_and_name_match_links(self):
        existing = self.Partner.create(
            {"name": "Harbour Foods Ltd", "is_company": True, "phone": "020 7946 0123"}
        )
        crm_id = self.create_crm_company(
            name="Harbour Foods Limited", phone="+442079460123"
        )

        self.pull("company")

        self.assertEqual(self.partner_of(crm_id), existing)

    def test_phone_with_other_name_does_not_link(self):
        existing = self.Partner.create(
            {"name": "Harbour Foods Ltd", "is_company": True, "phone": "020 7946 0124"}
        )
        crm_id = self.create_crm_company(
            name="Completely Different plc", phone="+442079460124"
        )

        self.pull("company")

        self.assertNotEqual(self.partner_of(crm_id), existing)
        self.assertTrue(self.partner_of(crm_id))

    def test_non_ascii_values_round_trip(self):
        crm_id = self.create_crm_company(
            name="Coöperatieve Rabobank U.A.",
            address="Thames Court, 1 Queenhithe",
            city="Luleå",
        )
        self.pull("company")
        partner = self.partner_of(crm_id)

        self.assertEqual(partner.name, "Coöperatieve Rabobank U.A.")
        self.assertEqual(partner.city, "Luleå")
        self.env["crm.sync.exporter"]._export_partner(self.backend, partner)
        self.assertEqual(
            self.crm("companies", crm_id)["name"], "Coöperatieve Rabobank U.A."
        )
        self.assertEqual(self.crm("companies", crm_id)["city"], "Luleå")

    def test_job_payload_holds_only_rule_properties(self):
        self.create_crm_company(
            name="Private Ltd", description="board minutes", industry="Software"
        )

        self.env["crm.sync.importer"]._pull(self.backend, "company", now=self.later())

        job = self.Job.search(
            [("backend_id", "=", self.backend.id), ("operation", "=", "import")]
        )
        properties = job.payload["properties"]
        self.assertEqual(properties["name"], "Private Ltd")
        self.assertNotIn("description", properties)
        self.assertNotIn("industry", properties)

    def test_audit_entry_per_changed_field(self):
        crm_id = self.create_crm_company(name="Audit Me Ltd", city="York")
        self.pull("company")
        partner = self.partner_of(crm_id)

        self.sandbox.store.update(
            "companies", crm_id, {"city": "Leeds", "description": "x"}
        )
        self.pull("company")

        entries = self.AuditLog.search(
            [("partner_id", "=", partner.id), ("field_name", "=", "city")]
        )
        self.assertEqual(entries[0].old_value, "York")
        self.assertEqual(entries[0].new_value, "Leeds")
        self.assertEqual(entries[0].direction, "import")
        self.assertEqual(entries[0].source, "crm")
        self.assertFalse(self.AuditLog.search([("field_name", "=", "comment")]))
        self.assertEqual(
            partner.crm_sync_audit_count,
            len(
                partner.crm_binding_ids
                and self.AuditLog.search([("partner_id", "=", partner.id)])
            ),
        )
