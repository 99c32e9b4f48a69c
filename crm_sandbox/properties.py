"""CRM v3 Properties API of the sandbox: list, read and create property definitions.

Bodies follow the Property model of HubSpot's OpenAPI spec, as generated in
hubspot-api-client v12 (``hubspot.crm.properties.models.ModelProperty``).

Scopes: a read needs ``crm.schemas.{type}.read`` or ``crm.objects.{type}.read``
(HubSpot's v3 properties reference accepts any one of a list that contains
both). A create needs ``crm.schemas.{type}.write``, the scope HubSpot's
reference names for creating company and contact properties.
"""

import logging
import re

from . import schema
from .errors import ApiError, missing_scopes, validation_error
from .protocol import Response
from .timeutil import to_iso

_logger = logging.getLogger(__name__)

PROPERTIES = "/crm/v3/properties/{object_type}"

# Field types the create call accepts for each property type, and the one a
# built-in property is presented with. HubSpot also has the "date" and "bool"
# property types, which the sandbox does not store.
FIELD_TYPES = {
    schema.STRING: ("text", "textarea", "phonenumber", "html", "file"),
    schema.NUMBER: ("number",),
    schema.DATETIME: ("date",),
    schema.ENUMERATION: ("select", "radio", "checkbox", "booleancheckbox"),
}
DEFAULT_FIELD_TYPES = {
    value_type: field_types[0] for value_type, field_types in FIELD_TYPES.items()
}

# NOTE: HubSpot's settings page requires internal names of lowercase letters,
# digits and underscores that start with a letter. The API's own rule and
# length limit are not documented, so the 100-character limit is a guess.
_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
_REQUIRED_FIELDS = ("name", "label", "type", "fieldType", "groupName")


def present(definition, object_type):
    """Return a property definition as HubSpot's Property JSON."""
    read_only_value = definition.read_only or definition.calculated
    body = {
        "name": definition.name,
        "label": definition.label or _label_from_name(definition.name),
        "type": definition.type,
        "fieldType": definition.field_type or DEFAULT_FIELD_TYPES[definition.type],
        "description": definition.description,
        "groupName": definition.group_name or object_type.property_group,
        "options": _present_options(definition),
        "displayOrder": -1,
        "calculated": definition.calculated,
        "externalOptions": False,
        "hasUniqueValue": definition.unique,
        "hidden": False,
        "formField": False,
        "archived": False,
        "modificationMetadata": {
            "archivable": not definition.hubspot_defined,
            "readOnlyDefinition": definition.hubspot_defined,
            "readOnlyValue": read_only_value,
        },
    }
    if definition.hubspot_defined:
        body["hubspotDefined"] = True
    if definition.created_at is not None:
        body["createdAt"] = to_iso(definition.created_at)
        body["updatedAt"] = to_iso(definition.created_at)
    return body


def _label_from_name(name):
    # NOTE: built-in properties get a label made from their name, not the
    # label HubSpot shows for them.
    words = name.removeprefix("hs_").replace("_", " ")
    return words[:1].upper() + words[1:]


def _present_options(definition):
    labels = definition.option_labels or definition.options
    return [
        {"label": label, "value": value, "displayOrder": order, "hidden": False}
        for order, (value, label) in enumerate(
            zip(definition.options, labels, strict=True)
        )
    ]


def property_not_found(object_type, name):
    return ApiError(
        404,
        f"Unable to find property {name} on object type {object_type.name}.",
        "OBJECT_NOT_FOUND",
    )


def property_exists(object_type, name):
    return ApiError(
        409,
        f"A property named {name} already exists on object type {object_type.name}.",
        "CONFLICT",
    )


