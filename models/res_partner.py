import logging

from odoo import api, fields, models
from odoo.osv import expression

from ..sync_core import normalise
from ..sync_core.errors import InvalidValueError

_logger = logging.getLogger(__name__)

# Context key set on every write the sync engine makes itself, so that the
# write does not queue an export of the value it just received.
NO_EXPORT_CONTEXT = "crm_sync_no_export"

# Child partner types that are addresses of their parent, not people.
ADDRESS_TYPES = ("invoice", "delivery", "other")


def _lenient(function, *args):
    """Return the normal form of a value, or False when it cannot be normalised."""
    try:
        return function(*args) or False
    except InvalidValueError:
        return False


class ResPartner(models.Model):
    _inherit = "res.partner"

    crm_binding_ids = fields.One2many(
        "crm.sync.binding",
        "partner_id",
        string="CRM Links",
        groups="external_crm_sync.group_crm_sync_user",
    )
    # Normalised match keys, stored and indexed so that identity matching is
    # an index lookup rather than a scan of every partner.
    crm_sync_email_norm = fields.Char(
        string="Normalised Email",
        compute="_compute_crm_sync_keys",
        store=True,
        index="btree_not_null",
    )
    crm_sync_phone_e164 = fields.Char(
        string="Phone (E.164)",
        compute="_compute_crm_sync_keys",
        store=True,
        index="btree_not_null",
    )
    crm_sync_mobile_e164 = fields.Char(
        string="Mobile (E.164)",
        compute="_compute_crm_sync_keys",
        store=True,
        index="btree_not_null",
    )
    crm_sync_vat_norm = fields.Char(
        string="Normalised VAT",
        compute="_compute_crm_sync_keys",
        store=True,
        index="btree_not_null",
    )
    crm_sync_registry_norm = fields.Char(
        string="Normalised Company Registry",
        compute="_compute_crm_sync_keys",
        store=True,
        index="btree_not_null",
    )
    crm_sync_domain = fields.Char(
        string="Website Domain",
        compute="_compute_crm_sync_keys",
        store=True,
        index="btree_not_null",
    )
    crm_sync_audit_count = fields.Integer(
        string="CRM Audit Entries",
        compute="_compute_crm_sync_counts",
        groups="external_crm_sync.group_crm_sync_user",
    )
    crm_sync_exception_count = fields.Integer(
        string="CRM Sync Exceptions",
        compute="_compute_crm_sync_counts",
        groups="external_crm_sync.group_crm_sync_user",
    )

    @api.depends(
        "email", "phone", "mobile", "vat", "company_registry", "website", "country_id"
    )
    def _compute_crm_sync_keys(self):
        for partner in self:
            region = partner.country_id.code or normalise.DEFAULT_REGION
            partner.crm_sync_email_norm = _lenient(normalise.email, partner.email)
            partner.crm_sync_phone_e164 = _lenient(
                partner._crm_sync_phone_key, partner.phone, region
            )
            partner.crm_sync_mobile_e164 = _lenient(
                partner._crm_sync_phone_key, partner.mobile, region
            )
            partner.crm_sync_vat_norm = _lenient(normalise.vat, partner.vat, region)
            partner.crm_sync_registry_norm = _lenient(
                normalise.company_number, partner.company_registry
            )
            partner.crm_sync_domain = _lenient(
                normalise.website_domain, partner.website
            )

    @api.model
    def _crm_sync_phone_key(self, value, region):
        return normalise.phone_e164(value, region, keep_extension=False)

    def _compute_crm_sync_counts(self):
        audit_counts = dict(
            self.env["crm.sync.audit.log"]._read_group(
                [("partner_id", "in", self.ids)], ["partner_id"], ["__count"]
            )
        )
        exceptions = self.env["crm.sync.job"].search(self._crm_sync_exception_domain())
        for partner in self:
            partner.crm_sync_audit_count = audit_counts.get(partner, 0)
            partner.crm_sync_exception_count = len(
                exceptions.filtered_domain(partner._crm_sync_exception_domain())
            )

    def _crm_sync_exception_domain(self):
        """Return the domain of open exceptions about these partners.

        Export jobs name the partner. Import jobs name only the CRM record, so
        they are found through the partners' CRM links.
        """
        record_domains = [
            [("res_model", "=", "res.partner"), ("res_id", "in", self.ids)]
        ]
        for binding in self.sudo().crm_binding_ids:
            record_domains.append(
                [
                    ("backend_id", "=", binding.backend_id.id),
                    ("object_type", "=", binding.object_type),
                    ("crm_id", "=", binding.crm_id),
                ]
            )
        return [("state", "=", "exception"), *expression.OR(record_domains)]

    def action_view_crm_sync_audit(self):
        """Open the audit trail of this partner's synced fields."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "external_crm_sync.crm_sync_audit_log_action"
        )
        action["domain"] = [("partner_id", "=", self.id)]
        return action

    def action_view_crm_sync_exceptions(self):
        """Open this partner's sync jobs that wait for a person to act."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Sync Exceptions"),
            "res_model": "crm.sync.job",
            "view_mode": "list,form",
            "domain": self._crm_sync_exception_domain(),
        }

    # ------------------------------------------------------------------
    # Export hooks
    # ------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        partners = super().create(vals_list)
        if not self.env.context.get(NO_EXPORT_CONTEXT):
            changed = set().union(*(vals.keys() for vals in vals_list))
            partners._crm_sync_queue_exports(changed)
        return partners

    def write(self, vals):
        result = super().write(vals)
        if not self.env.context.get(NO_EXPORT_CONTEXT):
            self._crm_sync_queue_exports(set(vals))
        return result

    def _crm_sync_queue_exports(self, changed_fields):
        """Queue an export for each partner in scope whose synced fields changed.

        Only the names of changed fields named by a field rule go into the job
        payload, never their values.
        """
        if not self or not changed_fields:
            return
        scope = self.env["crm.sync.batch.exporter"].sudo()
        exporter = self.env["crm.sync.exporter"].sudo()
        for backend, object_type, rule_fields in scope._export_triggers():
            synced_changes = changed_fields & rule_fields
            if not synced_changes:
                continue
            partners = self._crm_sync_filter_object_type(object_type)
            partners = scope._filter_in_scope(backend, object_type, partners)
            if partners:
                exporter._queue_exports(backend, object_type, partners, synced_changes)

    def _crm_sync_object_type(self):
        """Return 'company' or 'contact': the CRM object type of this partner."""
        self.ensure_one()
        return "company" if self.is_company else "contact"

    def _crm_sync_filter_object_type(self, object_type):
        if object_type == "company":
            return self.filtered("is_company")
        return self.filtered(
            lambda partner: not partner.is_company and partner.type not in ADDRESS_TYPES
        )
