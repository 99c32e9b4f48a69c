"""Push: which partners are exported, and the sweep that queues missed ones.

res.partner's create and write hooks queue an export (the exporter's
``_queue_export``) for partners in scope whose allow-listed fields changed.
``_cron_push`` queues the partners in scope that have no CRM link yet or
changed after their last sync. It catches changes that bypassed the hooks,
such as a customer rank raised by SQL, a partner created while its backend
did not export, or a first push of existing customers.
"""

import logging

from odoo import api, models
from odoo.tools import SQL

from .crm_sync_exporter import EXPORT_OBJECT_TYPES
from .crm_sync_synchronizer import COMPANY

_logger = logging.getLogger(__name__)


class CrmSyncBatchExporter(models.AbstractModel):
    """Export scope of each backend, and the queueing of export jobs."""

    _name = "crm.sync.batch.exporter"
    _description = "CRM Sync Batch Exporter"

    @api.model
    def _export_triggers(self):
        """Return (backend, object_type, exported field names) per exporting backend."""
        triggers = []
        Rule = self.env["crm.sync.field.rule"].sudo()
        for backend in (
            self.env["crm.sync.backend"].sudo().search([("active", "=", True)])
        ):
            for object_type, direction in backend._get_sync_objects():
                if object_type not in EXPORT_OBJECT_TYPES or direction not in (
                    "both",
                    "export",
                ):
                    continue
                rules = Rule._get_rules(backend, object_type).filtered(
                    lambda rule: rule._allows_export()
                )
                if rules:
                    triggers.append(
                        (backend, object_type, set(rules.mapped("odoo_field")))
                    )
        return triggers

    @api.model
    def _filter_in_scope(self, backend, object_type, partners):
        """Return the partners this backend exports.

        In scope: partners linked on the backend, and customers (a customer
        rank above zero, or a contact person of a customer company) that
        belong to no company or to the backend's company. A partner whose link
        is archived (its CRM record was deleted or merged away) is out of
        scope, so an edit never re-creates the record in the CRM.
        """
        if not partners:
            return partners
        bindings = (
            self.env["crm.sync.binding"]
            .sudo()
            .search(
                [
                    ("backend_id", "=", backend.id),
                    ("object_type", "=", object_type),
                    ("partner_id", "in", partners.ids),
                ]
            )
        )
        linked_ids = set(
            bindings.filtered(lambda binding: binding.state == "linked").partner_id.ids
        )
        archived_ids = set(bindings.partner_id.ids) - linked_ids
        company = backend.company_id
        return partners.filtered(
            lambda partner: (
                partner.id in linked_ids
                or (
                    partner.id not in archived_ids
                    and partner.active
                    and partner.company_id in (company, self.env["res.company"])
                    and (
                        partner.customer_rank > 0
                        or (
                            not partner.is_company
                            and partner.commercial_partner_id.customer_rank > 0
                        )
                    )
                )
            )
        )

    @api.model
    def _cron_push(self, backends):
        """Queue exports of partners in scope that are unlinked or changed since."""
        Exporter = self.env["crm.sync.exporter"]
        queued = 0
        for backend in backends:
            for object_type, partners in self._push_candidates(backend):
                if partners:
                    jobs = Exporter._queue_exports(
                        backend, object_type, partners, [], source="cron"
                    )
                    queued += len(jobs)
        _logger.info("Push sweep queued %s export jobs", queued)
        return queued

    @api.model
    def _push_candidates(self, backend):
        directions = dict(backend._get_sync_objects())
        for object_type in EXPORT_OBJECT_TYPES:
            if directions.get(object_type) not in ("both", "export"):
                continue
            partner_ids = self._find_unsent_partner_ids(backend, object_type)
            yield object_type, self.env["res.partner"].browse(partner_ids)

    @api.model
    def _find_unsent_partner_ids(self, backend, object_type):
        """Return ids of partners in scope, unlinked or changed after their sync.

        A partner whose export is an open exception is left out until it is
        edited after that exception, so the sweep does not record the same
        error again on every run.
        """
        if object_type == COMPANY:
            kind = SQL("p.is_company AND p.customer_rank > 0")
        else:
            kind = SQL(
                "NOT p.is_company AND COALESCE(p.type, 'contact') = 'contact' "
                "AND (p.customer_rank > 0 OR parent.customer_rank > 0)"
            )
        query = SQL(
            """
            SELECT p.id
              FROM res_partner p
         LEFT JOIN res_partner parent ON parent.id = p.commercial_partner_id
         LEFT JOIN crm_sync_binding b
                ON b.partner_id = p.id AND b.backend_id = %(backend)s
               AND b.object_type = %(object_type)s
             WHERE p.active
               AND (p.company_id IS NULL OR p.company_id = %(company)s)
               AND %(kind)s
               AND (b.id IS NULL
                    OR (b.state = 'linked'
                        AND (b.last_sync_date IS NULL
                             OR p.write_date > b.last_sync_date)))
               AND NOT EXISTS (
                   SELECT 1
                     FROM crm_sync_job j
                    WHERE j.state = 'exception'
                      AND j.backend_id = %(backend)s
                      AND j.object_type = %(object_type)s
                      AND j.operation = 'export'
                      AND j.res_model = 'res.partner'
                      AND j.res_id = p.id
                      AND j.write_date >= p.write_date)
          ORDER BY p.id
            """,
            backend=backend.id,
            object_type=object_type,
            company=backend.company_id.id,
            kind=kind,
        )
        self.env["res.partner"].flush_model()
        self.env["crm.sync.binding"].flush_model()
        self.env["crm.sync.job"].flush_model()
        self.env.cr.execute(query)
        return [row[0] for row in self.env.cr.fetchall()]
