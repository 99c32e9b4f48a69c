"""Handlers of the HubSpot CRM endpoints the sandbox serves.

Objects (CRM v3): list, read, create, update, archive, batch read/create/
update/archive, search and merge. Associations (v4): list, create (labelled or
default), remove, and the batch read/create/associate-default/archive calls.
Properties (CRM v3): list, read and create, handled in ``properties``.
Response bodies follow the models of HubSpot's OpenAPI specs, as generated in
the hubspot-api-client package (SimplePublicObject, BatchResponse..., and so on).
"""

import logging
from datetime import UTC, datetime

from . import schema, search
from .errors import ApiError, missing_scopes, validation_error
from .properties import PropertiesApi
from .protocol import Response, Router
from .store import ChangeSource
from .timeutil import to_iso

_logger = logging.getLogger(__name__)

BATCH_MAX_INPUTS = 100
LIST_MAX_LIMIT = 100
LIST_DEFAULT_LIMIT = 10
# HubSpot lowers the page size when property history is requested.
LIST_MAX_LIMIT_WITH_HISTORY = 50
ASSOCIATIONS_MAX_LIMIT = 500

OBJECTS = "/crm/v3/objects/{object_type}"
ASSOCIATIONS = "/crm/v4/objects/{object_type}/{object_id}/associations"
ASSOCIATION_BATCH = "/crm/v4/associations/{from_type}/{to_type}/batch"


def missing_scope(scope):
    return missing_scopes([scope])


