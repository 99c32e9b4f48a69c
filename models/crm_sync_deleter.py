"""Handler of CRM deletions: archive the link, and the partner only when safe.

A deletion job runs in two steps, because a job that ends in an exception
has its database work rolled back, and the link must be archived even when
the partner needs a person's review:

1. The deletion job checks with the CRM that the record is really gone (a
   stale event after a restore, or a merged-away id, must not unbind), then
   archives the link so that no future push goes to the deleted record. A
   partner without open documents is archived at once.
2. Otherwise it queues a follow-up job for the partner. That job re-checks the
   partner and either archives it or ends as a ``review`` exception naming the
   open sale orders, unpaid invoices and active users. Retry re-runs the check
   once they are settled; Ignore keeps the partner active.

An Odoo partner is never deleted.
"""

import logging

from odoo import api, models

from ..sync_core.adapters import CrmNotFoundError
from ..sync_core.errors import CONFLICT
from .crm_sync_synchronizer import ResolutionNeededError
from .res_partner import NO_EXPORT_CONTEXT

_logger = logging.getLogger(__name__)

# Payload step of the follow-up job that archives the partner when it is safe.
STEP_ARCHIVE_PARTNER = "archive_partner"
RESOLUTION_ARCHIVE_PARTNER = "archive_partner"

# Sale order and invoice states that keep a partner active.
OPEN_QUOTATION_STATES = ("draft", "sent")
OPEN_INVOICE_STATUSES = ("to invoice", "upselling")
OPEN_DELIVERY_STATUSES = ("pending", "started", "partial")
INVOICE_TYPES = ("out_invoice", "out_refund", "in_invoice", "in_refund")
UNPAID_PAYMENT_STATES = ("not_paid", "partial", "in_payment")

# Names of open documents quoted in a review message, per kind.
MAX_LISTED_DOCUMENTS = 10


