"""Import of CRM companies and contacts into Odoo partners.

Entry points:

* ``_run_job(job)``: the queue's handler of import jobs, which the pull
  (``crm.sync.batch.importer``) and the webhook controller queue.
* ``_import_record(backend, object_type, crm_id)``: import one CRM record now,
  for webhooks and the resolve wizard.

An import finds the partner through the record's link, or else through
identity matching (``sync_core.matching``), and creates a partner only when
nothing matches. Several matching partners are never merged: the job becomes
a "possible duplicate" exception that a person settles.
"""

import logging

from odoo import api, models

from ..sync_core import matching
from ..sync_core.adapters import CrmNotFoundError
from ..sync_core.errors import VALIDATION, InvalidValueError, SyncError
from .crm_sync_audit_log import SOURCE_CRM
from .crm_sync_binding import to_naive_utc
from .crm_sync_field_rule import TRANSFORM_PARENT
from .crm_sync_synchronizer import (
    COMPANY,
    CONTACT,
    INVALID,
    CrmSnapshot,
    RecordValidationError,
    SyncPlan,
)

_logger = logging.getLogger(__name__)

# Object types this importer handles, in the order a pull runs them:
# companies first, so that contacts find their company linked.
IMPORT_OBJECT_TYPES = (COMPANY, CONTACT)


