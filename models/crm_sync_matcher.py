"""Identity matching on both sides, before the sync creates anything.

Before an import creates a partner, ``_match_in_odoo`` looks for the Odoo
partner the CRM record already is. Before an export creates a CRM record,
``_search_identity_keys`` finds CRM records that share a key with the
partner, and the exporter runs the same ``sync_core.matching`` rules on
them. This model only fetches candidates, by indexed normalised keys in Odoo
and by property searches in the CRM, and ``sync_core.matching`` decides.
"""

import logging

from odoo import api, models

from ..sync_core import mapping, matching
from .crm_sync_synchronizer import COMPANY, CrmSnapshot, ResolutionNeededError

_logger = logging.getLogger(__name__)

# Maximum candidates read for one identity match. More hits than this are
# ambiguous anyway.
MAX_MATCH_CANDIDATES = 50

# Partner fields searched in the CRM before creating a record, in the order
# sync_core.matching applies them.
CRM_LOOKUP_FIELDS = ("vat", "company_registry", "email", "website", "phone", "mobile")


class CrmSyncMatcher(models.AbstractModel):
    """Candidate search for identity matching, in Odoo and in the CRM."""

    _name = "crm.sync.matcher"
    _inherit = "crm.sync.synchronizer"
    _description = "CRM Sync Identity Matcher"

    # ------------------------------------------------------------------
    # CRM record against Odoo partners
    # ------------------------------------------------------------------

    @api.model
    def _match_in_odoo(self, backend, object_type, snapshot, rules):
        """Return the MatchResult of a CRM record against Odoo partners."""
        record = self._match_record(object_type, snapshot, rules)
        keys = matching.lookup_keys(
            record, match_website=backend.match_company_by_domain
        )
        candidates = self._find_candidates(backend, object_type, keys)
        result = matching.match(
            record, candidates, match_website=backend.match_company_by_domain
        )
        _logger.debug(
            "Match of CRM %s %s (backend %s): %s by %s",
            object_type,
            snapshot.crm_id,
            backend.id,
            result.status,
            result.rule,
        )
        return result

    @api.model
    def _match_record(self, object_type, snapshot, rules):
        """Return the CRM record as the plain dict sync_core.matching reads."""
        values, region = self._read_crm_values(rules, snapshot)
        return {
            "crm_id": snapshot.crm_id,
            "is_company": object_type == COMPANY,
            "name": values.get("name"),
            "vat": values.get("vat"),
            "company_registry": values.get("company_registry"),
            "email": values.get("email"),
            "website": values.get("website"),
            "phone": values.get("phone"),
            "mobile": values.get("mobile"),
            "country_code": values.get("country_id") or region,
        }

    @api.model
    def _find_candidates(self, backend, object_type, keys):
        """Return partners sharing an identity key, as dicts for matching.

        Every lookup column is a stored, indexed normalised key on res.partner.
        """
        lookups = [
            ("crm_sync_vat_norm", keys.vats),
            ("vat", keys.vats),
            ("crm_sync_registry_norm", keys.company_registries),
            ("crm_sync_email_norm", keys.emails),
            ("crm_sync_domain", keys.website_domains),
            ("crm_sync_phone_e164", keys.phones),
            ("crm_sync_mobile_e164", keys.phones),
        ]
        key_domains = [
            [(column, "in", list(values))] for column, values in lookups if values
        ]
        if not key_domains:
            return []
        domain = [
            ("is_company", "=", object_type == COMPANY),
            ("company_id", "in", [False, backend.company_id.id]),
        ]
        domain += ["|"] * (len(key_domains) - 1) + [
            term for part in key_domains for term in part
        ]
        partners = (
            self.env["res.partner"].sudo().search(domain, limit=MAX_MATCH_CANDIDATES)
        )
        return self._candidate_dicts(backend, object_type, partners)

    @api.model
    def _candidate_dicts(self, backend, object_type, partners):
        bindings = (
            self.env["crm.sync.binding"]
            .sudo()
            .search(
                [
                    ("backend_id", "=", backend.id),
                    ("object_type", "=", object_type),
                    ("res_model", "=", "res.partner"),
                    ("res_id", "in", partners.ids),
                ]
            )
        )
        crm_ids = {binding.res_id: binding.crm_id for binding in bindings}
        return [
            {
                "id": partner.id,
                "name": partner.name,
                "is_company": partner.is_company,
                "vat": partner.vat,
                "company_registry": partner.company_registry,
                "email": partner.email,
                "website": partner.website,
                "phone": partner.phone,
                "mobile": partner.mobile,
                "country_code": partner.country_id.code,
                "crm_id": crm_ids.get(partner.id),
            }
            for partner in partners
        ]

    @api.model
    def _describe_duplicate(self, backend, object_type, snapshot, rules, result):
        """Return the message of a possible duplicate, naming both sides."""
        partners = self.env["res.partner"].browse(result.record_ids)
        record = self._describe_crm_record(object_type, snapshot, rules)
        label, value = self._matched_key(result.rule, snapshot, rules)
        if label and value:
            subject = self.env._(
                "The %(key)s %(value)s of %(record)s",
                key=label,
                value=value,
                record=record,
            )
        elif label:
            subject = self.env._("The %(key)s of %(record)s", key=label, record=record)
        else:
            subject = record[:1].upper() + record[1:]
        names = _join_names(
            [f"'{partner.display_name}' (id {partner.id})" for partner in partners],
            self.env._("and"),
        )
        linked_crm_ids = self._crm_ids_linked_elsewhere(
            backend, object_type, partners, snapshot.crm_id
        )
        if linked_crm_ids:
            crm_ids = ", ".join(linked_crm_ids)
            if len(partners) == 1 and len(linked_crm_ids) == 1:
                match = self.env._(
                    "matches Odoo partner %(names)s, which is already linked to CRM "
                    "record %(crm_ids)s.",
                    names=names,
                    crm_ids=crm_ids,
                )
            else:
                match = self.env._(
                    "matches Odoo partner(s) %(names)s, already linked to CRM "
                    "records %(crm_ids)s.",
                    names=names,
                    crm_ids=crm_ids,
                )
            advice = self.env._(
                "The CRM may contain a duplicate, so merge the CRM records or "
                "correct the value, then retry."
            )
        else:
            if len(partners) == 1:
                match = self.env._("matches Odoo partner %(names)s.", names=names)
            else:
                match = self.env._(
                    "matches %(count)s Odoo partners: %(names)s.",
                    count=len(partners),
                    names=names,
                )
            advice = self.env._("Link it to one of them or create a new partner.")
        return f"{subject} {match} {advice}"

    @api.model
    def _describe_crm_record(self, object_type, snapshot, rules):
        name = None
        for rule in rules:
            if rule.odoo_field == "name":
                name = mapping.crm_value(rule._to_core_rule(), snapshot.properties)
        if object_type == COMPANY:
            if name:
                return self.env._(
                    "CRM company '%(name)s' (CRM id %(crm_id)s)",
                    name=name,
                    crm_id=snapshot.crm_id,
                )
            return self.env._("CRM company %(crm_id)s", crm_id=snapshot.crm_id)
        if name:
            return self.env._(
                "CRM contact '%(name)s' (CRM id %(crm_id)s)",
                name=name,
                crm_id=snapshot.crm_id,
            )
        return self.env._("CRM contact %(crm_id)s", crm_id=snapshot.crm_id)

    @api.model
    def _matched_key(self, match_rule, snapshot, rules):
        """Return (label, CRM value) of the identity key that matched."""
        labels = {
            matching.RULE_VAT: (self.env._("VAT number"), "vat"),
            matching.RULE_COMPANY_REGISTRY: (
                self.env._("company registration number"),
                "company_registry",
            ),
            matching.RULE_EMAIL: (self.env._("email address"), "email"),
            matching.RULE_WEBSITE: (self.env._("website domain"), "website"),
            matching.RULE_PHONE_NAME: (self.env._("phone number"), "phone"),
        }
        if match_rule not in labels:
            return None, None
        label, field_name = labels[match_rule]
        for rule in rules:
            if rule.odoo_field == field_name:
                value = mapping.crm_value(rule._to_core_rule(), snapshot.properties)
                return label, value or None
        return label, None

    @api.model
    def _crm_ids_linked_elsewhere(self, backend, object_type, partners, crm_id):
        bindings = (
            self.env["crm.sync.binding"]
            .sudo()
            .search(
                [
                    ("backend_id", "=", backend.id),
                    ("object_type", "=", object_type),
                    ("partner_id", "in", partners.ids),
                    ("crm_id", "!=", crm_id),
                ]
            )
        )
        return sorted(set(bindings.mapped("crm_id")))

    @api.model
    def _duplicate_error(self, backend, object_type, snapshot, rules, result):
        partners = self.env["res.partner"].browse(result.record_ids)
        return ResolutionNeededError(
            self._describe_duplicate(backend, object_type, snapshot, rules, result),
            exception_kind="duplicate",
            exception_data={
                "side": "odoo",
                "object_type": object_type,
                "crm_id": snapshot.crm_id,
                "match_rule": result.rule,
                "reason": result.reason,
                "candidates": [
                    {"partner_id": partner.id, "name": partner.display_name}
                    for partner in partners
                ],
            },
            candidate_partner_ids=partners.ids,
        )

    # ------------------------------------------------------------------
    # Odoo partner against CRM records
    # ------------------------------------------------------------------

    @api.model
    def _search_identity_keys(
        self, backend, object_type, partners, rules, adapter, properties
    ):
        """Return {crm_id: CrmRecord} of CRM records sharing a key with the partners.

        One search per CRM property covers every partner of the batch.
        """
        rules_by_field = {rule.odoo_field: rule for rule in rules}
        values_by_property = {}
        for partner in partners:
            keys = self._partner_lookup_values(backend, partner)
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
        """Return the CRM records whose property equals one of the values.

        The adapter batches the values into IN searches, so a push of many
        partners sends a few searches per property, not one per value.
        """
        if not values:
            return []
        return adapter.search_in(object_type, crm_property, values, properties)


def _join_names(names, conjunction):
    """Join names as "a", "a and b" or "a, b and c"."""
    if len(names) < 2:
        return "".join(names)
    return f"{', '.join(names[:-1])} {conjunction} {names[-1]}"
