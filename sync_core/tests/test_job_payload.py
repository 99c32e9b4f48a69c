from sync_core.job_payload import merge_payloads


def test_merge_newer_scalar_wins():
    merged = merge_payloads({"name": "Acme", "phone": "1"}, {"phone": "2"})
    assert merged == {"name": "Acme", "phone": "2"}


def test_merge_nested_dicts_recursively():
    older = {"values": {"name": "Acme", "city": "Leeds"}}
    newer = {"values": {"city": "York"}, "fields": ["city"]}
    merged = merge_payloads(older, newer)
    assert merged == {"values": {"name": "Acme", "city": "York"}, "fields": ["city"]}


def test_merge_lists_keep_order_without_repeats():
    merged = merge_payloads(
        {"fields": ["name", "phone"]}, {"fields": ["phone", "email"]}
    )
    assert merged == {"fields": ["name", "phone", "email"]}


def test_merge_list_of_events_keeps_both():
    first = {"eventId": 1, "propertyName": "email"}
    second = {"eventId": 2, "propertyName": "phone"}
    merged = merge_payloads({"events": [first]}, {"events": [first, second]})
    assert merged == {"events": [first, second]}


def test_merge_type_change_takes_newer():
    assert merge_payloads({"a": [1]}, {"a": {"b": 2}}) == {"a": {"b": 2}}
    assert merge_payloads({"a": 1}, ["x"]) == ["x"]


def test_merge_none_means_no_payload():
    assert merge_payloads(None, {"a": 1}) == {"a": 1}
    assert merge_payloads({"a": 1}, None) == {"a": 1}
    assert merge_payloads(None, None) is None


def test_merge_leaves_arguments_unchanged():
    older = {"values": {"name": "Acme"}, "fields": ["name"]}
    newer = {"values": {"name": "Acme Ltd"}, "fields": ["vat"]}
    merged = merge_payloads(older, newer)
    merged["values"]["name"] = "changed"
    merged["fields"].append("changed")
    assert older == {"values": {"name": "Acme"}, "fields": ["name"]}
    assert newer == {"values": {"name": "Acme Ltd"}, "fields": ["vat"]}