class CrmApi:
    """The CRM endpoints, bound to one sandbox's store."""

    def __init__(self, store):
        self.store = store
        self.router = Router()
        self._add_routes()

    def _add_routes(self):
        add = self.router.add
        add("GET", OBJECTS, self.list_objects)
        add("POST", OBJECTS, self.create_object)
        add("POST", OBJECTS + "/search", self.search_objects)
        add("POST", OBJECTS + "/merge", self.merge_objects)
        add("POST", OBJECTS + "/batch/read", self.batch_read)
        add("POST", OBJECTS + "/batch/create", self.batch_create)
        add("POST", OBJECTS + "/batch/update", self.batch_update)
        add("POST", OBJECTS + "/batch/archive", self.batch_archive)
        add("GET", OBJECTS + "/{object_id}", self.get_object)
        add("PATCH", OBJECTS + "/{object_id}", self.update_object)
        add("DELETE", OBJECTS + "/{object_id}", self.archive_object)
        add("GET", ASSOCIATIONS + "/{to_type}", self.list_associations)
        add(
            "PUT",
            ASSOCIATIONS + "/default/{to_type}/{to_id}",
            self.create_default_association,
        )
        add("PUT", ASSOCIATIONS + "/{to_type}/{to_id}", self.create_association)
        add("DELETE", ASSOCIATIONS + "/{to_type}/{to_id}", self.delete_association)
        add("POST", ASSOCIATION_BATCH + "/read", self.batch_read_associations)
        add("POST", ASSOCIATION_BATCH + "/create", self.batch_create_associations)
        add(
            "POST",
            ASSOCIATION_BATCH + "/associate/default",
            self.batch_default_associations,
        )
        add("POST", ASSOCIATION_BATCH + "/archive", self.batch_archive_associations)
        PropertiesApi(self.store).add_routes(self.router)

    def handle(self, request):
        handler, parameters = self.router.resolve(request.method, request.path)
        return handler(request, **parameters)

    # -- helpers -------------------------------------------------------

    def _object_type(self, request, name, write=False):
        """Return the ObjectType for a path name after checking the token's scope."""
        object_type = self.store.object_type(name)
        scope = object_type.write_scope if write else object_type.read_scope
        if scope not in request.token.scopes:
            raise missing_scope(scope)
        return object_type

    @staticmethod
    def _source(request):
        """Changes made with an app's token are INTEGRATION changes by that app."""
        return ChangeSource("INTEGRATION", str(request.token.app_id))

    @staticmethod
    def _inputs(body):
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            raise validation_error('The request body needs an "inputs" list.')
        if len(inputs) > BATCH_MAX_INPUTS:
            raise validation_error(
                f"Too many inputs: {len(inputs)}, "
                f"a batch takes at most {BATCH_MAX_INPUTS}."
            )
        return inputs

    def present(
        self, record, object_type, properties=None, with_history=None, associations=None
    ):
        """Return a record as SimplePublicObject(WithAssociations), like HubSpot.

        Without ``properties`` the type's default properties are returned; with
        them, the requested ones (null when empty) plus the system properties.
        Unknown names are ignored.
        """
        values = record.properties()
        if properties:
            names = [
                n for n in properties if n in object_type.properties or n in values
            ]
            names += [n for n in object_type.default_properties if n in _SYSTEM_NAMES]
        else:
            names = list(object_type.default_properties)
        data = {
            "id": record.id,
            "properties": {name: values.get(name) for name in dict.fromkeys(names)},
            "createdAt": to_iso(record.created_at),
            "updatedAt": to_iso(record.updated_at),
            "archived": record.archived,
        }
        if record.archived_at is not None:
            data["archivedAt"] = to_iso(record.archived_at)
        if with_history:
            data["propertiesWithHistory"] = {
                name: [entry.as_json() for entry in record.history.get(name, [])]
                for name in with_history
                if name in object_type.properties
            }
        if associations:
            data["associations"] = self._v3_associations(record, associations)
        return data

    def _v3_associations(self, record, to_types):
        block = {}
        for name in to_types:
            to_name = schema.OBJECT_TYPE_ALIASES.get(name.lower())
            if to_name is None or not schema.association_pair_supported(
                record.object_type, to_name
            ):
                continue
            results = [
                {"id": to_id, "type": association.v3_name}
                for to_id, types in self.store.associations_of(
                    record.object_type, record.id, to_name
                )
                for association in types
            ]
            if results:
                block[to_name] = {"results": results}
        return block

    @staticmethod
    def _batch_body(results, errors, started_at):
        body = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started_at,
            "completedAt": to_iso(datetime.now(UTC)),
        }
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = errors
        return body

    # -- objects -------------------------------------------------------

    def list_objects(self, request, object_type):
        object_type = self._object_type(request, object_type)
        with_history = request.param_list("propertiesWithHistory")
        maximum = LIST_MAX_LIMIT_WITH_HISTORY if with_history else LIST_MAX_LIMIT
        # NOTE: a limit above the maximum is lowered rather than rejected; which
        # of the two HubSpot does for list endpoints is not documented.
        limit = max(1, min(request.param_int("limit", LIST_DEFAULT_LIMIT), maximum))
        after = request.param("after")
        if after is not None and not after.isdigit():
            raise validation_error(
                f"after must be a paging cursor from paging.next.after, got {after!r}."
            )

        with self.store.lock:
            records = self.store.records(
                object_type.name, archived=request.param_bool("archived")
            )
            if after is not None:
                records = [record for record in records if int(record.id) >= int(after)]
            page, rest = records[:limit], records[limit:]
            results = [
                self.present(
                    record,
                    object_type,
                    request.param_list("properties"),
                    with_history,
                    request.param_list("associations"),
                )
                for record in page
            ]
        body = {"results": results}
        if rest:
            cursor = rest[0].id
            link = f"{request.base_url}{request.path}?after={cursor}"
            body["paging"] = {"next": {"after": cursor, "link": link}}
        return Response(200, body)

    def get_object(self, request, object_type, object_id):
        object_type = self._object_type(request, object_type)
        with self.store.lock:
            record = self.store.require(
                object_type.name,
                object_id,
                archived=request.param_bool("archived"),
                id_property=request.param("idProperty"),
            )
            body = self.present(
                record,
                object_type,
                request.param_list("properties"),
                request.param_list("propertiesWithHistory"),
                request.param_list("associations"),
            )
        return Response(200, body)

    def create_object(self, request, object_type):
        object_type = self._object_type(request, object_type, write=True)
        body = request.json_object()
        with self.store.lock:
            snapshot = self.store.create(
                object_type.name,
                body.get("properties") or {},
                body.get("associations") or [],
                source=self._source(request),
            )
            record = self.store.require(object_type.name, snapshot["id"])
            return Response(201, self._written(record, object_type))

    def _written(self, record, object_type, trace_id=None):
        """Return a written record as HubSpot echoes it: every property with a value."""
        data = self.present(record, object_type, properties=sorted(record.values))
        data["properties"] = {
            k: v for k, v in data["properties"].items() if v is not None
        }
        if trace_id is not None:
            data["objectWriteTraceId"] = trace_id
        return data

    def update_object(self, request, object_type, object_id):
        object_type = self._object_type(request, object_type, write=True)
        body = request.json_object()
        with self.store.lock:
            snapshot = self.store.update(
                object_type.name,
                object_id,
                body.get("properties") or {},
                source=self._source(request),
                id_property=request.param("idProperty"),
            )
            record = self.store.require(object_type.name, snapshot["id"])
            return Response(200, self._written(record, object_type))

    def archive_object(self, request, object_type, object_id):
        object_type = self._object_type(request, object_type, write=True)
        self.store.archive(object_type.name, object_id, source=self._source(request))
        return Response(204)

    def merge_objects(self, request, object_type):
        object_type = self._object_type(request, object_type, write=True)
        body = request.json_object()
        primary_id = body.get("primaryObjectId")
        merged_id = body.get("objectIdToMerge")
        if not primary_id or not merged_id:
            raise validation_error("A merge needs primaryObjectId and objectIdToMerge.")
        with self.store.lock:
            snapshot = self.store.merge(
                object_type.name, primary_id, merged_id, source=self._source(request)
            )
            record = self.store.require(object_type.name, snapshot["id"])
            return Response(200, self._written(record, object_type))

    # -- batch ---------------------------------------------------------

    def batch_read(self, request, object_type):
        object_type = self._object_type(request, object_type)
        body = request.json_object()
        inputs = self._inputs(body)
        started_at = to_iso(datetime.now(UTC))
        id_property = body.get("idProperty")
        results, missing = [], []
        with self.store.lock:
            for item in inputs:
                object_id = str(item.get("id", "")) if isinstance(item, dict) else ""
                record = self.store.find(
                    object_type.name, object_id, id_property=id_property
                )
                if record is None:
                    missing.append(object_id)
                    continue
                results.append(
                    self.present(
                        record,
                        object_type,
                        body.get("properties") or [],
                        body.get("propertiesWithHistory") or [],
                    )
                )
        errors = []
        if missing:
            error = ApiError(
                404,
                f"Could not get some {object_type.name} objects, "
                "they may be deleted or not exist. "
                f"Check that ids are valid numbers: {', '.join(missing)}",
                "OBJECT_NOT_FOUND",
            )
            errors.append(error.standard_error({"ids": missing}))
        status = 207 if errors else 200
        return Response(status, self._batch_body(results, errors, started_at))

    def batch_create(self, request, object_type):
        object_type = self._object_type(request, object_type, write=True)
        inputs = self._inputs(request.json_object())
        started_at = to_iso(datetime.now(UTC))
        results, errors = [], []
        with self.store.lock:
            for item in inputs:
                item = item if isinstance(item, dict) else {}
                trace_id = item.get("objectWriteTraceId")
                try:
                    snapshot = self.store.create(
                        object_type.name,
                        item.get("properties") or {},
                        item.get("associations") or [],
                        source=self._source(request),
                    )
                except ApiError as error:
                    errors.append(error.standard_error(_trace_context(trace_id)))
                    continue
                record = self.store.require(object_type.name, snapshot["id"])
                results.append(self._written(record, object_type, trace_id))
        status = 207 if errors else 201
        return Response(status, self._batch_body(results, errors, started_at))

    def batch_update(self, request, object_type):
        object_type = self._object_type(request, object_type, write=True)
        body = request.json_object()
        inputs = self._inputs(body)
        started_at = to_iso(datetime.now(UTC))
        results, errors = [], []
        with self.store.lock:
            for item in inputs:
                item = item if isinstance(item, dict) else {}
                object_id = str(item.get("id", ""))
                trace_id = item.get("objectWriteTraceId")
                try:
                    snapshot = self.store.update(
                        object_type.name,
                        object_id,
                        item.get("properties") or {},
                        source=self._source(request),
                        id_property=item.get("idProperty") or body.get("idProperty"),
                    )
                except ApiError as error:
                    context = {"ids": [object_id], **_trace_context(trace_id)}
                    errors.append(error.standard_error(context))
                    continue
                record = self.store.require(object_type.name, snapshot["id"])
                results.append(self._written(record, object_type, trace_id))
        status = 207 if errors else 200
        return Response(status, self._batch_body(results, errors, started_at))

    def batch_archive(self, request, object_type):
        object_type = self._object_type(request, object_type, write=True)
        inputs = self._inputs(request.json_object())
        source = self._source(request)
        with self.store.lock:
            for item in inputs:
                if isinstance(item, dict) and item.get("id"):
                    self.store.archive(object_type.name, item["id"], source=source)
        # HubSpot returns 204 whether or not each id existed.
        return Response(204)

    # -- search --------------------------------------------------------

    def search_objects(self, request, object_type):
        object_type = self._object_type(request, object_type)
        if len(request.body.decode("utf-8", "replace")) > search.MAX_BODY_CHARS:
            raise validation_error(
                f"The search request body exceeds {search.MAX_BODY_CHARS} characters."
            )
        body = request.json_object()
        limit, offset = search.parse_paging(body)
        filter_groups = body.get("filterGroups") or []
        # HubSpot also accepts a bare "filters" list (the associations example).
        if body.get("filters"):
            filter_groups = [*filter_groups, {"filters": body["filters"]}]
        search.check_filter_groups(filter_groups)

        with self.store.lock:
            matcher = search.Matcher(
                object_type, filter_groups, body.get("query"), self._associated_ids
            )
            matched = [
                r for r in self.store.records(object_type.name) if matcher.matches(r)
            ]
            ordered = search.sort_records(matched, object_type, body.get("sorts") or [])
            visible = ordered[: search.MAX_RESULTS]
            page = visible[offset : offset + limit]
            results = [
                self.present(r, object_type, body.get("properties") or []) for r in page
            ]

        response = {"total": len(matched), "results": results}
        if offset + limit < len(matched):
            # Past 10,000 the cursor is still returned, as HubSpot returns it,
            # and a request that uses it gets a 400.
            response["paging"] = {"next": {"after": str(offset + limit)}}
        return Response(200, response)

    def _associated_ids(self, record, to_type):
        return {
            to_id
            for to_id, _ in self.store.associations_of(
                record.object_type, record.id, to_type
            )
        }

    # -- associations (v4) ---------------------------------------------

    def _association_types(self, request, from_name, to_name, write=False):
        from_type = self._object_type(request, from_name, write=write)
        to_type = self._object_type(request, to_name)
        if not schema.association_pair_supported(from_type.name, to_type.name):
            raise validation_error(
                f"Associations from {from_type.name} to {to_type.name} "
                "are not supported."
            )
        return from_type, to_type

    @staticmethod
    def _association_specs(types):
        return [
            {"category": schema.HUBSPOT_DEFINED, "typeId": t.type_id, "label": t.label}
            for t in types
        ]

    def list_associations(self, request, object_type, object_id, to_type):
        from_type, to_type = self._association_types(request, object_type, to_type)
        limit = max(
            1,
            min(
                request.param_int("limit", ASSOCIATIONS_MAX_LIMIT),
                ASSOCIATIONS_MAX_LIMIT,
            ),
        )
        offset = request.param_int("after", 0)
        with self.store.lock:
            record = self.store.require(from_type.name, object_id)
            associated = self.store.associations_of(
                from_type.name, record.id, to_type.name
            )
        page = associated[offset : offset + limit]
        body = {
            "results": [
                {
                    "toObjectId": int(to_id),
                    "associationTypes": self._association_specs(types),
                }
                for to_id, types in page
            ]
        }
        if offset + limit < len(associated):
            body["paging"] = {"next": {"after": str(offset + limit)}}
        return Response(200, body)

    def _labels_between(self, from_type, from_id, to_type, to_id, labels):
        return {
            "fromObjectTypeId": from_type.type_id,
            "fromObjectId": int(from_id),
            "toObjectTypeId": to_type.type_id,
            "toObjectId": int(to_id),
            "labels": labels,
        }

    def create_association(self, request, object_type, object_id, to_type, to_id):
        from_type, to_type = self._association_types(
            request, object_type, to_type, write=True
        )
        specs = request.json(default=[])
        type_ids = _type_ids(specs)
        with self.store.lock:
            from_record = self.store.require(from_type.name, object_id)
            to_record = self.store.require(to_type.name, to_id)
            labels = self.store.associate(
                from_type.name,
                from_record.id,
                to_type.name,
                to_record.id,
                type_ids,
                self._source(request),
            )
        return Response(
            200,
            self._labels_between(
                from_type, from_record.id, to_type, to_record.id, labels
            ),
        )

    def create_default_association(
        self, request, object_type, object_id, to_type, to_id
    ):
        from_type, to_type = self._association_types(
            request, object_type, to_type, write=True
        )
        started_at = to_iso(datetime.now(UTC))
        with self.store.lock:
            from_record = self.store.require(from_type.name, object_id)
            to_record = self.store.require(to_type.name, to_id)
            self.store.associate(
                from_type.name,
                from_record.id,
                to_type.name,
                to_record.id,
                None,
                self._source(request),
            )
        result = self._default_result(from_type, from_record.id, to_type, to_record.id)
        return Response(200, self._batch_body([result], [], started_at))

    @staticmethod
    def _default_result(from_type, from_id, to_type, to_id):
        default = schema.default_association_type(from_type.name, to_type.name)
        return {
            "from": {"id": str(from_id)},
            "to": {"id": str(to_id)},
            "associationSpec": {
                "associationCategory": schema.HUBSPOT_DEFINED,
                "associationTypeId": default.type_id,
            },
        }

    def delete_association(self, request, object_type, object_id, to_type, to_id):
        from_type, to_type = self._association_types(
            request, object_type, to_type, write=True
        )
        self.store.unassociate(
            from_type.name, object_id, to_type.name, to_id, self._source(request)
        )
        return Response(204)

    def batch_read_associations(self, request, from_type, to_type):
        from_type, to_type = self._association_types(request, from_type, to_type)
        inputs = self._inputs(request.json_object())
        started_at = to_iso(datetime.now(UTC))
        results, errors = [], []
        with self.store.lock:
            for item in inputs:
                object_id = str(item.get("id", "")) if isinstance(item, dict) else ""
                record = self.store.find(from_type.name, object_id)
                associated = (
                    self.store.associations_of(from_type.name, record.id, to_type.name)
                    if record
                    else []
                )
                if not associated:
                    errors.append(_no_associations_error(from_type, to_type, object_id))
                    continue
                results.append(
                    {
                        "from": {"id": record.id},
                        "to": [
                            {
                                "toObjectId": int(to_id),
                                "associationTypes": self._association_specs(types),
                            }
                            for to_id, types in associated
                        ],
                    }
                )
        status = 207 if errors else 200
        return Response(status, self._batch_body(results, errors, started_at))

    def batch_create_associations(self, request, from_type, to_type):
        def associate(from_type, from_id, to_type, to_id, item, source):
            labels = self.store.associate(
                from_type.name,
                from_id,
                to_type.name,
                to_id,
                _type_ids(item.get("types") or []),
                source,
            )
            return self._labels_between(from_type, from_id, to_type, to_id, labels)

        return self._batch_associate(request, from_type, to_type, associate)

    def batch_default_associations(self, request, from_type, to_type):
        def associate(from_type, from_id, to_type, to_id, item, source):
            self.store.associate(
                from_type.name, from_id, to_type.name, to_id, None, source
            )
            return self._default_result(from_type, from_id, to_type, to_id)

        return self._batch_associate(request, from_type, to_type, associate)

    def _batch_associate(self, request, from_type, to_type, associate):
        """Run ``associate`` for each input pair; return 201, or 207 with errors."""
        from_type, to_type = self._association_types(
            request, from_type, to_type, write=True
        )
        inputs = self._inputs(request.json_object())
        started_at = to_iso(datetime.now(UTC))
        source = self._source(request)
        results, errors = [], []
        with self.store.lock:
            for item in inputs:
                try:
                    from_id, to_id = _pair_ids(item)
                    result = associate(from_type, from_id, to_type, to_id, item, source)
                except ApiError as error:
                    errors.append(error.standard_error())
                    continue
                results.append(result)
        status = 207 if errors else 201
        return Response(status, self._batch_body(results, errors, started_at))

    def batch_archive_associations(self, request, from_type, to_type):
        from_type, to_type = self._association_types(
            request, from_type, to_type, write=True
        )
        inputs = self._inputs(request.json_object())
        source = self._source(request)
        with self.store.lock:
            for item in inputs:
                if not isinstance(item, dict) or not isinstance(item.get("from"), dict):
                    raise validation_error(
                        'Each input needs "from": {"id"} and "to": [{"id"}].'
                    )
                for target in item.get("to") or []:
                    self.store.unassociate(
                        from_type.name,
                        item["from"].get("id"),
                        to_type.name,
                        target.get("id"),
                        source,
                    )
        return Response(204)