class CrmSyncDeleter(models.AbstractModel):
    """Handler of delete jobs: a record deleted in the CRM."""

    _name = "crm.sync.deleter"
    _description = "CRM Sync Deletion Handler"

    @api.model
    def _run_job(self, job):
        """Run one delete job; return a short result text or raise a SyncError."""
        payload = job.payload or {}
        if payload.get("step") == STEP_ARCHIVE_PARTNER:
            return self._archive_partner_step(job)
        return self._process_deletion(job)

    # ------------------------------------------------------------------
    # Step 1: the CRM deletion
    # ------------------------------------------------------------------

    @api.model
    def _process_deletion(self, job):
        backend = job.backend_id
        crm_id = job.crm_id
        binding = (
            self.env["crm.sync.binding"]
            .sudo()
            ._find_by_crm_id(backend, job.object_type, crm_id)
        )
        if not binding or binding.state != "linked":
            return self.env._(
                "No Odoo record is linked to CRM record %(crm_id)s: nothing to "
                "archive.",
                crm_id=crm_id,
            )

        live = self._read_live_record(backend, job.object_type, crm_id)
        if live is not None and live.id == crm_id:
            _logger.info(
                "Job %s: CRM %s %s of backend %s still exists; deletion event ignored",
                job.id,
                job.object_type,
                crm_id,
                backend.id,
            )
            return self.env._(
                "CRM record %(crm_id)s still exists, so the deletion event is out "
                "of date: the link is kept.",
                crm_id=crm_id,
            )
        if live is not None:
            # For a merged-away id HubSpot returns the record it was merged
            # into, so this is a merge, never a deletion.
            return self.env["crm.sync.merger"]._remap_merged(job, live.id, [crm_id])

        binding.write({"state": "archived"})
        _logger.info(
            "Job %s: link %s of backend %s to CRM %s %s archived after its deletion",
            job.id,
            binding.id,
            backend.id,
            job.object_type,
            crm_id,
        )
        result = self.env._(
            "CRM record %(crm_id)s is deleted: its link is archived.", crm_id=crm_id
        )
        partner = binding.partner_id
        if not partner or not partner.active:
            return result
        return f"{result} {self._archive_or_queue_review(job, partner)}"

    @api.model
    def _read_live_record(self, backend, object_type, crm_id):
        """Return the live CRM record with this id, or None when it is gone.

        Other adapter errors propagate: a retryable one (timeout, rate limit)
        reschedules the job, so a deletion is never applied unchecked.
        """
        with backend._get_adapter() as adapter:
            try:
                return adapter.get(object_type, crm_id, [])
            except CrmNotFoundError:
                return None

    @api.model
    def _archive_or_queue_review(self, job, partner):
        """Archive the partner when nothing keeps it; else queue the review step."""
        backend = job.backend_id
        keep_reason = self._get_keep_reason(backend, job.object_type, partner)
        if keep_reason:
            return keep_reason

        if not self._find_open_documents(partner):
            self._archive_partner(partner, job)
            return self.env._(
                "Partner %(partner)s is archived.", partner=partner.display_name
            )

        follow_up = (
            self.env["crm.sync.job"]
            .sudo()
            ._enqueue(
                backend,
                job.object_type,
                "delete",
                res_model="res.partner",
                res_id=partner.id,
                crm_id=job.crm_id,
                payload={"step": STEP_ARCHIVE_PARTNER},
                source="crm",
            )
        )
        return self.env._(
            "Partner %(partner)s has open documents: job %(job)s asks for a review.",
            partner=partner.display_name,
            job=follow_up.id,
        )

    @api.model
    def _get_keep_reason(self, backend, object_type, partner):
        """Return why the partner stays active regardless of documents, or None."""
        direction = dict(backend._get_sync_objects()).get(object_type)
        if direction == "export":
            return self.env._(
                "Partner %(partner)s stays active because Odoo is the source of "
                "this backend's %(type)s records.",
                partner=partner.display_name,
                type=object_type,
            )
        other_links = (
            self.env["crm.sync.binding"]
            .sudo()
            .search_count([("partner_id", "=", partner.id), ("state", "=", "linked")])
        )
        if other_links:
            return self.env._(
                "Partner %(partner)s stays active because it is still linked to "
                "another CRM record.",
                partner=partner.display_name,
            )
        return None

    # ------------------------------------------------------------------
    # Step 2: the partner
    # ------------------------------------------------------------------

    @api.model
    def _archive_partner_step(self, job):
        """Archive the job's partner, or raise a review naming what is open."""
        partner = job._get_record()
        if not partner:
            return self.env._("The partner no longer exists: nothing to archive.")
        if not partner.active:
            return self.env._(
                "Partner %(partner)s is already archived.", partner=partner.display_name
            )
        keep_reason = self._get_keep_reason(job.backend_id, job.object_type, partner)
        if keep_reason:
            return keep_reason

        open_documents = self._find_open_documents(partner)
        if open_documents:
            raise self._review_error(job, partner, open_documents)
        self._archive_partner(partner, job)
        return self.env._(
            "Partner %(partner)s is archived.", partner=partner.display_name
        )

    @api.model
    def _review_error(self, job, partner, open_documents):
        labels = {
            "sale_orders": self.env._("open sale orders"),
            "invoices": self.env._("unpaid or draft invoices"),
            "users": self.env._("active users"),
        }
        listed = "; ".join(
            f"{labels[kind]} {', '.join(names[:MAX_LISTED_DOCUMENTS])}"
            + (" …" if len(names) > MAX_LISTED_DOCUMENTS else "")
            for kind, names in open_documents.items()
        )
        _logger.info(
            "Job %s: partner %s deleted in CRM %s is kept for review (%s)",
            job.id,
            partner.id,
            job.crm_id,
            ", ".join(f"{len(names)} {kind}" for kind, names in open_documents.items()),
        )
        return ResolutionNeededError(
            self.env._(
                "Partner %(partner)s (id %(id)s) was deleted in the CRM (record "
                "%(crm_id)s) but stays active because it has %(open)s. Settle them, "
                "then press Retry to archive the partner, or Ignore to keep it.",
                partner=partner.display_name,
                id=partner.id,
                crm_id=job.crm_id,
                open=listed,
            ),
            exception_kind="review",
            exception_data={
                "resolution": RESOLUTION_ARCHIVE_PARTNER,
                "partner_id": partner.id,
                "crm_id": job.crm_id,
                "open_documents": open_documents,
            },
            candidate_partner_ids=[partner.id],
            category=CONFLICT,
        )

    @api.model
    def _find_open_documents(self, partner):
        """Return {kind: [names]} of what keeps the partner active; empty if nothing.

        Documents of the partner's child contacts count too, because archiving
        a company hides it from the documents its contacts are on.
        """
        found = {}
        orders = self._find_open_sale_orders(partner)
        if orders:
            found["sale_orders"] = orders.mapped("name")
        invoices = self._find_open_invoices(partner)
        if invoices:
            found["invoices"] = [move.name or move.display_name for move in invoices]
        users = partner.with_context(active_test=False).user_ids.filtered("active")
        if users:
            found["users"] = users.mapped("name")
        return found

    @api.model
    def _find_open_sale_orders(self, partner):
        return (
            self.env["sale.order"]
            .sudo()
            .with_context(active_test=False)
            .search(
                [
                    ("partner_id", "child_of", partner.id),
                    "|",
                    ("state", "in", OPEN_QUOTATION_STATES),
                    "&",
                    ("state", "=", "sale"),
                    "|",
                    ("invoice_status", "in", OPEN_INVOICE_STATUSES),
                    ("delivery_status", "in", OPEN_DELIVERY_STATUSES),
                ],
                order="id",
            )
        )

    @api.model
    def _find_open_invoices(self, partner):
        return (
            self.env["account.move"]
            .sudo()
            .with_context(active_test=False)
            .search(
                [
                    ("partner_id", "child_of", partner.id),
                    ("move_type", "in", INVOICE_TYPES),
                    "|",
                    ("state", "=", "draft"),
                    "&",
                    ("state", "=", "posted"),
                    ("payment_state", "in", UNPAID_PAYMENT_STATES),
                ],
                order="id",
            )
        )

    @api.model
    def _archive_partner(self, partner, job):
        # The sync context keeps this archive from being pushed back to the CRM.
        partner.sudo().with_context(**{NO_EXPORT_CONTEXT: True}).action_archive()
        _logger.info(
            "Job %s: partner %s archived after CRM %s %s was deleted",
            job.id,
            partner.id,
            job.object_type,
            job.crm_id,
        )
