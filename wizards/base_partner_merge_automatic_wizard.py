import logging

from odoo import models

from ..models.crm_sync_merger import MERGE_JOB_CONTEXT

_logger = logging.getLogger(__name__)


class BasePartnerMergeAutomaticWizard(models.TransientModel):
    """Odoo's partner merge wizard, closing the review job that opened it."""

    _inherit = "base.partner.merge.automatic.wizard"

    def action_merge(self):
        merging = bool(self.partner_ids)
        result = super().action_merge()
        job_id = self.env.context.get(MERGE_JOB_CONTEXT)
        if merging and job_id:
            self._close_merge_review(job_id)
        return result

    def _close_merge_review(self, job_id):
        """Mark the sync job that proposed this merge as done."""
        job = self.env["crm.sync.job"].sudo().browse(job_id).exists()
        if not job or job.state != "exception":
            return
        job._mark_done(
            self.env._("Partners merged in Odoo by %(user)s.", user=self.env.user.name)
        )
        _logger.info(
            "Job %s settled by a partner merge of user %s", job.id, self.env.uid
        )
