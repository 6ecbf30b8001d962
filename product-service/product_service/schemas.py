from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from oms_shared import PageQuery, Schema, ThingModelInput, UtcDateTime, refused

Name = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Code = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[^\s\x00]+$")]
ProductKey = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_-]{4,64}$")]
ProductSecret = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_-]{8,128}$")]
Status = Literal["enable", "disable"]
#: ``product_key`` in an update: refused, whatever its value (null too)
FixedKey = refused("cannot be changed after the product is created: devices are bound to it")


class ProductCreate(Schema):
    name: Name
    code: Code
    #: the model parsed and given back in full form (null: an empty model)
    thing_model: ThingModelInput = Field(None, validate_default=True)
    product_key: ProductKey | None = None
    product_secret: ProductSecret | None = None
    status: Status = "enable"


class ProductUpdate(Schema):
    name: Name | None = None
    code: Code | None = None
    thing_model: ThingModelInput | None = None  # null: unchanged
    product_secret: ProductSecret | None = None
    status: Status | None = None
    product_key: FixedKey = None


class ProductList(PageQuery):
    name: Annotated[StrictStr, Field(max_length=64)] | None = None
    code: Annotated[StrictStr, Field(max_length=64)] | None = None
    status: Status | None = None


class ProductRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    code: str
    product_key: str
    status: Status
    thing_model: dict[str, Any]
    device_count: int
    created_at: UtcDateTime
    updated_at: UtcDateTime


class ProductDetail(ProductRead):
    product_secret: str
