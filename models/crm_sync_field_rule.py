import logging

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..sync_core import mapping

_logger = logging.getLogger(__name__)

RULE_OBJECT_TYPES = [
    ("company", "Company"),
    ("contact", "Contact"),
]

OWNER_ODOO = "odoo"
OWNER_CRM = "crm"
OWNER_BOTH = "both"
RULE_OWNERS = [
    (OWNER_ODOO, "Odoo"),
    (OWNER_CRM, "CRM"),
    (OWNER_BOTH, "Both (newer change wins)"),
]

DIRECTION_BOTH = "both"
DIRECTION_IMPORT = "import"
DIRECTION_EXPORT = "export"
RULE_DIRECTIONS = [
    (DIRECTION_BOTH, "Both ways"),
    (DIRECTION_IMPORT, "CRM to Odoo only"),
    (DIRECTION_EXPORT, "Odoo to CRM only"),
]

TRANSFORM_TEXT = "text"
TRANSFORM_PHONE = "phone"
TRANSFORM_EMAIL = "email"
TRANSFORM_COUNTRY = "country"
TRANSFORM_VAT = "vat"
TRANSFORM_COMPANY_NUMBER = "company_number"
TRANSFORM_DOMAIN = "domain"
TRANSFORM_PERSON_NAME = "person_name"
TRANSFORM_PARENT = "parent_company"
TRANSFORMATIONS = [
    (TRANSFORM_TEXT, "Text, trimmed"),
    (TRANSFORM_PHONE, "Phone number in E.164 (partner's country, else GB)"),
    (TRANSFORM_EMAIL, "Email address, trimmed and lower case"),
    (TRANSFORM_COUNTRY, "Country as ISO 3166 code"),
    (TRANSFORM_VAT, "VAT number, normalised"),
    (TRANSFORM_COMPANY_NUMBER, "UK company registration number"),
    (TRANSFORM_DOMAIN, "Website domain"),
    (TRANSFORM_PERSON_NAME, "Person name split into first and last name"),
    (TRANSFORM_PARENT, "Parent company through the CRM association"),
]

# Odoo field type each transformation works on.
TRANSFORM_FIELD_TYPES = {
    TRANSFORM_TEXT: ("char", "text"),
    TRANSFORM_PHONE: ("char",),
    TRANSFORM_EMAIL: ("char",),
    TRANSFORM_COUNTRY: ("many2one",),
    TRANSFORM_VAT: ("char",),
    TRANSFORM_COMPANY_NUMBER: ("char",),
    TRANSFORM_DOMAIN: ("char",),
    TRANSFORM_PERSON_NAME: ("char",),
    TRANSFORM_PARENT: ("many2one",),
}

# HubSpot defaults created with each backend, as
# (odoo_field, crm_property, transformation, owner, direction, required,
# crm_property_2).
# Odoo owns the legal and invoicing data of a company. Sales people keep
# contact details in both systems, so those fields are shared, and the job
# title belongs to the CRM.
DEFAULT_RULES = {
    "company": [
        ("name", "name", TRANSFORM_TEXT, OWNER_ODOO, DIRECTION_BOTH, True, False),
        ("vat", "vat_number", TRANSFORM_VAT, OWNER_ODOO, DIRECTION_BOTH, False, False),
        (
            "company_registry",
            "company_number",
            TRANSFORM_COMPANY_NUMBER,
            OWNER_ODOO,
            DIRECTION_BOTH,
            False,
            False,
        ),
        ("phone", "phone", TRANSFORM_PHONE, OWNER_BOTH, DIRECTION_BOTH, False, False),
        (
            "website",
            "domain",
            TRANSFORM_DOMAIN,
            OWNER_BOTH,
            DIRECTION_BOTH,
            False,
            False,
        ),
        ("street", "address", TRANSFORM_TEXT, OWNER_ODOO, DIRECTION_BOTH, False, False),
        (
            "street2",
            "address2",
            TRANSFORM_TEXT,
            OWNER_ODOO,
            DIRECTION_BOTH,
            False,
            False,
        ),
        ("city", "city", TRANSFORM_TEXT, OWNER_ODOO, DIRECTION_BOTH, False, False),
        ("zip", "zip", TRANSFORM_TEXT, OWNER_ODOO, DIRECTION_BOTH, False, False),
        (
            "country_id",
            "country",
            TRANSFORM_COUNTRY,
            OWNER_ODOO,
            DIRECTION_BOTH,
            False,
            False,
        ),
    ],
    "contact": [
        (
            "name",
            "firstname",
            TRANSFORM_PERSON_NAME,
            OWNER_BOTH,
            DIRECTION_BOTH,
            True,
            "lastname",
        ),
        ("email", "email", TRANSFORM_EMAIL, OWNER_BOTH, DIRECTION_BOTH, False, False),
        ("phone", "phone", TRANSFORM_PHONE, OWNER_BOTH, DIRECTION_BOTH, False, False),
        (
            "mobile",
            "mobilephone",
            TRANSFORM_PHONE,
            OWNER_BOTH,
            DIRECTION_BOTH,
            False,
            False,
        ),
        (
            "function",
            "jobtitle",
            TRANSFORM_TEXT,
            OWNER_CRM,
            DIRECTION_BOTH,
            False,
            False,
        ),
        (
            "parent_id",
            "associations.company",
            TRANSFORM_PARENT,
            OWNER_BOTH,
            DIRECTION_BOTH,
            False,
            False,
        ),
    ],
}


