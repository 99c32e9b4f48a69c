"""Object types, property definitions, scopes and association types of the sandbox.

The names follow HubSpot's CRM v3 API: object types in plural (``companies``),
HubSpot's internal property names, granular private-app scopes
(``crm.objects.contacts.read``, ``crm.schemas.contacts.write``) and the
HUBSPOT_DEFINED association type ids of the associations v4 API.
"""

from dataclasses import dataclass, field
from datetime import datetime

# Property value types. Every value is stored and returned as a string, like
# HubSpot does; the type only decides validation, comparison and sorting.
STRING = "string"
NUMBER = "number"
DATETIME = "datetime"
ENUMERATION = "enumeration"


@dataclass(frozen=True)
class PropertyDefinition:
    """One property of an object type.

    The fields after ``calculated`` describe the property in the Properties
    API. Empty ones are derived when the property is presented (see
    ``crm_sandbox.properties``). ``option_labels`` runs parallel to ``options``.
    """

    name: str
    type: str = STRING
    options: tuple = ()
    read_only: bool = False
    unique: bool = False
    searchable: bool = False
    calculated: bool = False
    label: str = ""
    field_type: str = ""
    group_name: str = ""
    description: str = ""
    option_labels: tuple = ()
    hubspot_defined: bool = True
    created_at: datetime | None = None


@dataclass
class ObjectType:
    """One CRM object type: its names, default properties and property schema."""

    name: str
    singular: str
    type_id: str
    id_base: int
    default_properties: tuple
    properties: dict = field(default_factory=dict)

    @property
    def read_scope(self):
        return f"crm.objects.{self.name}.read"

    @property
    def write_scope(self):
        return f"crm.objects.{self.name}.write"

    @property
    def schema_read_scope(self):
        return f"crm.schemas.{self.name}.read"

    @property
    def schema_write_scope(self):
        return f"crm.schemas.{self.name}.write"

    @property
    def property_group(self):
        """Return the name of the type's default property group."""
        return PROPERTY_GROUPS[self.name]


# The default property group of each object type, as HubSpot names it. The
# sandbox has no other groups.
PROPERTY_GROUPS = {
    "companies": "companyinformation",
    "contacts": "contactinformation",
    "deals": "dealinformation",
    "line_items": "lineiteminformation",
    "products": "productinformation",
}

# Properties that the sandbox maintains itself on every object type.
SYSTEM_PROPERTIES = ("hs_object_id", "createdate", "hs_lastmodifieddate")

LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
DEAL_PIPELINES = ("default",)
DEAL_STAGES = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
)


def _system_definitions(extra_read_only=()):
    names = SYSTEM_PROPERTIES + tuple(extra_read_only)
    definitions = [
        PropertyDefinition("hs_object_id", NUMBER, read_only=True, unique=True),
        PropertyDefinition("createdate", DATETIME),
        PropertyDefinition("hs_lastmodifieddate", DATETIME, read_only=True),
        PropertyDefinition("hs_merged_object_ids", read_only=True),
        PropertyDefinition("hubspot_owner_id"),
    ]
    definitions += [
        PropertyDefinition(name, DATETIME, read_only=True)
        for name in names
        if name not in SYSTEM_PROPERTIES
    ]
    return definitions


def _build(name, singular, type_id, id_base, defaults, definitions):
    object_type = ObjectType(name, singular, type_id, id_base, tuple(defaults))
    for definition in definitions:
        object_type.properties[definition.name] = definition
    return object_type


def _string_props(names, searchable=()):
    return [PropertyDefinition(n, searchable=n in searchable) for n in names]


