"""Products as other services see them: a snapshot cache in Redis.

The product service owns products; the device service needs a product (its key,
status and thing model) on every command. It asks :func:`fetch_product`, which
reads the snapshot from Redis and, on a miss, asks the product service's internal
endpoint and keeps the answer.

Correct across instances: the product service writes the new snapshot after each
commit and a tombstone on removal. Snapshots carry the product's ``revision``
(one more on every change) and a write never replaces a newer revision, so two
updates whose after-commit writes cross cannot leave the older one in place. A
reader that fetched over HTTP only fills an empty slot (``SET NX``), so an answer
it got before a change cannot overwrite the change. Every entry expires
(``TTL_SECONDS``), which bounds staleness if a write to Redis ever fails.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import BaseModel

from oms_shared._client import ServiceClient
from oms_shared._errors import InvalidState, NotFound
from oms_shared._keys import Keys
from oms_shared._redis_client import RedisClient
from oms_shared._thing_model import ThingModel
from oms_shared._thing_model import parse as parse_thing_model

__all__ = ["ProductCatalog", "ProductGuard", "ProductSnapshot", "fetch_product"]

# (product id, revision) -> (the model as stored, parsed): the stored form is compared,
# so two databases with the same ids in one process (tests, tools) never share a model
_PARSED: dict[tuple[int, int], tuple[dict[str, Any], ThingModel]] = {}
_PARSED_KEPT = 1000

log = logging.getLogger("oms.catalog")
TTL_SECONDS = 300
_GONE = "gone"
#: Lower a guard's counter; gone at zero (or below: it had expired meanwhile).
_RELEASE = """
if redis.call('DECR', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) end
return 0
"""
_PUT_NEWER = """
local current = redis.call('GET', KEYS[1])
if current then
  if current == 'gone' then return 0 end
  local ok, old = pcall(cjson.decode, current)
  if ok and type(old) == 'table' and old['revision'] and
     tonumber(old['revision']) >= tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"""


class ProductSnapshot(BaseModel):
    id: int
    revision: int
    tenant: str
    name: str
    product_key: str
    status: str
    thing_model: dict[str, Any]

    @property
    def enabled(self) -> bool:
        return self.status == "enable"

    def model(self) -> ThingModel:
        """The thing model, parsed once per product revision in this process."""
        key = (self.id, self.revision)
        cached = _PARSED.get(key)
        if cached is not None and cached[0] == self.thing_model:
            return cached[1]
        if len(_PARSED) >= _PARSED_KEPT:
            _PARSED.clear()
        model = parse_thing_model(self.thing_model)
        _PARSED[key] = (self.thing_model, model)
        return model


class ProductCatalog:
    def __init__(self, client: RedisClient, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    def _key(self, product_id: int) -> str:
        return self.keys.product(product_id)

    def put(self, snapshot: ProductSnapshot) -> bool:
        """The owner's write after a commit: replaces an older revision, never a newer one
        nor a tombstone. True when it was written."""
        written = self.client.eval(_PUT_NEWER, 1, self._key(snapshot.id),
                                   snapshot.model_dump_json(), snapshot.revision, TTL_SECONDS)
        return bool(written)

    def put_if_absent(self, snapshot: ProductSnapshot) -> None:
        self.client.set(self._key(snapshot.id), snapshot.model_dump_json(), ex=TTL_SECONDS,
                        nx=True)

    def forget(self, product_id: int) -> None:
        """The owner's write after a removal: a tombstone, so no stale fill comes back."""
        self.client.set(self._key(product_id), _GONE, ex=TTL_SECONDS)

    def get(self, product_id: int) -> ProductSnapshot | str | None:
        raw = self.client.get(self._key(product_id))
        if raw is None or raw == _GONE:
            return raw
        return ProductSnapshot.model_validate(json.loads(raw))


def fetch_product(*, catalog: ProductCatalog, client: ServiceClient, product_id: int,
                  tenant: str, token: str | None = None) -> ProductSnapshot:
    """The caller's product, from the cache or the product service; else NotFound.
    ``token`` is for callers with no request to forward one from (workers, the broker's
    checks): ``oms_shared.service_token``."""
    cached = catalog.get(product_id)
    if cached == _GONE:
        raise NotFound("product", product_id)
    if isinstance(cached, ProductSnapshot):
        if cached.tenant != tenant:
            raise NotFound("product", product_id)
        return cached
    data = client.post("product", f"/internal/product/snapshot/{product_id}", token=token,
                       idempotent=True)
    snapshot = ProductSnapshot.model_validate(data)
    if snapshot.tenant != tenant:  # the peer scopes by the forwarded token; belt and braces
        raise NotFound("product", product_id)
    catalog.put_if_absent(snapshot)
    return snapshot


class ProductGuard:
    """Keeps a product removal and a batch submit for it from overlapping.

    They are two services' transactions, so neither can lock the other's rows.
    Instead each raises its own flag in Redis and then reads the other's: a submit
    counts itself in ``producing`` and then looks for ``removing``; a removal counts
    itself in ``removing`` and then looks at ``producing``. Redis orders the four steps,
    so at least one of the two sees the other and refuses (409/40901): a removal can
    never count zero devices while a batch for the product is being written. Both flags
    are counters, each released by the one who raised it, so concurrent removals (all
    but one end in 40401) cannot lower the flag of the one still deleting. Flags expire,
    so a crashed process cannot block a product forever. A product's flags share a
    hash tag, so each transaction stays on one Redis Cluster node.
    """

    PRODUCING_TTL = 900
    REMOVING_TTL = 120

    def __init__(self, client: RedisClient, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    def _producing(self, product_id: int) -> str:
        return self.keys.producing(product_id)

    def _removing(self, product_id: int) -> str:
        return self.keys.removing(product_id)

    def start_producing(self, product_id: int) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.incr(self._producing(product_id))
        pipe.expire(self._producing(product_id), self.PRODUCING_TTL)
        pipe.get(self._removing(product_id))
        _, _, removing = pipe.execute()
        if removing and int(removing) > 0:
            self.stop_producing(product_id)
            raise InvalidState(f"product {product_id} is being removed")

    def stop_producing(self, product_id: int) -> None:
        self.client.eval(_RELEASE, 1, self._producing(product_id))

    def start_removing(self, product_id: int) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.incr(self._removing(product_id))
        pipe.expire(self._removing(product_id), self.REMOVING_TTL)
        pipe.get(self._producing(product_id))
        _, _, producing = pipe.execute()
        if producing and int(producing) > 0:
            self.stop_removing(product_id)
            raise InvalidState(f"a batch of product {product_id} is being produced; "
                               "retry when it is done")

    def stop_removing(self, product_id: int) -> None:
        self.client.eval(_RELEASE, 1, self._removing(product_id))
