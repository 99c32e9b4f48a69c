"""Shared steps of the partner importer and exporter.

Both directions end in the same comparison. For each field rule, the Odoo
value, the CRM value and the fingerprint stored at the last sync go through
``sync_core.mapping.decide``, which decides whether to pull the CRM's value,
push Odoo's, do nothing, or report a conflict. The importer and the exporter
differ only in how a record without a link is found or created, and in how
the CRM is called (one record or a batch).

A value that fails validation stops its whole record: nothing is written,
and the job becomes an exception that names the record, field and value. A
conflict stops only its own field. The other fields are applied, and a
follow-up job, which then has only the conflict left, becomes the exception
that a person settles (see ``_check_plan``).
"""

import dataclasses
import logging

from odoo import api, fields, models

from ..sync_core import mapping, normalise
from ..sync_core.errors import (
    CONFLICT,
    DUPLICATE,
    VALIDATION,
    InvalidValueError,
    SyncError,
)
from .crm_sync_audit_log import SOURCE_CRM, SOURCE_ENGINE, SOURCE_ODOO_USER
from .crm_sync_binding import to_naive_utc
from .crm_sync_field_rule import TRANSFORM_COUNTRY, TRANSFORM_DOMAIN, TRANSFORM_PARENT
from .res_partner import NO_EXPORT_CONTEXT

_logger = logging.getLogger(__name__)

# CRM property that names the Odoo record a CRM record was created from. The
# exporter searches it before creating, so a create repeated after a crash
# finds the first record instead of making a second one. Its value is a
# technical key, never personal data.
SYNC_KEY_PROPERTY = "odoo_sync_key"
SYNC_KEY_LABEL = "Odoo sync key"

# (database, backend id, CRM base URL, object type) of each sync key property
# that this process has ensured. Each worker process reads the property once
# per key, and a repeated ensure by another worker is harmless.
# NOTE: a property deleted in the CRM after that read is created again only
# after a restart. Until then creates fail with "does not exist".
_ENSURED_SYNC_KEYS = set()

# Prefix of the parent company value when Odoo's parent has no CRM link yet.
UNBOUND_PARENT_PREFIX = "odoo:"

# Association between a contact and its company, in the adapter's names.
CONTACT = "contact"
COMPANY = "company"

# A person's choice in the resolve wizard for every conflicting field.
RESOLUTION_KEEP_ODOO = "odoo"
RESOLUTION_KEEP_CRM = "crm"


class ResolutionNeededError(SyncError):
    """A record that a person must settle: a possible duplicate or a conflict.

    The job queue copies ``exception_kind``, ``exception_data`` and
    ``candidate_partner_ids`` onto the job, and the resolve wizard reads them.
    """

    def __init__(
        self,
        message,
        *,
        exception_kind,
        exception_data=None,
        candidate_partner_ids=(),
        category=None,
    ):
        if category is None:
            category = CONFLICT if exception_kind == "conflict" else DUPLICATE
        super().__init__(message, category=category, retryable=False)
        self.exception_kind = exception_kind
        self.exception_data = exception_data or {}
        self.candidate_partner_ids = list(candidate_partner_ids)


