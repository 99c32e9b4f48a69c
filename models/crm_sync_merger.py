"""Handler of CRM merges: move links to the surviving CRM record.

When CRM records are merged, the merged-away ids stop existing and their data
lives on in the surviving record. A merge is never a deletion: no partner is
archived. The merge job:

* keeps the link of the surviving record, or moves one merged record's link
  to the surviving id when the surviving record had none;
* archives the links of the other merged-away records;
* queues an import of the surviving record, which now contains the merged
  values;
* when the merged records were linked to different Odoo partners, queues a
  follow-up job that ends as a ``review`` exception proposing to merge those
  partners with Odoo's own merge wizard. It is a separate job because a job
  that ends in an exception has its database work rolled back, and the links
  must move regardless.
"""

import logging

from odoo import Command, api, models
from odoo.exceptions import UserError

from ..sync_core.errors import DUPLICATE
from .crm_sync_synchronizer import ResolutionNeededError

_logger = logging.getLogger(__name__)

# Payload step of the follow-up job that proposes merging Odoo partners.
STEP_PROPOSE_PARTNER_MERGE = "propose_partner_merge"
RESOLUTION_MERGE_PARTNERS = "merge_partners"

# Context key naming the review job that Odoo's merge wizard settles.
MERGE_JOB_CONTEXT = "crm_sync_merge_job_id"

# Odoo's merge wizard refuses more partners than this at once.
MAX_PARTNERS_PER_MERGE = 3


