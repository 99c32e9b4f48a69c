"""HubSpot custom properties: read a definition and create a missing text property.

Endpoints: ``GET /crm/v3/properties/{type}/{name}`` and
``POST /crm/v3/properties/{type}``. Reading needs ``crm.schemas.{type}.read``
(``crm.objects.{type}.read`` is also accepted); creating needs
``crm.schemas.{type}.write``. A custom property must exist before a record
can take a value for it.
"""

from .exceptions import (
    CrmConflictError,
    CrmNotFoundError,
    CrmPermissionError,
    CrmValidationError,
)
from .hubspot_http import path_segment

# Default property group of each engine object type, as HubSpot names it.
PROPERTY_GROUPS = {
    "company": "companyinformation",
    "contact": "contactinformation",
    "deal": "dealinformation",
    "line_item": "lineiteminformation",
    "product": "productinformation",
}

# HubSpot's property type and field type of a single-line text property.
TEXT_TYPE = "string"
TEXT_FIELD_TYPE = "text"


def read_property(call, crm_type, name):
    """Return a property's definition (HubSpot's Property JSON), or None if missing.

    ``call`` sends one API request, like ``HubSpotTransport.request``. Raises
    CrmPermissionError in plain words when the token may not read definitions.
    """
    try:
        return call("GET", f"/crm/v3/properties/{crm_type}/{path_segment(name)}")
    except CrmNotFoundError:
        return None
    except CrmPermissionError as error:
        scopes = error.missing_scopes or (f"crm.schemas.{crm_type}.read",)
        raise CrmPermissionError(
            f"The token may not read the property definitions of {crm_type}: add "
            f"scope {' or '.join(scopes)} to the private app.",
            missing_scopes=scopes,
        ) from error


def check_text_property(definition, crm_type, name):
    """Raise CrmValidationError unless an existing property stores text."""
    value_type = definition.get("type")
    if value_type != TEXT_TYPE:
        raise CrmValidationError(
            f"Property {name} on {crm_type} has type {value_type}, but the sync "
            f"writes text to it: replace it with a single-line text property "
            f"named {name}.",
            property_names=(name,),
        )


def create_text_property(call, object_type, crm_type, name, label, unique):
    """Create a single-line text property and return True, or False if it exists.

    A 409 means another client created the property since it was read, which
    is the outcome this call wants. Raises CrmPermissionError in plain words
    when the token may not create properties.
    """
    body = {
        "name": name,
        "label": label,
        "type": TEXT_TYPE,
        "fieldType": TEXT_FIELD_TYPE,
        "groupName": PROPERTY_GROUPS[object_type],
        "hasUniqueValue": bool(unique),
    }
    try:
        call("POST", f"/crm/v3/properties/{crm_type}", json_body=body)
    except CrmConflictError:
        return False
    except CrmPermissionError as error:
        raise cannot_create_error(crm_type, name, error) from error
    return True


def check_property_create(call, crm_type, name):
    """Raise CrmPermissionError unless the token may create properties of a type.

    The check sends a create with an empty body, which the CRM rejects with a
    400 after the scope check, so it creates nothing.
    """
    # NOTE: a 400 counts as permission granted, which holds when the CRM checks
    # scopes before the body, as the sandbox does. That HubSpot does so too is
    # assumed, not verified.
    try:
        call("POST", f"/crm/v3/properties/{crm_type}", json_body={})
    except CrmValidationError:
        return
    except CrmPermissionError as error:
        raise cannot_create_error(crm_type, name, error) from error


def cannot_create_error(crm_type, name, error):
    """Return the CrmPermissionError for a missing property the token may not create."""
    scopes = error.missing_scopes or (f"crm.schemas.{crm_type}.write",)
    return CrmPermissionError(
        f"Property {name} is missing on {crm_type} and the token may not create it: "
        f"add scope {' or '.join(scopes)} or create a single-line text property "
        f"named {name}.",
        missing_scopes=scopes,
    )
