"""Products through the real gateway: the seed's examples (§3.1-3.5) and every error."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

SEED_ADD = {"name": "门铃", "code": "4110025469", "thing_model": '{"events": ["switchon"]}',
            "product_key": "c107ef2483d5211fe5f532afb5c764e6",
            "product_secret": "f8d70127a0934798f9be1d72b883d840"}


@pytest.fixture(scope="module")
def seeded(caller):
    """§3.2 as written."""
    response = caller.post("/oms/product/add", SEED_ADD)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_add_as_in_the_seed(seeded):
    assert seeded["id"] >= 10000
    assert seeded["product_secret"] == SEED_ADD["product_secret"]
    assert seeded["thing_model"]["events"][0]["identifier"] == "switchon"
    assert seeded["device_count"] == 0
    assert seeded["status"] == "enable"


def test_list_as_in_the_seed(caller, seeded):
    data = caller.data("/oms/product/list", {"page_size": 10})
    assert data["page_size"] == 10
    listed = next(p for p in data["list"] if p["id"] == seeded["id"])
    assert "product_secret" not in listed
    assert listed["thing_model"] == seeded["thing_model"]


def test_update_and_detail_as_in_the_seed(caller, seeded):
    updated = caller.data(f"/oms/product/update/{seeded['id']}",
                          {"code": "21000", "status": "enable",
                           "product_secret": "A5244111BCDEFGDA"})
    assert updated["code"] == "21000"
    assert "product_secret" not in updated  # only detail and add show it
    detail = caller.data(f"/oms/product/detail/{seeded['id']}", {})
    assert detail["product_secret"] == "A5244111BCDEFGDA"
    assert detail["code"] == "21000"


def test_generated_credentials_and_filters(caller):
    made = caller.data("/oms/product/add", {"name": "智能灯 X", "code": "lamp-x",
                                            "thing_model": {"properties": ["brightness"]}})
    assert len(made["product_key"]) == 32 and len(made["product_secret"]) == 32
    assert caller.data("/oms/product/list", {"name": "灯 X"})["total"] == 1
    assert caller.data("/oms/product/list", {"code": "lamp-x"})["list"][0]["id"] == made["id"]
    caller.data(f"/oms/product/update/{made['id']}", {"status": "disable"})
    disabled = caller.data("/oms/product/list", {"status": "disable"})["list"]
    assert made["id"] in [p["id"] for p in disabled]


def test_remove_as_in_the_seed(caller):
    made = caller.data("/oms/product/add", {"name": "temp", "code": "to-remove"})
    assert caller.data(f"/oms/product/remove/{made['id']}", {}) is None
    gone = caller.post(f"/oms/product/detail/{made['id']}")
    assert gone.status_code == 404
    assert gone.json()["code"] == 40401


def _error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    return body


def test_unknown_and_other_tenants_products_look_the_same(platform, caller, seeded):
    other = platform.new_caller("tenant-b")
    mine = _error(other.post(f"/oms/product/detail/{seeded['id']}"), 404, 40401)
    missing = _error(other.post("/oms/product/detail/99999"), 404, 40401)
    assert mine["message"].replace(str(seeded["id"]), "N") == missing["message"].replace(
        "99999", "N")
    _error(other.post(f"/oms/product/update/{seeded['id']}", {"name": "x"}), 404, 40401)
    _error(other.post(f"/oms/product/remove/{seeded['id']}"), 404, 40401)
    _error(caller.post("/oms/product/detail/not-a-number"), 404, 40401)
    assert seeded["id"] not in [p["id"] for p in other.data("/oms/product/list", {})["list"]]


def test_duplicates_are_409_naming_the_field(platform, caller):
    caller.data("/oms/product/add", {"name": "a", "code": "dup-code"})
    body = _error(caller.post("/oms/product/add", {"name": "b", "code": "dup-code"}), 409, 40900)
    assert body["data"]["field"] == "code"
    caller.data("/oms/product/add", {"name": "a", "code": "key-1", "product_key": "shared-key"})
    other = platform.new_caller("tenant-c")
    body = _error(other.post("/oms/product/add", {"name": "b", "code": "key-2",
                                                  "product_key": "shared-key"}), 409, 40900)
    assert body["data"]["field"] == "product_key"
    assert other.data("/oms/product/add", {"name": "c", "code": "dup-code"})["code"] == "dup-code"


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "x", "code": "f1", "colour": "red"}, "colour"),
    ({"name": "x", "code": "f2", "thing_model": {"properties": [
        {"identifier": "t"}, {"identifier": "u"},
        {"identifier": "v", "dataType": {"type": "int", "specs": {"min": 5, "max": 1}}}]}},
     "thing_model.properties[2].dataType.specs.min"),
    ({"name": "x", "code": "f3", "thing_model": "{not json"}, "thing_model"),
    ({"code": "f4"}, "name"),
])
def test_bad_bodies_are_40001_naming_the_field(caller, body, field):
    response = _error(caller.post("/oms/product/add", body), 400, 40001)
    assert field in [e["field"] for e in response["data"]["errors"]]


@pytest.mark.parametrize("body", [{"page": 0}, {"page_size": 501}, {"page_size": "10"}])
def test_bad_paging_is_40001(caller, body):
    _error(caller.post("/oms/product/list", body), 400, 40001)


def test_product_key_cannot_change(caller, seeded):
    body = _error(caller.post(f"/oms/product/update/{seeded['id']}",
                              {"product_key": "another"}), 400, 40001)
    assert body["data"]["errors"][0]["field"] == "product_key"
