from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from oms_shared import PageQuery, Schema, UtcDateTime, parse_thing_model

Name = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Code = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[^\s]+$")]
ProductKey = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_-]{4,64}$")]
ProductSecret = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_-]{8,128}$")]
Status = Literal["enable", "disable"]


def _model(value: Any) -> dict[str, Any]:
    """The thing model, as a JSON string or an object, parsed and given back in full form."""
    return parse_thing_model(value).as_dict()


class ProductCreate(Schema):
    name: Name
    code: Code
    thing_model: Any = Field(None, validate_default=True)
    product_key: ProductKey | None = None
    product_secret: ProductSecret | None = None
    status: Status = "enable"

    _parse_model = field_validator("thing_model", mode="before")(_model)


class ProductUpdate(Schema):
    name: Name | None = None
    code: Code | None = None
    thing_model: Any = None
    product_secret: ProductSecret | None = None
    status: Status | None = None
    product_key: None = Field(None, description="cannot be changed: devices are bound to it")

    @field_validator("thing_model", mode="before")
    @classmethod
    def _parse_model(cls, value: Any) -> dict[str, Any] | None:
        return None if value is None else _model(value)

    @field_validator("product_key", mode="before")
    @classmethod
    def _immutable(cls, value: Any) -> None:
        raise ValueError("cannot be changed after the product is created")


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
