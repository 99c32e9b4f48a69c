import logging
from datetime import UTC, datetime

import psycopg2

from odoo import api, fields, models
from odoo.tools import mute_logger

from ..sync_core.errors import CONCURRENCY, SyncError
from .crm_sync_backend import OBJECT_TYPE_SELECTION

_logger = logging.getLogger(__name__)


def to_naive_utc(moment):
    """Return a time as Odoo stores it, a naive UTC datetime (empty: None).

    Accepts an aware or naive datetime, or ISO 8601 text such as the CRM's
    ``2024-05-01T10:00:00.000Z``.
    """
    if not moment:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


BINDING_STATES = [
    ("linked", "Linked"),
    ("archived", "Archived"),
]


class CrmSyncBinding(models.Model):
    """One link between an Odoo record and a CRM record of one backend."""

    _name = "crm.sync.binding"
    _description = "CRM Sync Binding"
    _order = "backend_id, object_type, id"
    _rec_name = "crm_id"

    backend_id = fields.Many2one(
        "crm.sync.backend",
        required=True,
        index=True,
        ondelete="cascade",
    )
    company_id = fields.Many2one(
        related="backend_id.company_id",
        store=True,
        index=True,
    )
    object_type = fields.Selection(
        OBJECT_TYPE_SELECTION,
        required=True,
        index=True,
    )
    res_model = fields.Char(string="Odoo Model", required=True, index=True)
    res_id = fields.Many2oneReference(
        string="Odoo Record ID",
        model_field="res_model",
        required=True,
        index=True,
    )
    # Restrict: a bound partner is archived rather than deleted, so the link
    # and its sync history are never lost by accident.
    partner_id = fields.Many2one(
        "res.partner",
        index=True,
        ondelete="restrict",
    )
    crm_id = fields.Char(string="CRM ID", required=True, index=True)
    state = fields.Selection(
        BINDING_STATES,
        required=True,
        default="linked",
        index=True,
    )
    last_sync_date = fields.Datetime(string="Last Sync", readonly=True)
    crm_updated_at = fields.Datetime(
        string="CRM Last Modified",
        readonly=True,
        help="Last modification time the CRM reported for this record at the "
        "last sync.",
    )
    sync_fingerprints = fields.Json(
        readonly=True,
        help="Fingerprint of each bound field's value at the last sync, by Odoo "
        "field name. The engine compares both sides against it to tell which side "
        "changed.",
    )
    last_values = fields.Json(
        string="Last Synced Values",
        readonly=True,
        help="Normalised value of each bound field at the last sync, by Odoo field "
        "name. Only fields named in a field rule are stored.",
    )

    _sql_constraints = [
        (
            "crm_id_unique",
            "UNIQUE(backend_id, object_type, crm_id)",
            "A CRM record can be linked to only one Odoo record per backend.",
        ),
        (
            "record_unique",
            "UNIQUE(backend_id, object_type, res_model, res_id)",
            "An Odoo record can be linked to only one CRM record per backend.",
        ),
    ]

    @api.depends("crm_id", "object_type", "backend_id")
    def _compute_display_name(self):
        labels = dict(self._fields["object_type"]._description_selection(self.env))
        for binding in self:
            binding.display_name = self.env._(
                "%(backend)s %(object_type)s %(crm_id)s",
                backend=binding.backend_id.name or "",
                object_type=labels.get(binding.object_type, ""),
                crm_id=binding.crm_id or "",
            )

    @api.model
    def _find_by_crm_id(self, backend, object_type, crm_id):
        """Return the binding of a CRM record, or an empty recordset."""
        return self.search(
            [
                ("backend_id", "=", backend.id),
                ("object_type", "=", object_type),
                ("crm_id", "=", str(crm_id)),
            ],
            limit=1,
        )

    @api.model
    def _find_by_record(self, backend, object_type, record):
        """Return the binding of an Odoo record, or an empty recordset."""
        return self.search(
            [
                ("backend_id", "=", backend.id),
                ("object_type", "=", object_type),
                ("res_model", "=", record._name),
                ("res_id", "=", record.id),
            ],
            limit=1,
        )

    @api.model
    def _bind(self, backend, object_type, record, crm_id, crm_updated_at=None):
        """Link ``record`` to a CRM id and return the binding.

        Returns the existing binding when this exact link exists. Raises a
        retryable SyncError when another worker linked the same CRM id or
        record at the same moment, so the job runs again and finds that link.
        """
        crm_id = str(crm_id)
        existing = self._find_by_crm_id(backend, object_type, crm_id)
        if (
            existing
            and existing.res_model == record._name
            and existing.res_id == record.id
        ):
            return existing

        vals = self._prepare_binding_vals(backend, object_type, record, crm_id)
        if crm_updated_at:
            vals["crm_updated_at"] = to_naive_utc(crm_updated_at)
        try:
            with self.env.cr.savepoint(), mute_logger("odoo.sql_db"):
                binding = self.create(vals)
        except psycopg2.errors.UniqueViolation as error:
            _logger.info(
                "Binding of backend %s %s %s to %s,%s already exists",
                backend.id,
                object_type,
                crm_id,
                record._name,
                record.id,
            )
            raise SyncError(
                self.env._(
                    "CRM record %(crm_id)s or Odoo record %(record)s is already "
                    "linked on backend '%(backend)s'; the job will run again.",
                    crm_id=crm_id,
                    record=record.display_name,
                    backend=backend.name,
                ),
                category=CONCURRENCY,
                retryable=True,
            ) from error
        _logger.debug(
            "Bound backend %s %s %s to %s,%s",
            backend.id,
            object_type,
            crm_id,
            record._name,
            record.id,
        )
        return binding

    @api.model
    def _prepare_binding_vals(self, backend, object_type, record, crm_id):
        vals = {
            "backend_id": backend.id,
            "object_type": object_type,
            "res_model": record._name,
            "res_id": record.id,
            "crm_id": crm_id,
            "state": "linked",
        }
        if record._name == "res.partner":
            vals["partner_id"] = record.id
        return vals

    def _get_record(self):
        """Return the bound Odoo record (possibly deleted: check ``exists()``)."""
        self.ensure_one()
        return self.env[self.res_model].browse(self.res_id)

    def _get_last_values(self):
        """Return {odoo_field: last synced normalised value} of this binding."""
        self.ensure_one()
        return dict(self.last_values or {})

    def _get_fingerprints(self):
        """Return {odoo_field: fingerprint} of the values at the last sync."""
        self.ensure_one()
        return dict(self.sync_fingerprints or {})

    def _store_synced_values(self, values, fingerprints, crm_updated_at=None):
        """Record the values both sides now share for some fields.

        ``values`` and ``fingerprints`` are keyed by Odoo field name. They cover
        only the fields that are now equal on both sides. The other fields
        keep their earlier state, so a change still waiting to be sent is not
        forgotten.
        """
        self.ensure_one()
        last_values = self._get_last_values()
        last_values.update(values)
        last_fingerprints = self._get_fingerprints()
        last_fingerprints.update(fingerprints)
        vals = {
            "last_values": last_values,
            "sync_fingerprints": last_fingerprints,
            # The transaction time is also the write_date of this sync's partner
            # writes, so the push sweep finds the pair synced.
            "last_sync_date": self.env.cr.now(),
        }
        if crm_updated_at:
            vals["crm_updated_at"] = to_naive_utc(crm_updated_at)
        self.write(vals)
