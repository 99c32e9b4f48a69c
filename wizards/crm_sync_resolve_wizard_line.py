from odoo import fields, models

LINE_TYPES = [
    ("candidate", "Candidate"),
    ("conflict", "Conflict"),
]


class CrmSyncResolveWizardLine(models.TransientModel):
    """One candidate record, or one conflicting field, shown in the resolve wizard."""

    _name = "crm.sync.resolve.wizard.line"
    _description = "Resolve Wizard Line"

    wizard_id = fields.Many2one(
        "crm.sync.resolve.wizard", required=True, ondelete="cascade"
    )
    line_type = fields.Selection(LINE_TYPES, required=True)
    name = fields.Char(string="Record or Field")
    partner_id = fields.Many2one("res.partner", string="Odoo Partner")
    crm_id = fields.Char(string="CRM ID")
    odoo_value = fields.Char(string="Odoo's Value")
    crm_value = fields.Char(string="CRM's Value")
    reason = fields.Char()

    def action_link(self):
        """Link the record of the exception to this candidate."""
        self.ensure_one()
        return self.wizard_id._link_candidate(self)