class PropertiesApi:
    """The Properties endpoints, bound to one sandbox's store."""

    def __init__(self, store):
        self.store = store

    def add_routes(self, router):
        router.add("GET", PROPERTIES, self.list_properties)
        router.add("POST", PROPERTIES, self.create_property)
        router.add("GET", PROPERTIES + "/{property_name}", self.get_property)

    def _object_type(self, request, name, write=False):
        """Return the ObjectType for a path name after checking the token's scopes."""
        object_type = self.store.object_type(name)
        if write:
            allowed = [object_type.schema_write_scope]
        else:
            allowed = [object_type.schema_read_scope, object_type.read_scope]
        if not request.token.scopes.intersection(allowed):
            raise missing_scopes(allowed)
        return object_type

    def list_properties(self, request, object_type):
        object_type = self._object_type(request, object_type)
        # The sandbox cannot archive properties, so an archived listing is empty.
        if request.param_bool("archived"):
            return Response(200, {"results": []})
        with self.store.lock:
            results = [
                present(definition, object_type)
                for definition in object_type.properties.values()
            ]
        return Response(200, {"results": results})

    def get_property(self, request, object_type, property_name):
        object_type = self._object_type(request, object_type)
        with self.store.lock:
            definition = object_type.properties.get(property_name)
            if definition is None or request.param_bool("archived"):
                raise property_not_found(object_type, property_name)
            return Response(200, present(definition, object_type))

    def create_property(self, request, object_type):
        object_type = self._object_type(request, object_type, write=True)
        fields = parse_property_create(request.json_object(), object_type)
        with self.store.lock:
            if fields["name"] in object_type.properties:
                raise property_exists(object_type, fields["name"])
            definition = self.store.define_property(object_type.name, **fields)
        _logger.info(
            "Property %s created on %s through the API",
            definition.name,
            object_type.name,
        )
        return Response(201, present(definition, object_type))


def parse_property_create(body, object_type):
    """Return define_property() arguments from a PropertyCreate body, or raise a 400."""
    missing = [name for name in _REQUIRED_FIELDS if not body.get(name)]
    if missing:
        raise validation_error(
            f"Missing required fields: {', '.join(missing)}.",
            errors=[{"message": f"{name} is required", "in": name} for name in missing],
        )
    name = str(body["name"])
    if not _PROPERTY_NAME.match(name):
        raise validation_error(
            f"Property name {name!r} is not valid: use lowercase letters, digits "
            "and underscores, starting with a letter.",
            errors=[{"message": "invalid property name", "in": "name"}],
        )

    value_type = str(body["type"])
    field_type = str(body["fieldType"])
    group_name = str(body["groupName"])
    if value_type not in FIELD_TYPES:
        raise validation_error(
            f"Property type {value_type!r} is not supported by the sandbox: use one "
            f"of {', '.join(FIELD_TYPES)}.",
            errors=[{"message": "unsupported property type", "in": "type"}],
        )
    if field_type not in FIELD_TYPES[value_type]:
        raise validation_error(
            f"Field type {field_type!r} does not fit property type {value_type}: use "
            f"one of {', '.join(FIELD_TYPES[value_type])}.",
            errors=[{"message": "field type does not fit the type", "in": "fieldType"}],
        )
    if group_name != object_type.property_group:
        raise validation_error(
            f"Property group {group_name} does not exist on "
            f"{object_type.name}: the sandbox has only {object_type.property_group}.",
            errors=[{"message": "unknown property group", "in": "groupName"}],
        )

    unique = body.get("hasUniqueValue", False)
    if not isinstance(unique, bool):
        raise validation_error(
            "hasUniqueValue must be true or false.",
            errors=[{"message": "not a boolean", "in": "hasUniqueValue"}],
        )
    options, option_labels = _parse_options(body.get("options"), value_type)
    return {
        "name": name,
        "value_type": value_type,
        "options": options,
        "option_labels": option_labels,
        "unique": unique,
        "label": str(body["label"]),
        "field_type": field_type,
        "group_name": group_name,
        "description": str(body.get("description") or ""),
    }


def _parse_options(options, value_type):
    """Return (values, labels) of an enumeration's options, or empty tuples."""
    if value_type != schema.ENUMERATION:
        return (), ()
    valid = isinstance(options, list) and all(
        isinstance(option, dict) and option.get("value") and option.get("label")
        for option in options
    )
    if not options or not valid:
        raise validation_error(
            "An enumeration property needs options, each with a label and a value.",
            errors=[{"message": "options are required", "in": "options"}],
        )
    values = tuple(str(option["value"]) for option in options)
    labels = tuple(str(option["label"]) for option in options)
    return values, labels