class CrmSyncImporter(models.AbstractModel):
    """Handler of import jobs: brings CRM companies and contacts into Odoo."""

    _name = "crm.sync.importer"
    _inherit = "crm.sync.synchronizer"
    _description = "CRM Sync Partner Importer"

    # ------------------------------------------------------------------
    # Job handler
    # ------------------------------------------------------------------

    @api.model
    def _run_job(self, job):
        """Import the CRM record of an import job; return a short result text."""
        snapshot = self._snapshot_from_payload(job)
        return self._import_record(
            job.backend_id, job.object_type, job.crm_id, snapshot=snapshot, job=job
        )

    @api.model
    def _snapshot_from_payload(self, job):
        payload = job.payload or {}
        properties = payload.get("properties")
        if not isinstance(properties, dict):
            return None
        return CrmSnapshot(
            crm_id=str(job.crm_id),
            properties=properties,
            updated_at=payload.get("updated_at"),
        )

    @api.model
    def _import_record(
        self,
        backend,
        object_type,
        crm_id,
        *,
        snapshot=None,
        job=None,
        resolution=None,
        adapter=None,
    ):
        """Import one CRM record into Odoo and return a short result text.

        Reads the record from the CRM unless ``snapshot`` (a CrmSnapshot from a
        pull) is given. Updates the linked partner, or links a matching one,
        or creates a partner. ``resolution`` carries a person's decision from
        the resolve wizard: ``{"action": "link", "partner_id": id}``,
        ``{"action": "create"}`` or ``{"action": "keep", "side": "odoo" or
        "crm"}``.

        Raises a SyncError: RecordValidationError for invalid values,
        ResolutionNeededError for a possible duplicate or a conflict, adapter
        errors for failed CRM calls (retryable or not).
        """
        if object_type not in IMPORT_OBJECT_TYPES:
            raise SyncError(
                self.env._(
                    "Import of %(type)s records is not supported by the customer sync.",
                    type=object_type,
                ),
                retryable=False,
            )
        resolution = resolution or {}
        if adapter is None:
            with backend._get_adapter() as own_adapter:
                return self._import_record(
                    backend,
                    object_type,
                    crm_id,
                    snapshot=snapshot,
                    job=job,
                    resolution=resolution,
                    adapter=own_adapter,
                )

        rules = self._get_rules(backend, object_type)
        crm_id = str(crm_id)
        Binding = self.env["crm.sync.binding"].sudo()
        binding = Binding._find_by_crm_id(backend, object_type, crm_id)
        if binding and binding.state == "archived":
            snapshot = self._relink_restored(
                backend, object_type, binding, rules, adapter
            )
            if snapshot is None:
                return self.env._(
                    "The link to CRM record %(crm_id)s is archived: skipped.",
                    crm_id=crm_id,
                )
        if self._is_stale(snapshot, binding):
            # The pair was synced after this job read the record (an export
            # pushed a newer value): comparing the old read would undo it.
            snapshot = None
        try:
            snapshot = self._complete_snapshot(
                adapter, object_type, crm_id, rules, snapshot
            )
        except CrmNotFoundError:
            _logger.info(
                "CRM %s %s of backend %s no longer exists",
                object_type,
                crm_id,
                backend.id,
            )
            return self.env._(
                "CRM record %(crm_id)s no longer exists: nothing imported.",
                crm_id=crm_id,
            )

        if object_type == CONTACT:
            self._import_contact_companies(backend, snapshot, adapter)
            self._set_contact_region(backend, snapshot)

        if binding:
            partner = binding.partner_id
            return self._update_partner(
                backend,
                object_type,
                partner,
                binding,
                snapshot,
                rules,
                adapter,
                job,
                resolution,
            )
        return self._import_unlinked(
            backend, object_type, snapshot, rules, adapter, job, resolution
        )

    @api.model
    def _relink_restored(self, backend, object_type, binding, rules, adapter):
        """Link an archived pair again when its CRM record is live once more.

        The deleter archives a link when its CRM record is deleted or merged
        away. A deleted record that the CRM restores comes back with its own
        id: the link and, if the deleter archived it, the partner become
        active again. A merged-away id reads as the record it was merged into,
        under another id, and stays archived. Returns the snapshot of the
        restored record, or None.
        """
        try:
            record = adapter.get(
                object_type, binding.crm_id, self._crm_properties(rules)
            )
        except CrmNotFoundError:
            return None
        if str(record.id) != binding.crm_id:
            return None
        binding.write({"state": "linked"})
        partner = binding.partner_id.with_context(active_test=False)
        if not partner.active:
            self._write_partner(partner, {"active": True})
        _logger.info(
            "CRM %s %s of backend %s is live again: link %s and partner %s restored",
            object_type,
            binding.crm_id,
            backend.id,
            binding.id,
            partner.id,
        )
        return CrmSnapshot(record.id, record.properties, record.updated_at)

    @api.model
    def _is_stale(self, snapshot, binding):
        """Return whether a pulled snapshot is older than the pair's last sync."""
        if snapshot is None or not binding or not binding.crm_updated_at:
            return False
        read_at = to_naive_utc(snapshot.updated_at)
        return read_at is None or read_at < binding.crm_updated_at

    @api.model
    def _complete_snapshot(self, adapter, object_type, crm_id, rules, snapshot):
        """Return the snapshot, reading the record and its companies as needed."""
        if snapshot is None:
            record = adapter.get(object_type, crm_id, self._crm_properties(rules))
            snapshot = CrmSnapshot(
                crm_id=crm_id,
                properties=record.properties,
                updated_at=record.updated_at,
            )
        needs_companies = object_type == CONTACT and any(
            rule.transformation == TRANSFORM_PARENT for rule in rules
        )
        if needs_companies and snapshot.company_ids is None:
            snapshot.company_ids = adapter.list_associations(CONTACT, crm_id, COMPANY)
        return snapshot

    @api.model
    def _import_contact_companies(self, backend, snapshot, adapter):
        """Import the first associated company that has no link yet.

        A company that fails to import is left out: the contact is imported
        without its parent, and a later sync links the parent.
        """
        Binding = self.env["crm.sync.binding"].sudo()
        for company_id in (snapshot.company_ids or [])[:1]:
            if Binding._find_by_crm_id(backend, COMPANY, company_id):
                continue
            try:
                with self.env.cr.savepoint():
                    self._import_record(backend, COMPANY, company_id, adapter=adapter)
            except SyncError as error:
                _logger.info(
                    "Company %s of contact %s (backend %s) was not imported: %s",
                    company_id,
                    snapshot.crm_id,
                    backend.id,
                    error.category,
                )

    # ------------------------------------------------------------------
    # Linked records
    # ------------------------------------------------------------------

    @api.model
    def _update_partner(
        self,
        backend,
        object_type,
        partner,
        binding,
        snapshot,
        rules,
        adapter,
        job,
        resolution,
    ):
        """Sync a linked pair both ways and return a short result text."""
        keep = resolution.get("side") if resolution.get("action") == "keep" else None
        plan = self._plan_sync(
            backend, partner, binding, snapshot, rules, resolution=keep
        )
        self._drop_unlinked_parent(backend, plan)
        conflicts_later = self._check_plan(plan, partner, snapshot, object_type)

        self._write_partner(
            partner, self._prepare_partner_vals(backend, rules, plan.pulls, partner)
        )
        self._push_changes(
            backend, object_type, partner, snapshot, rules, plan, adapter
        )
        self._store_sync_state(binding, plan, crm_updated_at=snapshot.updated_at)
        self._log_plan(
            backend, object_type, partner, snapshot.crm_id, plan, rules, job=job
        )
        result = self._describe_plan(plan, partner)
        if conflicts_later:
            follow_up = (
                self.env["crm.sync.job"]
                .sudo()
                ._enqueue(
                    backend,
                    object_type,
                    "import",
                    crm_id=snapshot.crm_id,
                    source="cron",
                )
            )
            result += " " + self.env._(
                "Conflicting fields wait for a decision in job %(job)s.",
                job=follow_up.id,
            )
        return result

    @api.model
    def _drop_unlinked_parent(self, backend, plan):
        """Leave out a pull of a parent company that has no Odoo link yet."""
        Binding = self.env["crm.sync.binding"].sudo()
        for name, value in list(plan.pulls.items()):
            if name != "parent_id" or not value:
                continue
            if not Binding._find_by_crm_id(backend, COMPANY, value):
                del plan.pulls[name]
                plan.synced.pop(name, None)

    @api.model
    def _push_changes(
        self, backend, object_type, partner, snapshot, rules, plan, adapter
    ):
        """Send the plan's pushes for one record to the CRM."""
        if not plan.pushes:
            return
        region = partner.country_id.code or None
        properties = self._prepare_crm_properties(
            rules,
            {name: value for name, value in plan.pushes.items() if name != "parent_id"},
            region,
        )
        if properties:
            result = adapter.batch_update(object_type, [(snapshot.crm_id, properties)])
            error = result.error_for(snapshot.crm_id)
            if error:
                raise SyncError(
                    error.message, category=error.category, retryable=error.retryable
                )
            updated = result.results.get(snapshot.crm_id)
            if updated is not None and updated.updated_at:
                snapshot.updated_at = updated.updated_at
        if "parent_id" in plan.pushes:
            self._push_parent(
                adapter,
                snapshot.crm_id,
                plan.pushes["parent_id"],
                plan.previous["parent_id"][1],
            )

    @api.model
    def _describe_plan(self, plan, partner):
        if not plan.pulls and not plan.pushes:
            return self.env._("No change for partner %(id)s.", id=partner.id)
        return self.env._(
            "Partner %(id)s: %(pulled)s field(s) updated in Odoo, %(pushed)s in the "
            "CRM.",
            id=partner.id,
            pulled=len(plan.pulls),
            pushed=len(plan.pushes),
        )

    # ------------------------------------------------------------------
    # Unlinked records: match or create
    # ------------------------------------------------------------------

    @api.model
    def _import_unlinked(
        self, backend, object_type, snapshot, rules, adapter, job, resolution
    ):
        action = resolution.get("action")
        if action == "link":
            partner = self.env["res.partner"].browse(resolution["partner_id"]).exists()
            return self._link_partner(
                backend,
                object_type,
                partner,
                snapshot,
                rules,
                adapter,
                job,
                self.env._("chosen by %(user)s", user=self.env.user.name),
            )
        if action != "create":
            Matcher = self.env["crm.sync.matcher"]
            result = Matcher._match_in_odoo(backend, object_type, snapshot, rules)
            if result.status == matching.MATCHED:
                partner = self.env["res.partner"].browse(result.record_ids[0])
                return self._link_partner(
                    backend,
                    object_type,
                    partner,
                    snapshot,
                    rules,
                    adapter,
                    job,
                    result.reason,
                )
            if result.status == matching.AMBIGUOUS:
                raise Matcher._duplicate_error(
                    backend, object_type, snapshot, rules, result
                )
        return self._create_partner(backend, object_type, snapshot, rules, adapter, job)

    @api.model
    def _link_partner(
        self, backend, object_type, partner, snapshot, rules, adapter, job, reason
    ):
        """Link an existing partner to the CRM record, then sync the pair."""
        binding = (
            self.env["crm.sync.binding"]
            .sudo()
            ._bind(
                backend,
                object_type,
                partner,
                snapshot.crm_id,
                crm_updated_at=snapshot.updated_at,
            )
        )
        _logger.info(
            "Linked CRM %s %s to partner %s on backend %s",
            object_type,
            snapshot.crm_id,
            partner.id,
            backend.id,
        )
        detail = self._update_partner(
            backend, object_type, partner, binding, snapshot, rules, adapter, job, {}
        )
        return self.env._(
            "Linked to existing partner %(id)s (%(reason)s). %(detail)s",
            id=partner.id,
            reason=reason,
            detail=detail,
        )

    @api.model
    def _create_partner(self, backend, object_type, snapshot, rules, adapter, job):
        """Create a partner from a CRM record that matches no Odoo partner."""
        if object_type == CONTACT:
            self._check_company_not_in_review(backend, snapshot, rules)
        values = self._validated_import_values(backend, object_type, snapshot, rules)
        vals = self._prepare_partner_vals(backend, rules, values)
        vals.update(self._prepare_new_partner_vals(backend, object_type))
        partner = (
            self.env["res.partner"]
            .sudo()
            .with_context(crm_sync_no_export=True, tracking_disable=True)
            .create(vals)
        )
        binding = (
            self.env["crm.sync.binding"]
            .sudo()
            ._bind(
                backend,
                object_type,
                partner,
                snapshot.crm_id,
                crm_updated_at=snapshot.updated_at,
            )
        )
        _logger.info(
            "Created partner %s from CRM %s %s on backend %s",
            partner.id,
            object_type,
            snapshot.crm_id,
            backend.id,
        )

        # Sync the new pair once, so the link stores both sides' values.
        plan = self._plan_sync(backend, partner, binding, snapshot, rules)
        self._drop_unlinked_parent(backend, plan)
        if self._check_plan(plan, partner, snapshot, object_type):
            self.env["crm.sync.job"].sudo()._enqueue(
                backend, object_type, "import", crm_id=snapshot.crm_id, source="cron"
            )
        self._write_partner(
            partner, self._prepare_partner_vals(backend, rules, plan.pulls, partner)
        )
        self._push_changes(
            backend, object_type, partner, snapshot, rules, plan, adapter
        )
        self._store_sync_state(binding, plan, crm_updated_at=snapshot.updated_at)

        created = SyncPlan(
            pulls={name: value for name, value in values.items() if value},
            previous={name: (None, value) for name, value in values.items()},
            sources=dict.fromkeys(values, SOURCE_CRM),
        )
        self._log_plan(
            backend, object_type, partner, snapshot.crm_id, created, rules, job=job
        )
        return self.env._("Created partner %(id)s.", id=partner.id)

    @api.model
    def _check_company_not_in_review(self, backend, snapshot, rules):
        """Reject a new contact whose company waits for a person's decision.

        Retrying cannot help while the company's import is an open exception
        (a possible duplicate, for instance), so the contact becomes an
        exception at once and names the exception to settle first.
        """
        company_ids = snapshot.company_ids or []
        if not company_ids:
            return
        company_crm_id = str(company_ids[0])
        Binding = self.env["crm.sync.binding"].sudo()
        if Binding._find_by_crm_id(backend, COMPANY, company_crm_id):
            return
        company_job = (
            self.env["crm.sync.job"]
            .sudo()
            .search(
                [
                    ("backend_id", "=", backend.id),
                    ("object_type", "=", COMPANY),
                    ("operation", "=", "import"),
                    ("crm_id", "=", company_crm_id),
                    ("state", "=", "exception"),
                ],
                order="id desc",
                limit=1,
            )
        )
        if not company_job:
            return
        contact_ref = self.env["crm.sync.matcher"]._describe_crm_record(
            CONTACT, snapshot, rules
        )
        company_name = (company_job.payload or {}).get("properties", {}).get("name")
        company_ref = (
            f"'{company_name}' (CRM id {company_crm_id})"
            if company_name
            else f"CRM id {company_crm_id}"
        )
        raise SyncError(
            self.env._(
                "%(contact)s was not imported because its company %(company)s is "
                "not linked to an Odoo company yet. The company's import is an open "
                "exception (job %(job)s: %(kind)s). Resolve that exception first, "
                "then retry this job.",
                contact=contact_ref,
                company=company_ref,
                job=company_job.id,
                kind=dict(
                    company_job._fields["exception_kind"]._description_selection(
                        self.env
                    )
                ).get(company_job.exception_kind, ""),
            ),
            category=VALIDATION,
            retryable=False,
        )

    @api.model
    def _validated_import_values(self, backend, object_type, snapshot, rules):
        """Return {odoo_field: normalised value} of a new partner, or raise.

        Collects every invalid value of the record in one RecordValidationError.
        """
        import_rules = rules.filtered(lambda rule: rule._allows_import())
        crm_values, region = self._read_crm_values(import_rules, snapshot)
        record_ref = self._crm_record_ref(snapshot, rules)
        plan = SyncPlan()
        values = {}
        for rule in import_rules:
            raw = crm_values[rule.odoo_field]
            if rule.transformation == TRANSFORM_PARENT:
                if raw and self.env["crm.sync.binding"].sudo()._find_by_crm_id(
                    backend, COMPANY, raw
                ):
                    values[rule.odoo_field] = raw
                continue
            value = self._validated_value(plan, rule, raw, region, record_ref)
            if value is not INVALID and value is not None:
                values[rule.odoo_field] = value
        if "name" not in values and not plan.errors:
            # A manager may have cleared the rule's Required flag, but Odoo
            # cannot store a partner without a name.
            plan.errors.append(
                InvalidValueError(
                    "is missing, and every partner needs a name",
                    value="",
                    field="Name",
                    record_ref=record_ref[1],
                    record_type=record_ref[0],
                )
            )
        if plan.errors:
            raise RecordValidationError(plan.errors)
        return values

    @api.model
    def _prepare_new_partner_vals(self, backend, object_type):
        vals = {"customer_rank": 1}
        if object_type == COMPANY:
            vals["is_company"] = True
        else:
            vals.update({"is_company": False, "type": "contact"})
        return vals
