from psycopg2 import IntegrityError

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from .partner_sync_common import PartnerSyncCase


@tagged("post_install", "-at_install")
class TestFieldRules(PartnerSyncCase):
    """Field rules: defaults, checks, access, and the allow-list they enforce."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Rule = cls.env["crm.sync.field.rule"]
        cls.sync_user = new_test_user(
            cls.env,
            login="crm_sync_rules_user",
            groups="base.group_user,external_crm_sync.group_crm_sync_user",
        )

    def rule(self, object_type, odoo_field):
        return self.Rule.search(
            [
                ("backend_id", "=", self.backend.id),
                ("object_type", "=", object_type),
                ("odoo_field", "=", odoo_field),
            ]
        )

    def partner_field(self, name):
        return self.env["ir.model.fields"]._get("res.partner", name)

    def test_new_backend_gets_hubspot_defaults(self):
        rules = self.Rule.search([("backend_id", "=", self.backend.id)])
        company_fields = set(
            rules.filtered(lambda rule: rule.object_type == "company").mapped(
                "odoo_field"
            )
        )
        contact_fields = set(
            rules.filtered(lambda rule: rule.object_type == "contact").mapped(
                "odoo_field"
            )
        )

        self.assertEqual(
            company_fields,
            {
                "name",
                "vat",
                "company_registry",
                "phone",
                "website",
                "street",
                "street2",
                "city",
                "zip",
                "country_id",
            },
        )
        self.assertEqual(
            contact_fields,
            {"name", "email", "phone", "mobile", "function", "parent_id"},
        )
        self.assertEqual(self.rule("company", "vat").crm_property, "vat_number")
        self.assertEqual(self.rule("company", "vat").owner, "odoo")
        self.assertEqual(self.rule("contact", "name").crm_property_2, "lastname")
        self.assertEqual(self.backend.field_rule_count, len(rules))

    def test_person_name_needs_last_name_property(self):
        with self.assertRaises(ValidationError):
            self.rule("contact", "name").crm_property_2 = False

    def test_owner_must_be_able_to_send(self):
        with self.assertRaises(ValidationError):
            self.rule("company", "vat").direction = "import"

    def test_transformation_must_fit_field(self):
        with self.assertRaises(ValidationError):
            self.Rule.create(
                {
                    "backend_id": self.backend.id,
                    "object_type": "company",
                    "field_id": self.partner_field("comment").id,
                    "crm_property": "description",
                    "transformation": "country",
                }
            )

    def test_one_rule_per_field(self):
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError):
            self.Rule.create(
                {
                    "backend_id": self.backend.id,
                    "object_type": "company",
                    "field_id": self.partner_field("phone").id,
                    "crm_property": "phone_other",
                }
            )

    def test_manager_edits_user_reads(self):
        rule = self.rule("company", "city")

        rule.owner = "crm"
        self.assertEqual(rule.with_user(self.sync_user).owner, "crm")
        with self.assertRaises(AccessError):
            rule.with_user(self.sync_user).owner = "odoo"

    def test_rules_menu_opens_list(self):
        action = self.backend.action_view_field_rules()

        self.assertEqual(action["res_model"], "crm.sync.field.rule")
        self.assertIn("list", action["view_mode"])
        menu = self.env.ref("external_crm_sync.menu_crm_sync_field_rule")
        self.assertEqual(
            menu.parent_id,
            self.env.ref("external_crm_sync.menu_crm_sync_configuration"),
        )

    def test_field_without_active_rule_never_sent(self):
        self.rule("company", "phone").active = False
        partner = self.Partner.create(
            {
                "name": "No Phone Out Ltd",
                "is_company": True,
                "customer_rank": 1,
                "phone": "020 7946 0555",
            }
        )
        job = self.Job.search(
            [("res_id", "=", partner.id), ("operation", "=", "export")]
        )
        self.assertNotIn("phone", job.payload["fields"])

        self.process()

        properties = self.crm("companies", partner.crm_binding_ids.crm_id)
        self.assertNotIn("phone", properties)
        self.assertNotIn("phone", partner.crm_binding_ids.last_values)
        self.assertFalse(
            self.AuditLog.search(
                [("partner_id", "=", partner.id), ("field_name", "=", "phone")]
            )
        )

    def test_audit_log_drops_fields_outside_rules(self):
        partner = self.Partner.create({"name": "Audit Filter Ltd", "is_company": True})
        entries = self.AuditLog._log_changes(
            [
                {
                    "backend_id": self.backend.id,
                    "object_type": "company",
                    "partner_id": partner.id,
                    "field_name": field_name,
                    "old_value": "old",
                    "new_value": "new",
                    "direction": "export",
                    "source": "engine",
                }
                for field_name in ("city", "comment")
            ]
        )

        self.assertEqual(entries.mapped("field_name"), ["city"])

    def test_other_company_sees_no_rules_links_or_audit(self):
        partner = self.Partner.create(
            {"name": "Visible Ltd", "is_company": True, "customer_rank": 1}
        )
        self.process()
        other_company = self.env["res.company"].create({"name": "Elsewhere Ltd"})
        other_user = new_test_user(
            self.env,
            login="crm_sync_elsewhere",
            groups="base.group_user,external_crm_sync.group_crm_sync_manager",
            company_id=other_company.id,
            company_ids=[(6, 0, other_company.ids)],
        )

        env = self.env(user=other_user)
        self.assertFalse(
            env["crm.sync.field.rule"].search([("backend_id", "=", self.backend.id)])
        )
        self.assertFalse(
            env["crm.sync.binding"].search([("partner_id", "=", partner.id)])
        )
        self.assertFalse(
            env["crm.sync.audit.log"].search([("partner_id", "=", partner.id)])
        )

    def test_partner_form_shows_links_and_counts(self):
        crm_id = self.sandbox.store.create(
            "companies", {"name": "Buttons Ltd", "phone": "+441134960999"}
        )["id"]
        self.pull("company")
        partner = self.partner_of(crm_id)
        self.sandbox.store.update("companies", crm_id, {"phone": "not a number"})
        self.pull("company")

        partner = partner.with_user(self.sync_user)
        self.assertEqual(partner.crm_binding_ids.crm_id, crm_id)
        self.assertEqual(partner.crm_sync_audit_count, 2)
        self.assertEqual(partner.crm_sync_exception_count, 1)
        audit_action = partner.action_view_crm_sync_audit()
        self.assertEqual(
            self.env["crm.sync.audit.log"].search_count(audit_action["domain"]), 2
        )
        exception_action = partner.action_view_crm_sync_exceptions()
        exceptions = self.env["crm.sync.job"].search(exception_action["domain"])
        self.assertEqual(exceptions, self.exceptions("company"))
        self.assertIn("'not a number'", exceptions.error_message)
