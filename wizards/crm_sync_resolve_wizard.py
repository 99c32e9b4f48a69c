import logging

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.osv import expression

from ..sync_core.errors import SyncError

_logger = logging.getLogger(__name__)

RESOLVABLE_KINDS = ("duplicate", "conflict")


class CrmSyncResolveWizard(models.TransientModel):
    """A person's decision on a sync exception: which record or value to keep."""

    _name = "crm.sync.resolve.wizard"
    _description = "Resolve a CRM Sync Exception"

    job_id = fields.Many2one(
        "crm.sync.job", required=True, readonly=True, ondelete="cascade"
    )
    exception_kind = fields.Selection(related="job_id.exception_kind")
    error_message = fields.Text(related="job_id.error_message")
    operation = fields.Selection(related="job_id.operation")
    side = fields.Selection(
        [("odoo", "Odoo"), ("crm", "CRM")],
        string="Candidates In",
        readonly=True,
        help="Where the possible duplicates are: Odoo partners for a CRM record, "
        "or CRM records for an Odoo partner.",
    )
    candidate_line_ids = fields.One2many(
        "crm.sync.resolve.wizard.line",
        "wizard_id",
        domain=[("line_type", "=", "candidate")],
        string="Candidates",
    )
    conflict_line_ids = fields.One2many(
        "crm.sync.resolve.wizard.line",
        "wizard_id",
        domain=[("line_type", "=", "conflict")],
        string="Conflicting Values",
    )

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        job = self.env["crm.sync.job"].browse(values.get("job_id"))
        if not job:
            return values
        self._check_job(job)
        data = job.exception_data if isinstance(job.exception_data, dict) else {}
        values["side"] = (
            data.get("side", "odoo") if job.exception_kind == "duplicate" else False
        )
        values["candidate_line_ids"] = [
            fields.Command.create(self._prepare_candidate_line(candidate))
            for candidate in data.get("candidates", [])
        ]
        values["conflict_line_ids"] = [
            fields.Command.create(self._prepare_conflict_line(conflict))
            for conflict in data.get("conflicts", [])
        ]
        return values

    @api.model
    def _check_job(self, job):
        if job.state != "exception" or job.exception_kind not in RESOLVABLE_KINDS:
            raise UserError(
                self.env._(
                    "Job %(job)s is not waiting for a decision on a duplicate or a "
                    "conflict: use Retry or Ignore instead.",
                    job=job.display_name,
                )
            )

    @api.model
    def _prepare_candidate_line(self, candidate):
        return {
            "line_type": "candidate",
            "partner_id": candidate.get("partner_id")
            or candidate.get("linked_partner_id")
            or False,
            "crm_id": candidate.get("crm_id") or False,
            "name": candidate.get("name") or "",
        }

    @api.model
    def _prepare_conflict_line(self, conflict):
        return {
            "line_type": "conflict",
            "name": conflict.get("label") or conflict.get("field"),
            "odoo_value": conflict.get("odoo_value") or "",
            "crm_value": conflict.get("crm_value") or "",
            "reason": conflict.get("reason") or "",
        }

    def action_create_new(self):
        """Create a new record on the other side instead of linking a candidate."""
        return self._resolve({"action": "create"})

    def action_keep_odoo(self):
        """Settle every conflicting field with Odoo's value."""
        return self._resolve({"action": "keep", "side": "odoo"})

    def action_keep_crm(self):
        """Settle every conflicting field with the CRM's value."""
        return self._resolve({"action": "keep", "side": "crm"})

    def _link_candidate(self, line):
        if self.side == "crm":
            return self._resolve({"action": "link", "crm_id": line.crm_id})
        return self._resolve({"action": "link", "partner_id": line.partner_id.id})

    def _resolve(self, resolution):
        """Run the job's sync again with a person's decision, then close the job."""
        self.ensure_one()
        job = self.job_id
        self._check_job(job)
        try:
            result = self._run_with_resolution(job, resolution)
        except SyncError as error:
            raise UserError(
                self.env._(
                    "The decision could not be applied: %(error)s", error=str(error)
                )
            ) from error
        job.sudo()._mark_done(
            self.env._(
                "Resolved by %(user)s: %(result)s",
                user=self.env.user.name,
                result=result or "",
            )
        )
        self._close_sibling_exceptions(job)
        _logger.info(
            "User %s resolved job %s with action %s",
            self.env.uid,
            job.id,
            resolution["action"],
        )
        return {"type": "ir.actions.act_window_close"}

    def _close_sibling_exceptions(self, job):
        """Close the other open decisions on the same record, now settled too.

        An Odoo edit and a CRM edit of one field raise the same conflict in
        the export job and in the import job, so one decision settles both.
        """
        data = job.exception_data if isinstance(job.exception_data, dict) else {}
        partner_id = data.get("partner_id") or (
            job.res_id if job.res_model == "res.partner" else False
        )
        crm_id = data.get("crm_id") or job.crm_id
        record_domains = []
        if partner_id:
            record_domains.append(
                [("res_model", "=", "res.partner"), ("res_id", "=", partner_id)]
            )
        if crm_id:
            record_domains.append([("crm_id", "=", crm_id)])
        if not record_domains:
            return
        siblings = (
            self.env["crm.sync.job"]
            .sudo()
            .search(
                [
                    ("id", "!=", job.id),
                    ("state", "=", "exception"),
                    ("backend_id", "=", job.backend_id.id),
                    ("object_type", "=", job.object_type),
                    ("exception_kind", "=", job.exception_kind),
                    *expression.OR(record_domains),
                ]
            )
        )
        if siblings:
            siblings._mark_done(
                self.env._("Resolved together with job %(job)s.", job=job.id)
            )

    def _run_with_resolution(self, job, resolution):
        backend = job.backend_id.sudo()
        if job.operation == "import":
            return self.env["crm.sync.importer"]._import_record(
                backend, job.object_type, job.crm_id, job=job, resolution=resolution
            )
        if job.operation == "export":
            partner = self.env["res.partner"].sudo().browse(job.res_id).exists()
            if not partner:
                raise UserError(
                    self.env._("Partner %(id)s no longer exists.", id=job.res_id)
                )
            return self.env["crm.sync.exporter"]._export_partner(
                backend, partner, job=job, resolution=resolution
            )
        raise UserError(
            self.env._(
                "Jobs of operation %(operation)s cannot be resolved here.",
                operation=job.operation,
            )
        )
