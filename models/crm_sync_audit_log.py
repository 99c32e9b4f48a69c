import logging

from odoo import api, fields, models

from .crm_sync_backend import OBJECT_TYPE_SELECTION

_logger = logging.getLogger(__name__)

AUDIT_DIRECTIONS = [
    ("import", "CRM to Odoo"),
    ("export", "Odoo to CRM"),
]

SOURCE_CRM = "crm"
SOURCE_ODOO_USER = "odoo_user"
SOURCE_ENGINE = "engine"
AUDIT_SOURCES = [
    (SOURCE_CRM, "CRM"),
    (SOURCE_ODOO_USER, "Odoo user"),
    (SOURCE_ENGINE, "Sync engine"),
]


class CrmSyncAuditLog(models.Model):
    """One field value that a sync changed on one side, with its old and new value.

    The sync engine writes entries as superuser, and only for fields named in a
    field rule, which is the allow-list of values that may leave Odoo. No access
    right lets a user change an entry.
    """

    _name = "crm.sync.audit.log"
    _description = "CRM Sync Audit Entry"
    _order = "sync_date desc, id desc"
    _rec_name = "field_name"

    backend_id = fields.Many2one(
        "crm.sync.backend",
        required=True,
        index=True,
        ondelete="cascade",
        readonly=True,
    )
    company_id = fields.Many2one(
        related="backend_id.company_id",
        store=True,
        index=True,
    )
    object_type = fields.Selection(OBJECT_TYPE_SELECTION, readonly=True)
    res_model = fields.Char(string="Odoo Model", readonly=True, index=True)
    res_id = fields.Many2oneReference(
        string="Odoo Record ID",
        model_field="res_model",
        readonly=True,
        index=True,
    )
    # Set null: the trail of a deleted partner stays readable by its name.
    partner_id = fields.Many2one(
        "res.partner",
        index=True,
        ondelete="set null",
        readonly=True,
    )
    record_name = fields.Char(string="Record", readonly=True)
    crm_id = fields.Char(string="CRM ID", readonly=True, index=True)
    field_name = fields.Char(string="Odoo Field", readonly=True, index=True)
    field_description = fields.Char(string="Field", readonly=True)
    crm_property = fields.Char(string="CRM Property", readonly=True)
    old_value = fields.Text(readonly=True)
    new_value = fields.Text(readonly=True)
    direction = fields.Selection(AUDIT_DIRECTIONS, required=True, readonly=True)
    source = fields.Selection(AUDIT_SOURCES, required=True, readonly=True)
    user_id = fields.Many2one(
        "res.users",
        string="Odoo User",
        readonly=True,
        ondelete="set null",
        help="Odoo user whose change was sent to the CRM, or who resolved the "
        "exception that caused this change.",
    )
    job_id = fields.Many2one(
        "crm.sync.job",
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
    )
    sync_date = fields.Datetime(
        string="Time",
        required=True,
        readonly=True,
        default=fields.Datetime.now,
        index=True,
    )

    @api.model
    def _log_changes(self, entries):
        """Write audit entries, dropping any field that no field rule names.

        ``entries`` is a list of dicts with the field values of this model; each
        must carry ``backend_id``, ``object_type`` and ``field_name``. Returns the
        created entries.
        """
        allowed = self._allowed_field_names(entries)
        kept = [
            entry
            for entry in entries
            if entry["field_name"]
            in allowed[(entry["backend_id"], entry["object_type"])]
        ]
        dropped = len(entries) - len(kept)
        if dropped:
            _logger.warning(
                "Dropped %s audit entries for fields outside the field rules", dropped
            )
        return self.sudo().create(kept)

    @api.model
    def _allowed_field_names(self, entries):
        rules = self.env["crm.sync.field.rule"].sudo()
        allowed = {}
        for entry in entries:
            key = (entry["backend_id"], entry["object_type"])
            if key not in allowed:
                backend = self.env["crm.sync.backend"].browse(key[0])
                allowed[key] = set(
                    rules._get_rules(backend, key[1]).mapped("odoo_field")
                )
        return allowed