class RecordValidationError(SyncError):
    """One or more field values of a record failed validation."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__(
            "\n".join(str(error) for error in self.errors),
            category=VALIDATION,
            retryable=False,
        )

    @property
    def log_message(self):
        """The messages without the offending values, safe for server logs."""
        return "; ".join(error.log_message for error in self.errors)


@dataclasses.dataclass
class CrmSnapshot:
    """One CRM record as the engine read it.

    ``company_ids`` lists the companies a contact is associated with, or is
    None when they were not read. ``region`` is the country code that reads
    national phone numbers when no rule maps the record's own country: for a
    contact, its company's country in Odoo.
    """

    crm_id: str
    properties: dict
    updated_at: object = None
    company_ids: list | None = None
    region: str | None = None


@dataclasses.dataclass
class SyncPlan:
    """Per-field outcome of comparing one Odoo record with one CRM record.

    ``pulls`` and ``pushes`` map an Odoo field name to the normalised value to
    write on the other side. ``synced`` maps a field to the (value,
    fingerprint) both sides share once the plan is applied. ``previous`` keeps
    each field's (Odoo value, CRM value) before the sync, for the audit log.
    """

    pulls: dict = dataclasses.field(default_factory=dict)
    pushes: dict = dataclasses.field(default_factory=dict)
    conflicts: list = dataclasses.field(default_factory=list)
    errors: list = dataclasses.field(default_factory=list)
    synced: dict = dataclasses.field(default_factory=dict)
    sources: dict = dataclasses.field(default_factory=dict)
    previous: dict = dataclasses.field(default_factory=dict)


class CrmSyncSynchronizer(models.AbstractModel):
    """Comparison and write steps shared by the partner importer and exporter."""

    _name = "crm.sync.synchronizer"
    _description = "CRM Sync Partner Synchronizer"

    # ------------------------------------------------------------------
    # Rules
    # ------------------------------------------------------------------

    @api.model
    def _get_rules(self, backend, object_type):
        """Return the active field rules of a backend for one object type.

        Raises a non-retryable SyncError when there is none, because syncing
        without rules would send or read nothing.
        """
        rules = self.env["crm.sync.field.rule"].sudo()._get_rules(backend, object_type)
        if not rules:
            raise SyncError(
                self.env._(
                    "Backend '%(backend)s' has no active field rule for %(type)s "
                    "records: add rules under CRM Sync > Configuration > Field Rules.",
                    backend=backend.name,
                    type=object_type,
                ),
                category=VALIDATION,
                retryable=False,
            )
        return rules

    @api.model
    def _ensure_sync_key_property(self, backend, object_type, items, adapter):
        """Create the CRM's sync key property before partners without a link go out.

        ``items`` are the exporter's ExportItem objects. A CRM error that a
        retry cannot fix (missing scope, a property of the wrong type) becomes
        the outcome of the partners that need the key, so that updates of
        linked partners still go out. Other errors propagate to the batch.
        """
        unlinked = [
            item
            for item in items
            if not item.done
            and not item.binding
            and not (item.job and item.job.crm_id)
            and item.resolution.get("action") != "link"
        ]
        key = (self.env.cr.dbname, backend.id, backend.base_url, object_type)
        if not unlinked or key in _ENSURED_SYNC_KEYS:
            return

        try:
            created = adapter.ensure_property(
                object_type, SYNC_KEY_PROPERTY, SYNC_KEY_LABEL, unique=True
            )
        except SyncError as error:
            if error.retryable:
                raise
            _logger.warning(
                "CRM property %s of %s records is unusable on backend %s (%s): "
                "%s partner(s) not created",
                SYNC_KEY_PROPERTY,
                object_type,
                backend.id,
                error.category,
                len(unlinked),
            )
            for item in unlinked:
                item.outcome = error
            return

        _ENSURED_SYNC_KEYS.add(key)
        if created:
            _logger.info(
                "Created CRM property %s of %s records on backend %s",
                SYNC_KEY_PROPERTY,
                object_type,
                backend.id,
            )

    @api.model
    def _sync_key_checks(self, checks):
        """Return the (object type, property) pairs that a connection test checks.

        ``checks`` are the test's (object type, needs write) pairs. Exported
        companies and contacts carry the sync key property.
        """
        return [
            (object_type, SYNC_KEY_PROPERTY)
            for object_type, needs_write in checks
            if needs_write and object_type in (COMPANY, CONTACT)
        ]

    @api.model
    def _crm_properties(self, rules, with_sync_key=False):
        properties = rules._crm_properties()
        if with_sync_key:
            properties.append(SYNC_KEY_PROPERTY)
        return list(dict.fromkeys(properties))

    # ------------------------------------------------------------------
    # Reading both sides
    # ------------------------------------------------------------------

    @api.model
    def _read_odoo_values(self, backend, partner, rules):
        """Return ({odoo_field: raw value}, region) of a partner for the rules.

        Many2one fields become the CRM's form: a country's ISO code, or the CRM
        id of the parent company.
        """
        values = {}
        for rule in rules:
            name = rule.odoo_field
            if rule.transformation == TRANSFORM_COUNTRY:
                values[name] = partner[name].code or None
            elif rule.transformation == TRANSFORM_PARENT:
                values[name] = self._parent_crm_id(backend, partner)
            else:
                values[name] = partner[name] or None
        region = partner.country_id.code or normalise.DEFAULT_REGION
        return values, region

    @api.model
    def _parent_crm_id(self, backend, partner):
        parent = partner.parent_id
        if not parent:
            return None
        binding = (
            self.env["crm.sync.binding"]
            .sudo()
            ._find_by_record(backend, COMPANY, parent)
        )
        if binding:
            return binding.crm_id
        return f"{UNBOUND_PARENT_PREFIX}{parent.id}"

    @api.model
    def _read_crm_values(self, rules, snapshot, odoo_parent=None):
        """Return ({odoo_field: raw value}, region) of a CRM record for the rules.

        A contact associated with several companies takes Odoo's current parent
        when it is one of them, else the first, because an Odoo contact has
        one parent.
        """
        values = {}
        region = None
        for rule in rules:
            core = rule._to_core_rule()
            if rule.transformation == TRANSFORM_PARENT:
                company_ids = [
                    str(company_id) for company_id in snapshot.company_ids or []
                ]
                if odoo_parent in company_ids:
                    values[rule.odoo_field] = odoo_parent
                else:
                    values[rule.odoo_field] = company_ids[0] if company_ids else None
                continue
            values[rule.odoo_field] = mapping.crm_value(core, snapshot.properties)
            if rule.transformation == TRANSFORM_COUNTRY:
                region = _lenient(normalise.country_code, values[rule.odoo_field])
        return values, region or snapshot.region or normalise.DEFAULT_REGION

    @api.model
    def _set_contact_region(self, backend, snapshot):
        """Take a contact's region from its first company's country in Odoo.

        Odoo gives a contact person its company's address, so the company's
        country is the contact's country on both sides.
        """
        if snapshot.region or not snapshot.company_ids:
            return
        binding = (
            self.env["crm.sync.binding"]
            .sudo()
            ._find_by_crm_id(backend, COMPANY, snapshot.company_ids[0])
        )
        snapshot.region = binding.partner_id.country_id.code or None

    # ------------------------------------------------------------------
    # Planning
    # ------------------------------------------------------------------

    @api.model
    def _plan_sync(self, backend, partner, binding, snapshot, rules, resolution=None):
        """Compare a linked pair field by field and return its SyncPlan.

        ``binding`` may be empty for a pair that was just matched: every field
        is then decided as a first sync. ``resolution`` is RESOLUTION_KEEP_ODOO
        or RESOLUTION_KEEP_CRM when a person settled a conflict: the chosen
        side's value wins every field that would otherwise be a conflict.
        """
        plan = SyncPlan()
        odoo_values, odoo_region = self._read_odoo_values(backend, partner, rules)
        odoo_parent = next(
            (
                odoo_values[rule.odoo_field]
                for rule in rules
                if rule.transformation == TRANSFORM_PARENT
            ),
            None,
        )
        crm_values, crm_region = self._read_crm_values(
            rules, snapshot, odoo_parent=odoo_parent
        )
        fingerprints = binding._get_fingerprints() if binding else {}
        odoo_changed_at = partner.write_date
        crm_changed_at = to_naive_utc(snapshot.updated_at)

        for rule in rules:
            name = rule.odoo_field
            core = rule._to_core_rule()
            odoo_normal = self._comparable(core, odoo_values[name], odoo_region)
            crm_normal = self._comparable(core, crm_values[name], crm_region)
            last = fingerprints.get(name)
            decision = mapping.decide(
                core,
                odoo_normal,
                crm_normal,
                last,
                odoo_changed_at=odoo_changed_at,
                crm_changed_at=crm_changed_at,
            )
            plan.previous[name] = (odoo_normal, crm_normal)
            self._plan_field(
                plan,
                rule,
                decision,
                last,
                resolution,
                (odoo_values[name], odoo_region),
                (crm_values[name], crm_region),
                record_refs=(
                    self._odoo_record_ref(partner),
                    self._crm_record_ref(snapshot, rules),
                ),
            )
        return plan

    @api.model
    def _comparable(self, core, raw, region):
        """Return a value normalised for comparison, or its cleaned text if invalid."""
        if core.transform == mapping.TRANSFORM_PARENT_COMPANY:
            return raw or None
        try:
            return mapping.normalise_value(core, raw, region)
        except InvalidValueError:
            return normalise.clean_text(raw)

    @api.model
    def _plan_field(
        self, plan, rule, decision, last, resolution, odoo_side, crm_side, record_refs
    ):
        name = rule.odoo_field
        action = decision.action
        if action == mapping.ACTION_CONFLICT and resolution:
            action = (
                mapping.ACTION_PUSH
                if resolution == RESOLUTION_KEEP_ODOO
                else mapping.ACTION_PULL
            )

        if action == mapping.ACTION_NONE:
            if decision.fingerprint and decision.fingerprint != last:
                odoo_normal, _crm_normal = plan.previous[name]
                plan.synced[name] = (odoo_normal, decision.fingerprint)
            return
        if action == mapping.ACTION_CONFLICT:
            odoo_normal, crm_normal = plan.previous[name]
            plan.conflicts.append(
                {
                    "field": name,
                    "label": rule.field_id.field_description,
                    "crm_property": rule.crm_property,
                    "odoo_value": _display_value(odoo_normal),
                    "crm_value": _display_value(crm_normal),
                    "reason": decision.reason,
                }
            )
            return

        source_raw, region = odoo_side if action == mapping.ACTION_PUSH else crm_side
        record_ref = record_refs[0] if action == mapping.ACTION_PUSH else record_refs[1]
        value = self._validated_value(plan, rule, source_raw, region, record_ref)
        if value is INVALID:
            return
        if action == mapping.ACTION_PUSH and _is_unbound_parent(value):
            # The parent company is not in the CRM yet: the association is made
            # by a later export, once the company has its CRM id.
            return
        target = plan.pushes if action == mapping.ACTION_PUSH else plan.pulls
        target[name] = value
        plan.synced[name] = (value, mapping.fingerprint(value))
        resolved = bool(resolution) and decision.action == mapping.ACTION_CONFLICT
        plan.sources[name] = self._audit_source(last, plan.previous[name], resolved)

    @api.model
    def _validated_value(self, plan, rule, raw, region, record_ref):
        """Return the strictly normalised value to write, or INVALID after an error."""
        core = rule._to_core_rule()
        if core.transform == mapping.TRANSFORM_PARENT_COMPANY:
            return raw or None
        try:
            value = mapping.normalise_value(core, raw, region)
        except InvalidValueError as error:
            plan.errors.append(
                error.with_context(
                    field=rule.field_id.field_description,
                    record_ref=record_ref[1],
                    record_type=record_ref[0],
                )
            )
            return INVALID
        if rule.required and not value:
            plan.errors.append(
                InvalidValueError(
                    "is missing, and this field is required",
                    value=raw or "",
                    field=rule.field_id.field_description,
                    record_ref=record_ref[1],
                    record_type=record_ref[0],
                )
            )
            return INVALID
        return value

    @api.model
    def _audit_source(self, last, previous, resolved):
        """Return who caused a change: the CRM, an Odoo user or the engine's rules.

        A change made on one side since the last sync belongs to that side. A
        first sync, or a field both sides changed, is decided by the engine,
        unless a person chose the value in the resolve wizard.
        """
        if resolved:
            return SOURCE_ODOO_USER
        if last is None:
            return SOURCE_ENGINE
        odoo_normal, crm_normal = previous
        odoo_changed = mapping.fingerprint(odoo_normal) != last
        crm_changed = mapping.fingerprint(crm_normal) != last
        if odoo_changed and not crm_changed:
            return SOURCE_ODOO_USER
        if crm_changed and not odoo_changed:
            return SOURCE_CRM
        return SOURCE_ENGINE

    @api.model
    def _odoo_record_ref(self, partner):
        label = self.env._("Company") if partner.is_company else self.env._("Contact")
        return label, f"{partner.display_name} (id {partner.id})"

    @api.model
    def _crm_record_ref(self, snapshot, rules):
        name = None
        for rule in rules:
            if rule.odoo_field == "name":
                name = mapping.crm_value(rule._to_core_rule(), snapshot.properties)
        label = self.env._("CRM record")
        if name:
            return label, f"{name} (CRM id {snapshot.crm_id})"
        return label, f"CRM id {snapshot.crm_id}"

    @api.model
    def _check_plan(self, plan, partner, snapshot, object_type):
        """Raise what stops a plan, or return whether its conflicts wait for later.

        Invalid values stop the whole record. Conflicts stop it only when the
        plan has nothing else to do. Otherwise the caller applies the other
        fields and queues a follow-up job, which then has only the conflicts
        left and raises them, so a conflict never holds back the other fields
        (or a new link) of the record.
        """
        if plan.errors:
            raise RecordValidationError(plan.errors)
        if not plan.conflicts:
            return False
        if plan.pulls or plan.pushes or plan.synced:
            return True
        raise self._conflict_error(plan, partner, snapshot, object_type)

    @api.model
    def _conflict_error(self, plan, partner, snapshot, object_type):
        fields_text = ", ".join(conflict["label"] for conflict in plan.conflicts)
        return ResolutionNeededError(
            self.env._(
                "Odoo and the CRM hold different values for %(fields)s of %(record)s "
                "(CRM id %(crm_id)s), both changed since the last sync, and both "
                "sides own these fields. Choose which side to keep.",
                fields=fields_text,
                record=partner.display_name,
                crm_id=snapshot.crm_id,
            ),
            exception_kind="conflict",
            exception_data={
                "object_type": object_type,
                "partner_id": partner.id,
                "crm_id": snapshot.crm_id,
                "conflicts": plan.conflicts,
            },
            candidate_partner_ids=partner.ids,
        )

    # ------------------------------------------------------------------
    # Writing
    # ------------------------------------------------------------------

    @api.model
    def _prepare_partner_vals(self, backend, rules, values, partner=None):
        """Turn normalised values keyed by Odoo field into res.partner values.

        Raises SyncError when a country code is unknown to Odoo or a parent
        company has no link yet.
        """
        rules_by_field = {rule.odoo_field: rule for rule in rules}
        vals = {}
        for name, value in values.items():
            rule = rules_by_field[name]
            if rule.transformation == TRANSFORM_COUNTRY:
                vals[name] = self._country_id(value)
            elif rule.transformation == TRANSFORM_PARENT:
                vals[name] = self._parent_partner_id(backend, value)
            elif rule.transformation == TRANSFORM_DOMAIN:
                vals[name] = self._website_for_domain(value, partner)
            else:
                vals[name] = value or False
        return vals

    @api.model
    def _country_id(self, code):
        if not code:
            return False
        country = self.env["res.country"].sudo().search([("code", "=", code)], limit=1)
        if not country:
            raise SyncError(
                self.env._(
                    "Country code '%(code)s' is not a country in Odoo: add it under "
                    "Contacts > Configuration > Countries.",
                    code=code,
                ),
                category=VALIDATION,
                retryable=False,
            )
        return country.id

    @api.model
    def _parent_partner_id(self, backend, crm_company_id):
        if not crm_company_id:
            return False
        binding = (
            self.env["crm.sync.binding"]
            .sudo()
            ._find_by_crm_id(backend, COMPANY, crm_company_id)
        )
        if not binding or not binding.partner_id:
            raise SyncError(
                self.env._(
                    "The contact's company (CRM id %(crm_id)s) is not linked to an "
                    "Odoo company yet: import it first.",
                    crm_id=crm_company_id,
                ),
                category=VALIDATION,
                retryable=True,
            )
        return binding.partner_id.id

    @api.model
    def _website_for_domain(self, domain, partner):
        if not domain:
            return False
        current = partner.website if partner else False
        if current and _lenient(normalise.website_domain, current) == domain:
            return current
        return f"https://{domain}"

    @api.model
    def _prepare_crm_properties(self, rules, values, region):
        """Turn normalised values keyed by Odoo field into CRM properties.

        The parent company is left out: it is an association, not a property.
        """
        core_rules = [
            rule._to_core_rule() for rule in rules if rule.odoo_field in values
        ]
        mapped = mapping.to_crm(values, core_rules, {"country_code": region})
        if mapped.errors:
            raise RecordValidationError(mapped.errors)
        return mapped.values

    @api.model
    def _push_parent(self, adapter, contact_id, company_id, previous_company_id):
        """Associate a CRM contact with its company, dropping the previous one."""
        if company_id:
            adapter.associate(CONTACT, contact_id, COMPANY, company_id)
        if previous_company_id and previous_company_id != company_id:
            adapter.disassociate(CONTACT, contact_id, COMPANY, previous_company_id)

    @api.model
    def _write_partner(self, partner, vals):
        """Write values received from the CRM without queueing their export."""
        if vals:
            partner.with_context(**{NO_EXPORT_CONTEXT: True}).sudo().write(vals)

    @api.model
    def _store_sync_state(self, binding, plan, crm_updated_at=None, fields_done=None):
        """Store the shared values of the fields that the plan settled."""
        synced = plan.synced
        if fields_done is not None:
            synced = {
                name: state for name, state in synced.items() if name in fields_done
            }
        binding._store_synced_values(
            {name: value for name, (value, _digest) in synced.items()},
            {name: digest for name, (_value, digest) in synced.items()},
            crm_updated_at=to_naive_utc(crm_updated_at),
        )

    @api.model
    def _log_plan(
        self, backend, object_type, partner, crm_id, plan, rules, job=None, user=None
    ):
        """Write one audit entry per field value the plan changed on either side."""
        rules_by_field = {rule.odoo_field: rule for rule in rules}
        entries = []
        for direction, changes in (("import", plan.pulls), ("export", plan.pushes)):
            for name, value in changes.items():
                odoo_before, crm_before = plan.previous[name]
                old_value = odoo_before if direction == "import" else crm_before
                source = plan.sources.get(name, SOURCE_ENGINE)
                entries.append(
                    {
                        "backend_id": backend.id,
                        "object_type": object_type,
                        "res_model": "res.partner",
                        "res_id": partner.id,
                        "partner_id": partner.id,
                        "record_name": partner.display_name,
                        "crm_id": crm_id,
                        "field_name": name,
                        "field_description": rules_by_field[
                            name
                        ].field_id.field_description,
                        "crm_property": rules_by_field[name].crm_property,
                        "old_value": _display_value(old_value),
                        "new_value": _display_value(value),
                        "direction": direction,
                        "source": source,
                        "user_id": (user or self.env.user).id
                        if source == SOURCE_ODOO_USER
                        else False,
                        "job_id": job.id if job else False,
                        "sync_date": fields.Datetime.now(),
                    }
                )
        if entries:
            self.env["crm.sync.audit.log"]._log_changes(entries)
        return len(entries)


class _Invalid:
    """Marker of a value that failed validation."""


INVALID = _Invalid()


def _lenient(function, value):
    try:
        return function(value)
    except InvalidValueError:
        return None


def _is_unbound_parent(value):
    return isinstance(value, str) and value.startswith(UNBOUND_PARENT_PREFIX)


def _display_value(value):
    if value is None or value is False:
        return False
    return str(value)
