import logging
import time
from datetime import UTC, datetime, timedelta

from odoo.tests import tagged

from crm_sandbox.csv_loader import read_rows

from .partner_sync_common import (
    E164_RE,
    LONDON_FILE,
    NORTHWIND_FILE,
    SALESFORCE_FILE,
    PartnerSyncCase,
)

_logger = logging.getLogger(__name__)


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

    def test_malformed_vat_rejected(self):
        company_id = self.create_crm_company(
            name="Tax Muddle Ltd", vat_number="GB12-34"
        )

        self.pull("company")

        self.assertFalse(self.partner_of(company_id))
        job = self.exceptions("company")
        self.assertEqual(job.error_category, "validation")
        self.assertIn("Tax Muddle Ltd", job.error_message)
        self.assertIn("Tax ID", job.error_message)
        self.assertIn("'GB12-34'", job.error_message)

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

    def test_pull_pages_through_one_millisecond(self):
        # A bulk load gives many records the same hs_lastmodifieddate. With
        # more of them than one search page, the pull must walk them by id.
        Importer = self.env["crm.sync.batch.importer"]
        self.pull("company")
        moment = datetime.now(UTC) + timedelta(seconds=1)
        self.addCleanup(setattr, self.sandbox.store, "clock", self.sandbox.store.clock)
        self.sandbox.store.clock = lambda: moment
        crm_ids = [
            self.create_crm_company(name=f"Bulk Load {number} Ltd")
            for number in range(250)
        ]

        queued = Importer._pull(self.backend, "company", now=self.later())
        self.process()
        queued_again = Importer._pull(self.backend, "company", now=self.later())

        self.assertEqual(queued, 250)
        bound = self.bindings("company").filtered(lambda b: b.crm_id in crm_ids)
        self.assertEqual(sorted(bound.mapped("crm_id")), sorted(crm_ids))
        self.assertEqual(len(bound.partner_id), 250)
        self.assertFalse(self.exceptions("company"))
        self.assertEqual(queued_again, 0)

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

    def test_restored_record_relinks_archived_link(self):
        crm_id = self.create_crm_company(name="Back Again Ltd", city="Derby")
        self.pull("company")
        partner = self.partner_of(crm_id)
        # What the deleter leaves behind after a CRM deletion.
        partner.crm_binding_ids.state = "archived"
        partner.active = False

        self.env["crm.sync.importer"]._import_record(self.backend, "company", crm_id)

        self.assertEqual(partner.crm_binding_ids.state, "linked")
        self.assertTrue(partner.active)

    def test_merged_away_link_stays_archived(self):
        primary_id = self.create_crm_company(name="Survivor Ltd")
        merged_id = self.create_crm_company(name="Absorbed Ltd")
        self.pull("company")
        absorbed = self.partner_of(merged_id)
        absorbed.crm_binding_ids.state = "archived"
        self.sandbox.store.merge("companies", primary_id, merged_id)

        result = self.env["crm.sync.importer"]._import_record(
            self.backend, "company", merged_id
        )

        self.assertIn("archived", result)
        self.assertEqual(absorbed.crm_binding_ids.state, "archived")
        self.assertEqual(self.partner_of(primary_id).name, "Survivor Ltd")

    def test_job_payload_holds_only_rule_properties(self):
        self.create_crm_company(
            name="Private Ltd", description="board minutes", industry="Software"
        )

        self.env["crm.sync.batch.importer"]._pull(
            self.backend, "company", now=self.later()
        )

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


