"""Export of Odoo partners to CRM companies and contacts.

Entry points:

* res.partner create/write hooks call ``_queue_export`` for partners in
  scope whose allow-listed fields changed (see ``res_partner.py``).
* ``_cron_push(backends)`` queues exports of partners in scope that have no
  CRM link yet or changed since their last sync, for changes that bypassed
  the hooks (a customer rank raised by SQL, an import, a disabled backend).
* ``_run_jobs(jobs)`` / ``_run_job(job)``: the queue's handler of export jobs.
  It reads and writes the CRM through batch endpoints.

Creates are idempotent: every created CRM record carries the partner's
``odoo_sync_key``, which is searched before creating, and the new CRM id is
stored on the job at once with ``job._store_crm_id``.
"""

import dataclasses
import logging

from odoo import api, models
from odoo.tools import SQL

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

# Partner fields searched in the CRM before creating a record, in the order
# sync_core.matching applies them.
CRM_LOOKUP_FIELDS = ("vat", "company_registry", "email", "website", "phone", "mobile")


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

    # ------------------------------------------------------------------
    # Scope and queueing
    # ------------------------------------------------------------------

    @api.model
    def _export_triggers(self):
        """Return (backend, object_type, exported field names) per exporting backend."""
        triggers = []
        Rule = self.env["crm.sync.field.rule"].sudo()
        for backend in self.env["crm.sync.backend"].sudo().search([]):
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

        In scope: partners already linked on the backend, and customers (a
        customer rank above zero, or a contact person of a customer company)
        that belong to no company or to the backend's company.
        """
        if not partners:
            return partners
        bound_ids = set(
            self.env["crm.sync.binding"]
            .sudo()
            .search(
                [
                    ("backend_id", "=", backend.id),
                    ("object_type", "=", object_type),
                    ("partner_id", "in", partners.ids),
                ]
            )
            .mapped("partner_id")
            .ids
        )
        company = backend.company_id
        return partners.filtered(
            lambda partner: (
                partner.id in bound_ids
                or (
                    partner.active
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
    def _queue_export(
        self, backend, object_type, partner, changed_fields, source="odoo"
    ):
        """Queue (or merge into the waiting) export job of one partner.

        The payload names the changed fields and the user who changed them,
        never their values.
        """
        return (
            self.env["crm.sync.job"]
            .sudo()
            ._enqueue(
                backend,
                object_type,
                "export",
                res_model="res.partner",
                res_id=partner.id,
                payload={"fields": sorted(changed_fields), "user_id": self.env.uid},
                source=source,
            )
        )

    @api.model
    def _cron_push(self, backends):
        """Queue exports of partners in scope that are unlinked or changed since."""
        queued = 0
        for backend in backends:
            for object_type, changed_fields in self._push_candidates(backend):
                for partner in changed_fields:
                    self._queue_export(backend, object_type, partner, [], source="cron")
                    queued += 1
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
        """Return ids of partners in scope, unlinked or changed after their sync."""
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
          ORDER BY p.id
            """,
            backend=backend.id,
            object_type=object_type,
            company=backend.company_id.id,
            kind=kind,
        )
        self.env["res.partner"].flush_model()
        self.env["crm.sync.binding"].flush_model()
        self.env.cr.execute(query)
        return [row[0] for row in self.env.cr.fetchall()]

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
                in_scope = self._filter_in_scope(backend, object_type, item.partner)
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
        parents = self._filter_in_scope(backend, COMPANY, parents)
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

        The job's stored CRM id comes first; else the CRM is searched for the
        partner's sync key. A person's "link" resolution is applied here too.
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
        records = self._search_crm(
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
        records = self._search_identity_keys(
            backend, object_type, todo, rules, adapter, properties
        )
        candidates = [self._crm_candidate(rules, record) for record in records.values()]
        for item in todo:
            partner_record = self._partner_match_record(item.partner)
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
            item.outcome = self._crm_duplicate_error(
                backend, object_type, item.partner, result, records, rules
            )

    @api.model
    def _search_identity_keys(
        self, backend, object_type, items, rules, adapter, properties
    ):
        """Return {crm_id: CrmRecord} of CRM records sharing a key with the partners."""
        rules_by_field = {rule.odoo_field: rule for rule in rules}
        values_by_property = {}
        for item in items:
            keys = self._partner_lookup_values(backend, item.partner)
            for field_name, values in keys.items():
                rule = rules_by_field.get(field_name)
                if rule is None:
                    continue
                values_by_property.setdefault(rule.crm_property, set()).update(values)
        records = {}
        for crm_property, values in values_by_property.items():
            for record in self._search_crm(
                adapter, object_type, crm_property, sorted(values), properties
            ):
                records[record.id] = record
        return records

    @api.model
    def _partner_lookup_values(self, backend, partner):
        """Return {odoo field: values to search in the CRM} for one partner.

        The CRM compares stored text, so each key is searched as Odoo stores it
        and in its normal form.
        """
        keys = matching.lookup_keys(
            self._partner_match_record(partner),
            match_website=backend.match_company_by_domain,
        )
        raw = {
            "vat": keys.vats,
            "company_registry": keys.company_registries,
            "email": keys.emails,
            "website": keys.website_domains,
            "phone": keys.phones,
            "mobile": keys.phones,
        }
        values = {}
        for field_name in CRM_LOOKUP_FIELDS:
            found = set(raw[field_name])
            if found and partner[field_name]:
                found.add(partner[field_name].strip())
            if found:
                values[field_name] = found
        return values

    @api.model
    def _partner_match_record(self, partner):
        return {
            "crm_id": None,
            "is_company": partner.is_company,
            "name": partner.name,
            "vat": partner.vat,
            "company_registry": partner.company_registry,
            "email": partner.email,
            "website": partner.website,
            "phone": partner.phone,
            "mobile": partner.mobile,
            "country_code": partner.country_id.code,
        }

    @api.model
    def _crm_candidate(self, rules, record):
        snapshot = CrmSnapshot(record.id, record.properties, record.updated_at)
        values, _region = self._read_crm_values(rules, snapshot)
        return {
            "id": record.id,
            "crm_id": None,
            "name": values.get("name"),
            "vat": values.get("vat"),
            "company_registry": values.get("company_registry"),
            "email": values.get("email"),
            "website": values.get("website"),
            "phone": values.get("phone"),
            "mobile": values.get("mobile"),
            "country_code": values.get("country_id"),
        }

    @api.model
    def _crm_duplicate_error(
        self, backend, object_type, partner, result, records, rules
    ):
        Binding = self.env["crm.sync.binding"].sudo()
        candidates = []
        for crm_id in result.record_ids:
            snapshot = CrmSnapshot(crm_id, records[crm_id].properties)
            _label, reference = self._crm_record_ref(snapshot, rules)
            linked = Binding._find_by_crm_id(backend, object_type, crm_id)
            candidates.append(
                {
                    "crm_id": crm_id,
                    "name": reference,
                    "linked_partner_id": linked.partner_id.id or False,
                }
            )
        return ResolutionNeededError(
            self.env._(
                "Possible duplicate: %(partner)s matches %(count)s CRM record(s) "
                "(%(names)s) by %(rule)s, and a CRM record may be linked to only one "
                "partner. Link it to one of them or create a new CRM record.",
                partner=partner.display_name,
                count=len(candidates),
                names=", ".join(candidate["name"] for candidate in candidates),
                rule=result.rule,
            ),
            exception_kind="duplicate",
            exception_data={
                "side": "crm",
                "object_type": object_type,
                "partner_id": partner.id,
                "match_rule": result.rule,
                "candidates": candidates,
            },
            candidate_partner_ids=partner.ids,
        )

    @api.model
    def _search_crm(self, adapter, object_type, crm_property, values, properties):
        """Return the CRM records whose property equals one of the values."""
        if not values:
            return []
        search_in = getattr(adapter, "search_in", None)
        if search_in is not None:
            return search_in(object_type, crm_property, values, properties)
        records = []
        for value in values:
            records += adapter.search_equals(
                object_type, crm_property, value, properties
            )
        return records

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
