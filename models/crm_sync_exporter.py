"""Export of Odoo partners to CRM companies and contacts.

Entry points:

* ``_queue_export(backend, object_type, partner, changed_fields)``: queue
  the export of one partner. The res.partner hooks and the push sweep
  (``crm.sync.batch.exporter``) call it.
* ``_run_jobs(jobs)`` / ``_run_job(job)``: the queue's handler of export jobs.
  It reads and writes the CRM through batch endpoints.
* ``_export_partner(backend, partner)``: export one partner now, for the
  resolve wizard.

Creates are idempotent: every created CRM record carries the partner's
``odoo_sync_key``, which is searched before creating, and the new CRM id is
stored on the job at once with ``job._store_crm_id``.
"""

import dataclasses
import logging

from odoo import api, models

from ..sync_core import matching
from ..sync_core.errors import NOT_FOUND, SyncError
from .crm_sync_audit_log import SOURCE_ODOO_USER
from .crm_sync_field_rule import TRANSFORM_PARENT
from .crm_sync_synchronizer import (
    COMPANY,
    CONTACT,
    INVALID,
    SYNC_KEY_PROPERTY,
    CrmSnapshot,
    RecordValidationError,
    ResolutionNeededError,
    SyncPlan,
)

_logger = logging.getLogger(__name__)

EXPORT_OBJECT_TYPES = (COMPANY, CONTACT)


@dataclasses.dataclass
class ExportItem:
    """One partner to export, and what the export learnt about it so far.

    ``outcome`` is the result text, or the SyncError that stopped the partner.
    """

    job: object
    partner: object
    resolution: dict = dataclasses.field(default_factory=dict)
    binding: object = None
    snapshot: CrmSnapshot | None = None
    outcome: object = None

    @property
    def done(self):
        return self.outcome is not None