@tagged("post_install", "-at_install")
class TestPartnerImportRealData(PartnerSyncCase):
    """First full syncs of real exports: London companies, Northwind, Salesforce."""

    # London rows loaded (of 1,000): enough for several hundred companies while
    # the whole class stays within a few minutes.
    LONDON_ROWS = 300

    def load_all_real(self):
        self.load_real(LONDON_FILE, "uk_companies_house", limit=self.LONDON_ROWS)
        self.load_real(NORTHWIND_FILE, "northwind_customers")
        self.load_real(SALESFORCE_FILE, "salesforce_accounts_contacts")

    def crm_state(self):
        """Return {(type, id): last-modified time} of every CRM record."""
        return {
            (object_type, record["id"]): record["updatedAt"]
            for object_type in ("companies", "contacts")
            for record in self.crm_records(object_type)
        }

    def assert_counts_reconcile(self, object_type, crm_type, linked_existing=0):
        """Check that every CRM record is linked once or parked as an exception.

        Returns (partners created, records rejected, linked records with a
        conflict waiting for a decision).
        """
        crm_count = len(self.crm_records(crm_type))
        bound = self.bindings(object_type)
        bound_ids = set(bound.mapped("crm_id"))
        exceptions = self.exceptions(object_type)
        rejected = set(exceptions.mapped("crm_id")) - bound_ids
        conflicts = exceptions.filtered(lambda job: job.crm_id in bound_ids)
        self.assertEqual(len(bound) + len(rejected), crm_count, object_type)
        self.assertEqual(len(set(bound.mapped("partner_id").ids)), len(bound))
        for job in conflicts:
            self.assertEqual(job.exception_kind, "conflict", job.error_message)
        return len(bound) - linked_existing, len(rejected), len(conflicts)

    def test_first_sync_into_empty_odoo(self):
        self.load_all_real()
        partners_before = self.Partner.search_count([])

        self.pull_all()

        created_companies, company_exceptions, _conflicts = (
            self.assert_counts_reconcile("company", "companies")
        )
        created_contacts, contact_exceptions, _conflicts = self.assert_counts_reconcile(
            "contact", "contacts"
        )
        self.assertEqual(
            self.Partner.search_count([]) - partners_before,
            created_companies + created_contacts,
        )
        self.assertGreaterEqual(created_companies, self.LONDON_ROWS)
        _logger.info(
            "First sync into an empty Odoo: %s companies and %s contacts created, "
            "%s company and %s contact exceptions",
            created_companies,
            created_contacts,
            company_exceptions,
            contact_exceptions,
        )

        partners = self.bindings().mapped("partner_id")
        for partner in partners.filtered("phone"):
            self.assertRegex(partner.phone, E164_RE, partner.name)
        for job in self.exceptions():
            self.assertEqual(job.error_category, "validation", job.error_message)
            self.assertIn("CRM id " + job.crm_id, job.error_message)
            if job.object_type == "contact" and "its company" in job.error_message:
                # A contact whose company was rejected waits for that company.
                self.assertIn("Resolve that exception first", job.error_message)
            else:
                self.assertIn("field", job.error_message)

        rabobank = partners.filtered(lambda p: p.name == "Coöperatieve Rabobank U.A.")
        self.assertEqual(len(rabobank), 1)
        bp = partners.filtered(lambda p: p.company_registry == "00102498")
        self.assertEqual(bp.name, "Bp P.L.C.")

        # A German contact's national number is read with its company's country.
        contact = self.Partner.search([("name", "=", "Maria Anders")])
        self.assertEqual(contact.parent_id.name, "Alfreds Futterkiste")
        self.assertEqual(contact.phone, "+49300074321")
        self.assertEqual(contact.function, "Sales Representative")

        # US numbers without a country are read as GB numbers and rejected.
        amy = self.bindings("contact").filtered(
            lambda binding: (
                self.crm("contacts", binding.crm_id).get("email") == "amy@demo.net"
            )
        )
        self.assertFalse(amy)
        amy_job = self.exceptions("contact").filtered(
            lambda job: "Amy Taylor" in job.error_message
        )
        self.assertIn("'4152568563'", amy_job.error_message)

        # A second run reads every record again and changes nothing anywhere.
        crm_before = self.crm_state()
        audit_before = self.AuditLog.search_count([])
        partners_after_first = self.Partner.search_count([])
        exceptions_before = len(self.exceptions())

        self.full_sync()

        self.assertEqual(self.Partner.search_count([]), partners_after_first)
        self.assertEqual(self.AuditLog.search_count([]), audit_before)
        self.assertEqual(self.crm_state(), crm_before)
        self.assertEqual(len(self.exceptions()), exceptions_before)

    def test_first_sync_links_existing_customers(self):
        self.load_all_real()
        london = read_rows(self.real_file(LONDON_FILE))[1][: self.LONDON_ROWS]
        germany = self.env.ref("base.de")

        # Odoo already contains some of the customers, typed differently.
        existing = {}
        for row in london[:40]:
            number = row["Company Registration Number"]
            existing[number] = self.Partner.create(
                {
                    "name": row["Company Name"].upper(),
                    "is_company": True,
                    "company_registry": f" {number.lower()} ",
                    "city": "LONDON",
                }
            )
        alfreds = self.Partner.create(
            {
                "name": "ALFREDS FUTTERKISTE",
                "is_company": True,
                "phone": "+49 30 0074321",
                "country_id": germany.id,
            }
        )
        maria = self.Partner.create(
            {"name": "maria anders", "parent_id": alfreds.id, "phone": "030 0074321"}
        )
        # Two Odoo companies share the number of one London company.
        twin_row = london[50]
        twin_number = twin_row["Company Registration Number"]
        twins = self.Partner.create(
            [
                {"name": "Twin A", "is_company": True, "company_registry": twin_number},
                {"name": "Twin B", "is_company": True, "company_registry": twin_number},
            ]
        )
        partners_before = self.Partner.search_count([])

        started = time.monotonic()
        self.pull_all()
        _logger.info("First sync took %.1f s", time.monotonic() - started)

        linked = len(existing) + 2
        created_companies, company_exceptions, company_conflicts = (
            self.assert_counts_reconcile(
                "company", "companies", linked_existing=len(existing) + 1
            )
        )
        created_contacts, contact_exceptions, contact_conflicts = (
            self.assert_counts_reconcile("contact", "contacts", linked_existing=1)
        )
        self.assertEqual(
            self.Partner.search_count([]) - partners_before,
            created_companies + created_contacts,
        )
        _logger.info(
            "First sync into an Odoo holding %s of the customers: %s linked, %s "
            "companies and %s contacts created, %s company and %s contact records "
            "rejected, %s company and %s contact conflicts",
            linked,
            linked,
            created_companies,
            created_contacts,
            company_exceptions,
            contact_exceptions,
            company_conflicts,
            contact_conflicts,
        )
        # Maria's name differs in case only, and both sides own contact names.
        self.assertEqual(contact_conflicts, 1)

        bound_partners = self.bindings("company").mapped("partner_id")
        for number, partner in existing.items():
            self.assertIn(partner, bound_partners, number)
            self.assertEqual(
                self.Partner.search_count([("crm_sync_registry_norm", "=", number)]),
                1,
                number,
            )
        self.assertIn(alfreds, bound_partners)
        self.assertIn(maria, self.bindings("contact").mapped("partner_id"))
        self.assertEqual(maria.parent_id, alfreds)

        # Odoo owns company names, so the CRM now spells them as Odoo does.
        bp = existing["00102498"]
        bp_binding = bp.crm_binding_ids
        self.assertEqual(self.crm("companies", bp_binding.crm_id)["name"], "BP P.L.C.")

        duplicate = self.exceptions("company", kind="duplicate")
        self.assertEqual(len(duplicate), 1)
        self.assertEqual(duplicate.candidate_partner_ids, twins)
        self.assertIn(twin_row["Company Name"], duplicate.error_message)

        # A second run changes nothing.
        crm_before = self.crm_state()
        audit_before = self.AuditLog.search_count([])
        partners_after_first = self.Partner.search_count([])

        started = time.monotonic()
        self.full_sync()
        _logger.info("Second sync took %.1f s", time.monotonic() - started)

        self.assertEqual(self.Partner.search_count([]), partners_after_first)
        self.assertEqual(self.AuditLog.search_count([]), audit_before)
        self.assertEqual(self.crm_state(), crm_before)

        # A person links the ambiguous record to one of the candidates.
        wizard = (
            self.env["crm.sync.resolve.wizard"]
            .with_context(default_job_id=duplicate.id)
            .create({})
        )
        line = wizard.candidate_line_ids.filtered(
            lambda candidate: candidate.partner_id == twins[1]
        )
        line.action_link()

        self.assertEqual(duplicate.state, "done")
        self.assertEqual(self.partner_of(duplicate.crm_id), twins[1])