_SYSTEM_NAMES = (
    "hs_object_id",
    "createdate",
    "hs_lastmodifieddate",
    "lastmodifieddate",
)


def _trace_context(trace_id):
    return {"objectWriteTraceId": [str(trace_id)]} if trace_id is not None else {}


def _type_ids(specs):
    """Return association type ids from a list of AssociationSpec objects."""
    if not isinstance(specs, list):
        raise validation_error(
            "Association types must be a list of AssociationSpec objects."
        )
    type_ids = []
    for spec in specs:
        try:
            category = spec["associationCategory"]
            type_id = int(spec["associationTypeId"])
        except (KeyError, TypeError, ValueError):
            raise validation_error(
                "Each association type needs "
                '"associationCategory" and "associationTypeId".'
            ) from None
        if category != schema.HUBSPOT_DEFINED:
            raise validation_error(
                f"Association category {category} is not available in the sandbox: "
                "only HUBSPOT_DEFINED types exist."
            )
        type_ids.append(type_id)
    return type_ids


def _pair_ids(item):
    try:
        return str(item["from"]["id"]), str(item["to"]["id"])
    except (KeyError, TypeError):
        raise validation_error(
            'Each input needs "from": {"id"} and "to": {"id"}.'
        ) from None


def _no_associations_error(from_type, to_type, object_id):
    error = ApiError(
        404,
        f"No {to_type.name} are associated with {from_type.singular} {object_id}.",
        "OBJECT_NOT_FOUND",
        subCategory="crm.associations.NO_ASSOCIATIONS_FOUND",
    )
    return error.standard_error({"fromObjectId": [str(object_id)]})