class CrmSyncMerger(models.AbstractModel):
    """Handler of merge jobs: CRM records merged into one."""

    _name = "crm.sync.merger"
    _description = "CRM Sync Merge Handler"

    @api.model
    def _run_job(self, job):
        """Run one merge job; return a short result text or raise a SyncError."""
        payload = job.payload or {}
        if payload.get("step") == STEP_PROPOSE_PARTNER_MERGE:
            return self._propose_partner_merge(job)

        surviving_id, merged_ids = self._get_merge_ids(job)
        return self._remap_merged(job, surviving_id, merged_ids)

    @api.model
    def _get_merge_ids(self, job):
        """Return (surviving id, merged-away ids) from the job's webhook events."""
        merged_ids = []
        for event in (job.payload or {}).get("events", []):
            merged_ids.extend(
                str(crm_id) for crm_id in event.get("mergedObjectIds", [])
            )
            primary_id = event.get("primaryObjectId")
            if primary_id is not None:
                merged_ids.append(str(primary_id))
        surviving_id = str(job.crm_id)
        merged_ids = [
            crm_id for crm_id in dict.fromkeys(merged_ids) if crm_id != surviving_id
        ]
        return surviving_id, merged_ids

    # ------------------------------------------------------------------
    # Links
    # ------------------------------------------------------------------

    @api.model
    def _remap_merged(self, job, surviving_id, merged_ids):
        """Point the links of merged-away CRM records at the surviving record.

        Also called by the deleter when a "deleted" id turns out to be merged.
        Returns a short result text.
        """
        backend = job.backend_id
        Binding = self.env["crm.sync.binding"].sudo()
        survivor = Binding._find_by_crm_id(backend, job.object_type, surviving_id)
        merged = Binding.search(
            [
                ("backend_id", "=", backend.id),
                ("object_type", "=", job.object_type),
                ("crm_id", "in", merged_ids),
                ("state", "=", "linked"),
            ],
            order="id",
        )
        if not merged:
            return self.env._(
                "No Odoo record is linked to the merged CRM records %(ids)s: no "
                "link to move.",
                ids=", ".join(merged_ids) or "-",
            )
        if survivor and survivor.state != "linked":
            raise ResolutionNeededError(
                self.env._(
                    "CRM records %(merged)s were merged into %(surviving)s, whose "
                    "link to Odoo is archived. Check which Odoo partner the "
                    "surviving record belongs to; the links were not changed.",
                    merged=", ".join(merged.mapped("crm_id")),
                    surviving=surviving_id,
                ),
                exception_kind="review",
                exception_data={
                    "surviving_crm_id": surviving_id,
                    "merged_crm_ids": merged_ids,
                },
                candidate_partner_ids=(survivor | merged).partner_id.ids,
                category=DUPLICATE,
            )

        if survivor:
            surviving_link = survivor
            retired_links = merged
        else:
            surviving_link = merged[:1]
            retired_links = merged[1:]
            surviving_link.write({"crm_id": surviving_id})
        retired_links.write({"state": "archived"})
        _logger.info(
            "Job %s: backend %s %s links %s moved to CRM id %s, %s archived",
            job.id,
            backend.id,
            job.object_type,
            surviving_link.id,
            surviving_id,
            retired_links.ids,
        )

        self._queue_survivor_import(job, surviving_id)
        result = self.env._(
            "CRM records %(merged)s were merged into %(surviving)s: the link now "
            "points to %(surviving)s.",
            merged=", ".join(merged_ids),
            surviving=surviving_id,
        )
        partners = self._partners_to_merge(surviving_link, retired_links)
        if len(partners) > 1:
            follow_up = self._queue_merge_proposal(job, surviving_id, partners)
            result += " " + self.env._(
                "Job %(job)s proposes merging the Odoo partners %(partners)s.",
                job=follow_up.id,
                partners=", ".join(partners.mapped("display_name")),
            )
        return result

    @api.model
    def _partners_to_merge(self, surviving_link, retired_links):
        """Return the surviving link's partner first, then the other live partners."""
        partners = surviving_link.partner_id
        for partner in retired_links.partner_id:
            if partner.exists() and partner not in partners:
                partners |= partner
        return partners

    @api.model
    def _queue_survivor_import(self, job, surviving_id):
        """Queue an import of the surviving record, which contains the merged values."""
        directions = dict(job.backend_id._get_sync_objects())
        if directions.get(job.object_type) not in ("both", "import"):
            return
        self.env["crm.sync.job"].sudo()._enqueue(
            job.backend_id,
            job.object_type,
            "import",
            crm_id=surviving_id,
            source="crm",
        )

    @api.model
    def _queue_merge_proposal(self, job, surviving_id, partners):
        destination = partners[:1]
        return (
            self.env["crm.sync.job"]
            .sudo()
            ._enqueue(
                job.backend_id,
                job.object_type,
                "merge",
                res_model="res.partner",
                res_id=destination.id,
                crm_id=surviving_id,
                payload={
                    "step": STEP_PROPOSE_PARTNER_MERGE,
                    "partner_ids": partners.ids,
                },
                source="crm",
            )
        )

    # ------------------------------------------------------------------
    # Odoo partner merge proposal
    # ------------------------------------------------------------------

    @api.model
    def _propose_partner_merge(self, job):
        """Raise the review that proposes merging the partners, if still needed."""
        partner_ids = (job.payload or {}).get("partner_ids", [])
        partners = self.env["res.partner"].sudo().browse(partner_ids).exists()
        if len(partners) < 2:
            return self.env._(
                "The partners %(ids)s are already merged or deleted: nothing to "
                "propose.",
                ids=", ".join(str(partner_id) for partner_id in partner_ids),
            )

        destination = partners[:1]
        _logger.info(
            "Job %s: partners %s linked to merged CRM records; merge into %s proposed",
            job.id,
            partners.ids,
            destination.id,
        )
        raise ResolutionNeededError(
            self.env._(
                "CRM record %(crm_id)s is the result of merging records that were "
                "linked to different Odoo partners: %(partners)s. Open the "
                "resolution to merge them into %(destination)s with Odoo's merge "
                "wizard, or Ignore to keep them apart.",
                crm_id=job.crm_id,
                partners=", ".join(
                    f"{partner.display_name} (id {partner.id})" for partner in partners
                ),
                destination=destination.display_name,
            ),
            exception_kind="review",
            exception_data={
                "resolution": RESOLUTION_MERGE_PARTNERS,
                "partner_ids": partners.ids,
                "dst_partner_id": destination.id,
                "crm_id": job.crm_id,
            },
            candidate_partner_ids=partners.ids,
            category=DUPLICATE,
        )

    @api.model
    def _action_open_partner_merge(self, job):
        """Open Odoo's partner merge wizard preselected with the job's partners.

        The queue calls it from the job's resolution button. Merging there
        marks the job done.
        """
        data = job.exception_data or {}
        partners = self.env["res.partner"].browse(data.get("partner_ids", [])).exists()
        if len(partners) < 2:
            raise UserError(
                self.env._(
                    "Job %(job)s proposes merging partners that are already merged "
                    "or deleted. Press Retry to close it.",
                    job=job.id,
                )
            )
        if len(partners) > MAX_PARTNERS_PER_MERGE:
            partners = partners[:MAX_PARTNERS_PER_MERGE]
        destination = partners.filtered(
            lambda partner: partner.id == data.get("dst_partner_id")
        )

        context = {MERGE_JOB_CONTEXT: job.id}
        wizard = (
            self.env["base.partner.merge.automatic.wizard"]
            .with_context(**context)
            .create(
                {
                    "state": "selection",
                    "partner_ids": [Command.set(partners.ids)],
                    "dst_partner_id": (destination or partners[:1]).id,
                }
            )
        )
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Merge Partners"),
            "res_model": wizard._name,
            "res_id": wizard.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": context,
        }