class CrmSyncExporter(models.AbstractModel):
    """Handler of export jobs: sends partners to CRM companies and contacts."""

    _name = "crm.sync.exporter"
    _inherit = "crm.sync.synchronizer"
    _description = "CRM Sync Partner Exporter"

    @api.model
    def _queue_export(
        self, backend, object_type, partner, changed_fields, source="odoo"
    ):
        """Queue (or merge into the waiting) export job of one partner.

        The payload names the changed fields and the user who changed them,
        never their values.
        """
        return self._queue_exports(
            backend, object_type, partner, changed_fields, source=source
        )

    @api.model
    def _queue_exports(
        self, backend, object_type, partners, changed_fields, source="odoo"
    ):
        """Queue the export jobs of several partners with one INSERT.

        Returns the new or merged jobs.
        """
        payload = {"fields": sorted(changed_fields), "user_id": self.env.uid}
        vals_list = [
            {
                "object_type": object_type,
                "operation": "export",
                "res_model": "res.partner",
                "res_id": partner.id,
                "payload": payload,
                "source": source,
            }
            for partner in partners
        ]
        return self.env["crm.sync.job"].sudo()._enqueue_many(backend, vals_list)

    # ------------------------------------------------------------------
    # Job handler
    # ------------------------------------------------------------------

    @api.model
    def _run_job(self, job):
        """Export the partner of one export job; return a short result text."""
        outcome = self._run_jobs(job)[job.id]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    @api.model
    def _run_jobs(self, jobs):
        """Export the partners of several jobs of one backend and object type.

        Returns {job id: result text or SyncError}. A failure that stops the
        whole batch (credentials, rate limit, network) is raised instead.
        """
        backend = jobs[:1].backend_id
        object_type = jobs[:1].object_type
        items = []
        results = {}
        for job in jobs:
            partner = self.env["res.partner"].sudo().browse(job.res_id).exists()
            if job.res_model != "res.partner" or not partner:
                results[job.id] = self.env._(
                    "The partner no longer exists: nothing sent."
                )
                continue
            items.append(ExportItem(job=job, partner=partner))
        if items:
            with backend._get_adapter() as adapter:
                self._export_items(backend, object_type, items, adapter)
        for item in items:
            results[item.job.id] = item.outcome
        return results

    @api.model
    def _export_partner(self, backend, partner, *, job=None, resolution=None):
        """Export one partner now and return the result text, or raise its error.

        ``resolution`` carries a person's decision from the resolve wizard:
        ``{"action": "link", "crm_id": id}``, ``{"action": "create"}`` or
        ``{"action": "keep", "side": "odoo" or "crm"}``.
        """
        item = ExportItem(job=job, partner=partner, resolution=resolution or {})
        with backend._get_adapter() as adapter:
            self._export_items(
                backend, partner._crm_sync_object_type(), [item], adapter
            )
        if isinstance(item.outcome, Exception):
            raise item.outcome
        return item.outcome

    @api.model
    def _export_items(self, backend, object_type, items, adapter):
        """Export partners of one object type and set each item's outcome."""
        if object_type not in EXPORT_OBJECT_TYPES:
            for item in items:
                item.outcome = SyncError(
                    self.env._(
                        "Export of %(type)s records is not supported by the "
                        "customer sync.",
                        type=object_type,
                    ),
                    retryable=False,
                )
            return
        rules = self._get_rules(backend, object_type)
        self._attach_bindings(backend, object_type, items)
        if object_type == CONTACT:
            self._export_parents(backend, items, adapter)

        self._ensure_sync_key_property(backend, object_type, items, adapter)
        self._link_by_job_or_sync_key(backend, object_type, items, rules, adapter)
        new_items = [item for item in items if not item.done and not item.binding]
        self._validate_new(backend, object_type, new_items, rules)
        self._match_in_crm(backend, object_type, new_items, rules, adapter)
        self._create_in_crm(backend, object_type, new_items, rules, adapter)

        linked = [item for item in items if not item.done and item.binding]
        self._sync_linked(backend, object_type, linked, rules, adapter)

    @api.model
    def _attach_bindings(self, backend, object_type, items):
        Binding = self.env["crm.sync.binding"].sudo()
        for item in items:
            item.binding = Binding._find_by_record(backend, object_type, item.partner)
            if item.binding and item.binding.state == "archived":
                item.outcome = self.env._(
                    "The link to CRM record %(crm_id)s is archived: nothing sent.",
                    crm_id=item.binding.crm_id,
                )
            elif not item.binding and not item.resolution:
                in_scope = self.env["crm.sync.batch.exporter"]._filter_in_scope(
                    backend, object_type, item.partner
                )
                if not in_scope:
                    item.outcome = self.env._(
                        "Partner %(id)s is not a customer in the scope of backend "
                        "'%(backend)s': nothing sent.",
                        id=item.partner.id,
                        backend=backend.name,
                    )

    @api.model
    def _export_parents(self, backend, items, adapter):
        """Export the unlinked parent companies of contacts first.

        A parent that fails is left out: its contact is exported without the
        company association, which a later export adds.
        """
        Binding = self.env["crm.sync.binding"].sudo()
        parents = self.env["res.partner"]
        for item in items:
            parent = item.partner.parent_id
            if item.done or not parent.is_company:
                continue
            if not Binding._find_by_record(backend, COMPANY, parent):
                parents |= parent
        parents = self.env["crm.sync.batch.exporter"]._filter_in_scope(
            backend, COMPANY, parents
        )
        if not parents:
            return
        parent_items = [ExportItem(job=None, partner=parent) for parent in parents]
        with self.env.cr.savepoint():
            self._export_items(backend, COMPANY, parent_items, adapter)
        for parent_item in parent_items:
            if isinstance(parent_item.outcome, Exception):
                _logger.info(
                    "Parent company %s was not exported (%s): its contacts go "
                    "without it",
                    parent_item.partner.id,
                    parent_item.outcome.category,
                )

    # ------------------------------------------------------------------
    # Records without a link
    # ------------------------------------------------------------------

    @api.model
    def _link_by_job_or_sync_key(self, backend, object_type, items, rules, adapter):
        """Link partners whose CRM record an earlier attempt already created.

        The job's stored CRM id comes first. Otherwise the CRM is searched for
        the partner's sync key. A person's "link" resolution is applied here too.
        """
        Binding = self.env["crm.sync.binding"].sudo()
        unlinked = [item for item in items if not item.done and not item.binding]
        by_key = {}
        for item in unlinked:
            crm_id = None
            if item.resolution.get("action") == "link":
                crm_id = item.resolution["crm_id"]
            elif item.job and item.job.crm_id:
                crm_id = item.job.crm_id
            if crm_id:
                item.binding = Binding._bind(backend, object_type, item.partner, crm_id)
            elif item.resolution.get("action") != "create":
                by_key[self._sync_key(item.partner)] = item
        if not by_key:
            return

        properties = self._crm_properties(rules, with_sync_key=True)
        records = self.env["crm.sync.matcher"]._search_crm(
            adapter, object_type, SYNC_KEY_PROPERTY, list(by_key), properties
        )
        for record in records:
            item = by_key.get(record.properties.get(SYNC_KEY_PROPERTY))
            if item is None or item.binding:
                continue
            item.binding = Binding._bind(
                backend,
                object_type,
                item.partner,
                record.id,
                crm_updated_at=record.updated_at,
            )
            item.snapshot = CrmSnapshot(record.id, record.properties, record.updated_at)
            _logger.info(
                "Partner %s found in the CRM as %s %s by its sync key",
                item.partner.id,
                object_type,
                record.id,
            )

    @api.model
    def _sync_key(self, partner):
        """Return the CRM value that identifies a partner of this database."""
        database_uuid = (
            self.env["ir.config_parameter"].sudo().get_param("database.uuid", "")
        )
        return f"odoo:{database_uuid[:13]}:res.partner:{partner.id}"

    @api.model
    def _validate_new(self, backend, object_type, items, rules):
        """Set a validation error as outcome of partners whose values are invalid."""
        for item in items:
            if item.done:
                continue
            try:
                self._prepare_create_properties(backend, item.partner, rules)
            except RecordValidationError as error:
                item.outcome = error

    @api.model
    def _prepare_create_properties(self, backend, partner, rules):
        """Return the CRM properties of a new record, or raise RecordValidationError."""
        export_rules = rules.filtered(lambda rule: rule._allows_export())
        odoo_values, region = self._read_odoo_values(backend, partner, export_rules)
        plan = SyncPlan()
        record_ref = self._odoo_record_ref(partner)
        values = {}
        for rule in export_rules:
            if rule.transformation == TRANSFORM_PARENT:
                continue
            value = self._validated_value(
                plan, rule, odoo_values[rule.odoo_field], region, record_ref
            )
            if value is not INVALID and value is not None:
                values[rule.odoo_field] = value
        if plan.errors:
            raise RecordValidationError(plan.errors)
        properties = self._prepare_crm_properties(export_rules, values, region)
        properties[SYNC_KEY_PROPERTY] = self._sync_key(partner)
        return {
            name: value for name, value in properties.items() if value != ""
        }, values

    @api.model
    def _match_in_crm(self, backend, object_type, items, rules, adapter):
        """Link partners to a CRM record with the same identity, or flag duplicates."""
        todo = [
            item
            for item in items
            if not item.done and item.resolution.get("action") != "create"
        ]
        if not todo:
            return
        properties = self._crm_properties(rules)
        Matcher = self.env["crm.sync.matcher"]
        records = Matcher._search_identity_keys(
            backend,
            object_type,
            [item.partner for item in todo],
            rules,
            adapter,
            properties,
        )
        candidates = [
            Matcher._crm_candidate(rules, record) for record in records.values()
        ]
        for item in todo:
            partner_record = Matcher._partner_match_record(item.partner)
            result = matching.match(
                partner_record,
                candidates,
                match_website=backend.match_company_by_domain,
            )
            if result.status == matching.NONE:
                continue
            if result.status == matching.MATCHED:
                crm_id = result.record_ids[0]
                other = (
                    self.env["crm.sync.binding"]
                    .sudo()
                    ._find_by_crm_id(backend, object_type, crm_id)
                )
                if not other:
                    record = records[crm_id]
                    item.binding = (
                        self.env["crm.sync.binding"]
                        .sudo()
                        ._bind(
                            backend,
                            object_type,
                            item.partner,
                            crm_id,
                            crm_updated_at=record.updated_at,
                        )
                    )
                    item.snapshot = CrmSnapshot(
                        crm_id, record.properties, record.updated_at
                    )
                    _logger.info(
                        "Partner %s linked to CRM %s %s (%s)",
                        item.partner.id,
                        object_type,
                        crm_id,
                        result.rule,
                    )
                    continue
            item.outcome = Matcher._crm_duplicate_error(
                backend, object_type, item.partner, result, records, rules
            )

    @api.model
    def _create_in_crm(self, backend, object_type, items, rules, adapter):
        """Create CRM records for partners that matched nothing, in batches."""
        todo = [item for item in items if not item.done and not item.binding]
        if not todo:
            return
        prepared = [
            self._prepare_create_properties(backend, item.partner, rules)
            for item in todo
        ]
        result = adapter.batch_create(
            object_type, [properties for properties, _values in prepared]
        )
        Binding = self.env["crm.sync.binding"].sudo()
        for index, (item, (properties, values)) in enumerate(
            zip(todo, prepared, strict=True)
        ):
            error = result.error_for(index)
            if error:
                item.outcome = self._create_error(
                    backend, object_type, item.partner, error
                )
                continue
            record = result.results[index]
            if item.job:
                item.job._store_crm_id(record.id)
            item.binding = Binding._bind(
                backend,
                object_type,
                item.partner,
                record.id,
                crm_updated_at=record.updated_at,
            )
            item.snapshot = CrmSnapshot(
                record.id,
                {**properties, **(record.properties or {})},
                record.updated_at,
            )
            item.snapshot.company_ids = []
            created = SyncPlan(
                pushes={name: value for name, value in values.items() if value},
                previous={name: (value, None) for name, value in values.items()},
                sources=dict.fromkeys(values, SOURCE_ODOO_USER),
            )
            self._log_plan(
                backend,
                object_type,
                item.partner,
                record.id,
                created,
                rules,
                job=item.job,
                user=self._job_user(item.job),
            )
            _logger.info(
                "Created CRM %s %s for partner %s on backend %s",
                object_type,
                record.id,
                item.partner.id,
                backend.id,
            )

    @api.model
    def _create_error(self, backend, object_type, partner, error):
        if error.existing_id:
            return ResolutionNeededError(
                self.env._(
                    "The CRM already holds record %(crm_id)s with a value that must be "
                    "unique (%(message)s). Link partner %(partner)s to it or correct "
                    "the value.",
                    crm_id=error.existing_id,
                    message=error.message,
                    partner=partner.display_name,
                ),
                exception_kind="duplicate",
                exception_data={
                    "side": "crm",
                    "object_type": object_type,
                    "partner_id": partner.id,
                    "candidates": [
                        {"crm_id": error.existing_id, "name": error.existing_id}
                    ],
                },
                candidate_partner_ids=partner.ids,
            )
        return SyncError(
            error.message, category=error.category, retryable=error.retryable
        )

    # ------------------------------------------------------------------
    # Linked records
    # ------------------------------------------------------------------

    @api.model
    def _sync_linked(self, backend, object_type, items, rules, adapter):
        """Sync linked pairs both ways: one batch read, one batch update."""
        if not items:
            return
        self._read_linked(backend, object_type, items, rules, adapter)
        planned = []
        for item in items:
            if item.done:
                continue
            keep = (
                item.resolution.get("side")
                if item.resolution.get("action") == "keep"
                else None
            )
            plan = self._plan_sync(
                backend,
                item.partner,
                item.binding,
                item.snapshot,
                rules,
                resolution=keep,
            )
            try:
                conflicts_later = self._check_plan(
                    plan, item.partner, item.snapshot, object_type
                )
                properties = self._prepare_crm_properties(
                    rules,
                    {
                        name: value
                        for name, value in plan.pushes.items()
                        if name != "parent_id"
                    },
                    item.partner.country_id.code or None,
                )
            except SyncError as error:
                item.outcome = error
                continue
            planned.append((item, plan, properties, conflicts_later))

        updates = [
            (item.snapshot.crm_id, properties)
            for item, _plan, properties, _later in planned
            if properties
        ]
        result = adapter.batch_update(object_type, updates) if updates else None
        for item, plan, properties, conflicts_later in planned:
            error = (
                result.error_for(item.snapshot.crm_id)
                if result and properties
                else None
            )
            if error:
                item.outcome = SyncError(
                    error.message, category=error.category, retryable=error.retryable
                )
                continue
            updated = result.results.get(item.snapshot.crm_id) if result else None
            if updated is not None and updated.updated_at:
                item.snapshot.updated_at = updated.updated_at
            item.outcome = self._finish_linked(
                backend, object_type, item, plan, rules, adapter
            )
            if conflicts_later and not isinstance(item.outcome, Exception):
                follow_up = self._queue_export(
                    backend, object_type, item.partner, [], source="cron"
                )
                item.outcome += " " + self.env._(
                    "Conflicting fields wait for a decision in job %(job)s.",
                    job=follow_up.id,
                )

    @api.model
    def _read_linked(self, backend, object_type, items, rules, adapter):
        """Read the current CRM values of linked partners that lack a snapshot."""
        missing = [item for item in items if not item.done and item.snapshot is None]
        if missing:
            result = adapter.batch_read(
                object_type,
                [item.binding.crm_id for item in missing],
                self._crm_properties(rules),
            )
            for item in missing:
                record = result.results.get(item.binding.crm_id)
                if record is None:
                    error = result.error_for(item.binding.crm_id)
                    item.outcome = self._read_error(object_type, item, error)
                    continue
                item.snapshot = CrmSnapshot(
                    record.id, record.properties, record.updated_at
                )
        if object_type != CONTACT:
            return
        for item in items:
            if not item.done and item.snapshot.company_ids is None:
                item.snapshot.company_ids = adapter.list_associations(
                    CONTACT, item.snapshot.crm_id, COMPANY
                )
            if not item.done:
                self._set_contact_region(backend, item.snapshot)

    @api.model
    def _read_error(self, object_type, item, error):
        if error is None or error.category == NOT_FOUND:
            return SyncError(
                self.env._(
                    "CRM %(type)s %(crm_id)s linked to partner %(partner)s no longer "
                    "exists: it was deleted or merged in the CRM.",
                    type=object_type,
                    crm_id=item.binding.crm_id,
                    partner=item.partner.display_name,
                ),
                category=NOT_FOUND,
                retryable=False,
            )
        return SyncError(
            error.message, category=error.category, retryable=error.retryable
        )

    @api.model
    def _finish_linked(self, backend, object_type, item, plan, rules, adapter):
        """Apply the Odoo side of a plan the CRM accepted; return the result text."""
        partner = item.partner
        try:
            with self.env.cr.savepoint():
                if "parent_id" in plan.pushes:
                    self._push_parent(
                        adapter,
                        item.snapshot.crm_id,
                        plan.pushes["parent_id"],
                        plan.previous["parent_id"][1],
                    )
                vals = self._prepare_partner_vals(backend, rules, plan.pulls, partner)
                self._write_partner(partner, vals)
                self._store_sync_state(
                    item.binding, plan, crm_updated_at=item.snapshot.updated_at
                )
                self._log_plan(
                    backend,
                    object_type,
                    partner,
                    item.snapshot.crm_id,
                    plan,
                    rules,
                    job=item.job,
                    user=self._job_user(item.job),
                )
        except SyncError as error:
            return error
        if not plan.pulls and not plan.pushes:
            return self.env._("No change for partner %(id)s.", id=partner.id)
        return self.env._(
            "Partner %(id)s: %(pushed)s field(s) updated in the CRM, %(pulled)s in "
            "Odoo.",
            id=partner.id,
            pushed=len(plan.pushes),
            pulled=len(plan.pulls),
        )

    @api.model
    def _job_user(self, job):
        """Return the Odoo user whose change a job sends."""
        user_id = (job.payload or {}).get("user_id") if job else None
        if user_id:
            return (
                self.env["res.users"].sudo().browse(user_id).exists() or self.env.user
            )
        return job.create_uid if job else self.env.user