def build_object_types():
    """Return a fresh {name: ObjectType} map, so each store can add properties."""
    companies = _build(
        "companies",
        "company",
        "0-2",
        20_000_000_001,
        ("name", "domain", "createdate", "hs_lastmodifieddate", "hs_object_id"),
        _system_definitions()
        + _string_props(
            (
                "name",
                "domain",
                "website",
                "phone",
                "address",
                "address2",
                "city",
                "state",
                "zip",
                "country",
                "industry",
                "description",
                "founded_year",
                "type",
                # Custom properties a UK portal would create for its sync.
                "company_number",
                "vat_number",
            ),
            searchable=("name", "domain", "website", "phone"),
        )
        + [
            PropertyDefinition("numberofemployees", NUMBER),
            PropertyDefinition("annualrevenue", NUMBER),
            PropertyDefinition("lifecyclestage", ENUMERATION, LIFECYCLE_STAGES),
        ],
    )
    contacts = _build(
        "contacts",
        "contact",
        "0-1",
        10_000_000_001,
        (
            "firstname",
            "lastname",
            "email",
            "createdate",
            "lastmodifieddate",
            "hs_object_id",
        ),
        _system_definitions(extra_read_only=("lastmodifieddate",))
        + _string_props(
            (
                "firstname",
                "lastname",
                "email",
                "phone",
                "mobilephone",
                "fax",
                "jobtitle",
                "company",
                "address",
                "city",
                "state",
                "zip",
                "country",
                "website",
            ),
            searchable=(
                "firstname",
                "lastname",
                "email",
                "phone",
                "mobilephone",
                "fax",
                "company",
            ),
        )
        + [PropertyDefinition("lifecyclestage", ENUMERATION, LIFECYCLE_STAGES)],
    )
    # Email is the contacts' unique property: HubSpot rejects a second contact
    # with the same address and accepts it as idProperty.
    contacts.properties["email"] = PropertyDefinition(
        "email", unique=True, searchable=True
    )
    deals = _build(
        "deals",
        "deal",
        "0-3",
        30_000_000_001,
        (
            "dealname",
            "amount",
            "closedate",
            "pipeline",
            "dealstage",
            "createdate",
            "hs_lastmodifieddate",
            "hs_object_id",
        ),
        _system_definitions()
        + _string_props(
            ("dealname", "dealtype", "description", "deal_currency_code"),
            searchable=("dealname", "description", "dealtype"),
        )
        + [
            PropertyDefinition("amount", NUMBER),
            PropertyDefinition("closedate", DATETIME),
            PropertyDefinition(
                "pipeline", ENUMERATION, DEAL_PIPELINES, searchable=True
            ),
            PropertyDefinition("dealstage", ENUMERATION, DEAL_STAGES, searchable=True),
        ],
    )
    line_items = _build(
        "line_items",
        "line_item",
        "0-8",
        40_000_000_001,
        (
            "quantity",
            "amount",
            "price",
            "createdate",
            "hs_lastmodifieddate",
            "hs_object_id",
        ),
        _system_definitions()
        + _string_props(
            (
                "name",
                "description",
                "hs_sku",
                "hs_product_id",
                "hs_line_item_currency_code",
            ),
            searchable=("name", "description", "hs_sku"),
        )
        + [
            PropertyDefinition("quantity", NUMBER),
            PropertyDefinition("price", NUMBER),
            PropertyDefinition("discount", NUMBER),
            PropertyDefinition("hs_discount_percentage", NUMBER),
            # HubSpot calculates a line item's amount from price, quantity and
            # discount, and rejects writes to it.
            PropertyDefinition("amount", NUMBER, read_only=True, calculated=True),
        ],
    )
    products = _build(
        "products",
        "product",
        "0-7",
        50_000_000_001,
        (
            "name",
            "description",
            "price",
            "createdate",
            "hs_lastmodifieddate",
            "hs_object_id",
        ),
        _system_definitions()
        + _string_props(
            ("name", "description", "hs_sku", "hs_recurring_billing_period"),
            searchable=("name", "description", "hs_sku"),
        )
        + [
            PropertyDefinition("price", NUMBER, searchable=True),
            PropertyDefinition("hs_cost_of_goods_sold", NUMBER),
        ],
    )
    return {
        object_type.name: object_type
        for object_type in (companies, contacts, deals, line_items, products)
    }


# Names accepted in URLs for each object type, as HubSpot accepts them.
_ALIASES = {
    "companies": ("companies", "company", "0-2"),
    "contacts": ("contacts", "contact", "0-1"),
    "deals": ("deals", "deal", "0-3"),
    "line_items": ("line_items", "line_item", "0-8"),
    "products": ("products", "product", "0-7"),
}
OBJECT_TYPE_ALIASES = {
    alias: name for name, aliases in _ALIASES.items() for alias in aliases
}
OBJECT_TYPE_NAMES = tuple(_ALIASES)


def all_scopes():
    """Return every scope the sandbox checks; the default grant of a token."""
    scopes = []
    for name in OBJECT_TYPE_NAMES:
        scopes += [f"crm.objects.{name}.read", f"crm.objects.{name}.write"]
        scopes += [f"crm.schemas.{name}.read", f"crm.schemas.{name}.write"]
    return scopes


@dataclass(frozen=True)
class AssociationType:
    """One HUBSPOT_DEFINED association type in one direction."""

    type_id: int
    from_type: str
    to_type: str
    label: str | None
    # Name used in the v3 object API's ``associations`` block.
    v3_name: str
    primary: bool = False
    # Type id of the same association seen from the other record.
    reverse_id: int = 0


HUBSPOT_DEFINED = "HUBSPOT_DEFINED"


def _pair(forward, reverse, label=None, primary=False):
    """Return both directions of one association type.

    ``forward`` and ``reverse`` are (type_id, from_type, to_type, v3_name).
    """
    return [
        AssociationType(
            forward[0], forward[1], forward[2], label, forward[3], primary, reverse[0]
        ),
        AssociationType(
            reverse[0], reverse[1], reverse[2], label, reverse[3], primary, forward[0]
        ),
    ]


# Type ids from HubSpot's associations v4 reference (HUBSPOT_DEFINED category).
ASSOCIATION_TYPES = {
    association.type_id: association
    for association in (
        _pair(
            (1, "contacts", "companies", "contact_to_company"),
            (2, "companies", "contacts", "company_to_contact"),
            label="Primary",
            primary=True,
        )
        + _pair(
            (279, "contacts", "companies", "contact_to_company_unlabeled"),
            (280, "companies", "contacts", "company_to_contact_unlabeled"),
        )
        + _pair(
            (3, "deals", "contacts", "deal_to_contact"),
            (4, "contacts", "deals", "contact_to_deal"),
        )
        + _pair(
            (5, "deals", "companies", "deal_to_company"),
            (6, "companies", "deals", "company_to_deal"),
            label="Primary",
            primary=True,
        )
        + _pair(
            (341, "deals", "companies", "deal_to_company_unlabeled"),
            (342, "companies", "deals", "company_to_deal_unlabeled"),
        )
        + _pair(
            (19, "deals", "line_items", "deal_to_line_item"),
            (20, "line_items", "deals", "line_item_to_deal"),
        )
    )
}


def default_association_type(from_type, to_type):
    """Return the unlabeled association type between two object types, or None."""
    for association in ASSOCIATION_TYPES.values():
        if (
            association.from_type == from_type
            and association.to_type == to_type
            and not association.primary
        ):
            return association
    return None


def association_pair_supported(from_type, to_type):
    return default_association_type(from_type, to_type) is not None
