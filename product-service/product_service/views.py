from oms_shared import (
    Api,
    Conflict,
    Empty,
    InvalidState,
    Page,
    ProductSnapshot,
    current_tenant,
    state,
)
from product_service import flows, products
from product_service.db import db
from product_service.schemas import (
    ProductCreate,
    ProductDetail,
    ProductList,
    ProductRead,
    ProductUpdate,
)

api = Api("product", __name__)


@api.post("/oms/product/list", body=ProductList, returns=Page[ProductRead])
def product_list(body: ProductList) -> dict:
    """List products; ``name`` matches a substring, ``code`` and ``status`` exactly."""
    return flows.get_all(session=db.session, oms=state(), tenant=current_tenant(), query=body)


@api.post("/oms/product/add", body=ProductCreate, returns=ProductDetail, errors=(Conflict,),
          resource="product")
def product_add(body: ProductCreate) -> object:
    """Add a product; ``product_key`` and ``product_secret`` are generated when not given."""
    return flows.create(session=db.session, oms=state(), tenant=current_tenant(), data=body)


@api.post("/oms/product/update/<product_id>", body=ProductUpdate, returns=ProductRead,
          errors=(Conflict,))
def product_update(body: ProductUpdate, product_id: str) -> object:
    """Change a product's name, code, status, secret or thing model."""
    return flows.update(session=db.session, oms=state(), tenant=current_tenant(),
                        product_id=product_id, data=body)


@api.post("/oms/product/detail/<product_id>", returns=ProductDetail)
def product_detail(body: Empty, product_id: str) -> object:
    """A product with its secret and thing model."""
    return flows.get(session=db.session, oms=state(), tenant=current_tenant(),
                     product_id=product_id)


@api.post("/oms/product/remove/<product_id>", errors=(InvalidState,))
def product_remove(body: Empty, product_id: str) -> None:
    """Remove a product; refused (40901) while it still has devices."""
    flows.remove(session=db.session, oms=state(), tenant=current_tenant(), product_id=product_id)


@api.post("/internal/product/snapshot/<product_id>", returns=ProductSnapshot)
def product_snapshot(body: Empty, product_id: str) -> ProductSnapshot:
    """Internal (not routed by the gateway): the product as the device service needs it."""
    product = products.get_or_raise(session=db.session, tenant=current_tenant(),
                                   product_id=product_id)
    return flows.snapshot(product)
