"""Request schemas of the product endpoints: what is accepted and what is named."""

from __future__ import annotations

import pytest

from oms_shared import ValidationFailed, validate
from product_service.schemas import ProductCreate, ProductList, ProductUpdate

SEED_ADD = {"name": "门铃", "code": "4110025469", "thing_model": '{"events": ["switchon"]}',
            "product_key": "c107ef2483d5211fe5f532afb5c764e6",
            "product_secret": "f8d70127a0934798f9be1d72b883d840"}


def _fields(model, body):
    with pytest.raises(ValidationFailed) as caught:
        validate(model, body)
    return [e["field"] for e in caught.value.errors]


def test_the_seed_bodies_are_accepted():
    created = validate(ProductCreate, SEED_ADD)
    assert created.thing_model["events"][0]["identifier"] == "switchon"
    validate(ProductUpdate, {"code": "21000", "status": "enable",
                             "product_secret": "A5244111BCDEFGDA"})
    validate(ProductList, {"page_size": 10})


def test_thing_model_may_be_an_object():
    created = validate(ProductCreate, {**SEED_ADD, "thing_model": {"events": ["switchon"]}})
    assert created.thing_model["events"][0]["type"] == "info"


@pytest.mark.parametrize(("body", "field"), [
    ({**SEED_ADD, "colour": "red"}, "colour"),
    ({**SEED_ADD, "name": ""}, "name"),
    ({**SEED_ADD, "code": 21000}, "code"),
    ({**SEED_ADD, "status": "on"}, "status"),
    ({**SEED_ADD, "product_key": "has/slash"}, "product_key"),
    ({**SEED_ADD, "thing_model": '{"properties": [{"identifier": "a b"}]}'},
     "thing_model.properties[0].identifier"),
    ({**SEED_ADD, "thing_model": "{oops"}, "thing_model"),
])
def test_bad_create_bodies_name_the_field(body, field):
    assert field in _fields(ProductCreate, body)


def test_product_key_cannot_change():
    assert _fields(ProductUpdate, {"product_key": "new-key-1"}) == ["product_key"]


@pytest.mark.parametrize("body", [{"page": 0}, {"page_size": 0}, {"page_size": 501},
                                  {"page": "1"}])
def test_bad_paging(body):
    assert _fields(ProductList, body)