class CrmSyncFieldRule(models.Model):
    """Mapping of one partner field to one CRM property on one backend.

    Together, a backend's rules are the allow-list of personal data: the engine
    sends, stores in job payloads and writes to the audit log only the fields
    that an active rule names.
    """

    _name = "crm.sync.field.rule"
    _description = "CRM Sync Field Rule"
    _order = "backend_id, object_type, sequence, id"

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
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    object_type = fields.Selection(RULE_OBJECT_TYPES, required=True, index=True)
    field_id = fields.Many2one(
        "ir.model.fields",
        string="Odoo Field",
        required=True,
        ondelete="cascade",
        domain=[("model", "=", "res.partner"), ("store", "=", True)],
    )
    odoo_field = fields.Char(
        string="Odoo Field Name",
        related="field_id.name",
        store=True,
        index=True,
    )
    crm_property = fields.Char(
        string="CRM Property",
        required=True,
        help="Internal name of the CRM property, for example 'phone'. For the parent "
        "company transformation: 'associations.company'.",
    )
    crm_property_2 = fields.Char(
        string="Second CRM Property",
        help="For the person name transformation: the CRM property of the last "
        "name (the first CRM property is the first name).",
    )
    owner = fields.Selection(
        RULE_OWNERS,
        required=True,
        default=OWNER_BOTH,
        help="Which side wins when both sides changed the value since the last "
        "sync. With 'Both', such a change becomes a conflict for a person to "
        "resolve. A change on one side only flows to the other side whatever the "
        "owner, when the direction allows it.",
    )
    direction = fields.Selection(
        RULE_DIRECTIONS,
        required=True,
        default=DIRECTION_BOTH,
        help="Which way values of this field may flow at all.",
    )
    transformation = fields.Selection(
        TRANSFORMATIONS,
        required=True,
        default=TRANSFORM_TEXT,
        help="How values are normalised before they are compared and sent.",
    )
    required = fields.Boolean(
        help="Reject a record whose value for this field is empty.",
    )

    _sql_constraints = [
        (
            "field_unique",
            "UNIQUE(backend_id, object_type, field_id)",
            "Each Odoo field can have only one rule per backend and object type.",
        ),
        (
            "crm_property_unique",
            "UNIQUE(backend_id, object_type, crm_property)",
            "Each CRM property can have only one rule per backend and object type.",
        ),
    ]

    @api.constrains("owner", "direction", "transformation", "crm_property_2")
    def _check_owner_direction(self):
        for rule in self:
            try:
                rule._to_core_rule()
            except ValueError as error:
                raise ValidationError(
                    self.env._(
                        "Field rule for '%(field)s' is not consistent: %(error)s",
                        field=rule.field_id.name,
                        error=str(error),
                    )
                ) from error

    @api.constrains("field_id", "transformation", "crm_property_2")
    def _check_transformation(self):
        for rule in self:
            field_types = TRANSFORM_FIELD_TYPES[rule.transformation]
            if rule.field_id.ttype not in field_types:
                raise ValidationError(
                    self.env._(
                        "Field rule for '%(field)s': the transformation "
                        "'%(transformation)s' needs a field of type %(types)s, "
                        "not %(type)s.",
                        field=rule.field_id.name,
                        transformation=rule.transformation,
                        types=", ".join(field_types),
                        type=rule.field_id.ttype,
                    )
                )
            if rule.transformation == TRANSFORM_PERSON_NAME and not rule.crm_property_2:
                raise ValidationError(
                    self.env._(
                        "Field rule for '%(field)s': the person name transformation "
                        "needs the second CRM property that holds the last name.",
                        field=rule.field_id.name,
                    )
                )
            if (
                rule.transformation == TRANSFORM_COUNTRY
                and rule.field_id.relation != "res.country"
            ):
                raise ValidationError(
                    self.env._(
                        "Field rule for '%(field)s': the country transformation "
                        "needs a link to countries.",
                        field=rule.field_id.name,
                    )
                )
            if (
                rule.transformation == TRANSFORM_PARENT
                and rule.field_id.name != "parent_id"
            ):
                raise ValidationError(
                    self.env._(
                        "Field rule for '%(field)s': the parent company "
                        "transformation works only on the field 'parent_id'.",
                        field=rule.field_id.name,
                    )
                )

    @api.model
    def _get_rules(self, backend, object_type):
        """Return the active rules of a backend for one object type."""
        return self.search(
            [("backend_id", "=", backend.id), ("object_type", "=", object_type)]
        )

    @api.model
    def _create_default_rules(self, backends):
        """Create the HubSpot default rules that the backends do not have yet."""
        field_ids = self._partner_field_ids()
        vals_list = []
        for backend in backends:
            existing = {
                (rule.object_type, rule.odoo_field)
                for rule in backend.with_context(active_test=False).field_rule_ids
            }
            for object_type, defaults in DEFAULT_RULES.items():
                for sequence, default in enumerate(defaults, start=1):
                    if (object_type, default[0]) in existing:
                        continue
                    vals_list.append(
                        self._prepare_default_rule_vals(
                            backend, object_type, sequence, default, field_ids
                        )
                    )
        rules = self.create(vals_list)
        _logger.info("Created %s default field rules", len(rules))
        return rules

    @api.model
    def _prepare_default_rule_vals(
        self, backend, object_type, sequence, default, field_ids
    ):
        (
            odoo_field,
            crm_property,
            transformation,
            owner,
            direction,
            required,
            crm_property_2,
        ) = default
        return {
            "backend_id": backend.id,
            "object_type": object_type,
            "sequence": sequence * 10,
            "field_id": field_ids[odoo_field],
            "crm_property": crm_property,
            "crm_property_2": crm_property_2 or False,
            "transformation": transformation,
            "owner": owner,
            "direction": direction,
            "required": required,
        }

    @api.model
    def _partner_field_ids(self):
        names = {
            default[0] for defaults in DEFAULT_RULES.values() for default in defaults
        }
        partner_fields = (
            self.env["ir.model.fields"]
            .sudo()
            .search([("model", "=", "res.partner"), ("name", "in", sorted(names))])
        )
        return {field.name: field.id for field in partner_fields}

    def _to_core_rule(self):
        """Return this rule as the plain sync_core FieldRule used by mapping."""
        self.ensure_one()
        return mapping.FieldRule(
            odoo_field=self.odoo_field,
            crm_property=self.crm_property,
            owner=self.owner,
            direction=self.direction,
            transform=self.transformation,
            object_type=self.object_type,
            crm_property_2=self.crm_property_2 or None,
        )

    def _crm_properties(self):
        """Return the CRM property names these rules read, in rule order."""
        properties = []
        for rule in self:
            if rule.transformation == TRANSFORM_PARENT:
                continue
            properties.append(rule.crm_property)
            if rule.crm_property_2:
                properties.append(rule.crm_property_2)
        return properties

    def _allows_import(self):
        self.ensure_one()
        return self.direction in (DIRECTION_BOTH, DIRECTION_IMPORT)

    def _allows_export(self):
        self.ensure_one()
        return self.direction in (DIRECTION_BOTH, DIRECTION_EXPORT)
