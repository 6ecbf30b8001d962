"""The device channel's decisions: who may connect and where, who is online, and
cutting a device off.

The broker (RabbitMQ with its MQTT plugin) asks these on every connect and on the first
use of each topic (``rabbitmq_auth_backend_http``): a device connects with client id
``{product_key}.{device_name}``, username ``{device_name}&{product_key}`` and its secret
as the password, or an Aliyun-style signature (client id ``{id}|securemode=..,
signmethod=hmacsha1|hmacsha256|hmacmd5,timestamp=..|``, password the hex HMAC of
``clientId{id}deviceName{dn}productKey{pk}timestamp{ts}`` keyed by the secret). Only a
device in stock and enabled, of an enabled product, gets in, and only to topics under
``/sys/{product_key}/{device_name}/``.

What the checks need of a device is cached in Redis (``Keys.channel_device``) for a few
minutes, filled only for devices that may connect; disabling, enabling and removing a
device drop its entry at once (a pending batch's devices are never cached, so
confirming a batch costs no cache writes); a product's status comes from the catalog
snapshot, which the product service rewrites on every change.

The cache never holds a secret in the clear: the entry carries it sealed under the
service's keyring (``oms.secrets``, as the table stores it), and the check opens it in
process (one AES-GCM decryption, a few microseconds). A hash of the secret would do for
the plain password, but not for an Aliyun signature, an HMAC keyed by the secret itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from urllib.parse import quote, urlsplit

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from device_service.models import Device
from oms_shared import (
    KeyringError,
    NotFound,
    OMSError,
    OMSState,
    fetch_product,
    service_token,
)

__all__ = ["Credential", "authenticate", "forget", "kick", "may_use_resource",
           "may_use_topic"]

log = logging.getLogger("oms.device.channel")
CACHE_SECONDS = 300
CONNECTABLE = ("inactive", "online", "offline")
ALIYUN_WINDOW_MS = 15 * 60 * 1000  # an Aliyun signature's timestamp may be this old
KICK_TRIES, KICK_RETRY_SECONDS = 30, 0.5  # up to 15 s: a loaded broker lists late
_DIGESTS = {"hmacsha1": hashlib.sha1, "hmacsha256": hashlib.sha256, "hmacmd5": hashlib.md5}


@dataclass(frozen=True)
class Credential:
    id: str
    tenant: str
    product_id: int
    product_key: str
    device_name: str
    secret: str


def parse_username(username: str) -> tuple[str, str] | None:
    """``{device_name}&{product_key}`` -> (product_key, device_name)."""
    device_name, sep, product_key = username.partition("&")
    if not sep or not device_name or not product_key or "&" in product_key:
        return None
    return product_key, device_name


def credential(session: Session, oms: OMSState, product_key: str,
               device_name: str) -> Credential | None:
    """The device if it may connect now (in stock, enabled, its product enabled)."""
    key = oms.keys.channel_device(product_key, device_name)
    cached = _from_cache(oms, oms.redis.get(key))
    if cached is not None:
        found = cached
    else:
        device = session.scalar(select(Device).options(undefer(Device.device_secret))
                                .where(Device.product_key == product_key,
                                       Device.device_name == device_name))
        if device is None or device.status not in CONNECTABLE:
            return None
        found = Credential(id=device.id, tenant=device.tenant, product_id=device.product_id,
                           product_key=device.product_key, device_name=device.device_name,
                           secret=device.device_secret)
        oms.redis.set(key, _cache_entry(oms, found), ex=CACHE_SECONDS)
    try:
        product = fetch_product(catalog=oms.catalog, client=oms.client,
                                product_id=found.product_id, tenant=found.tenant,
                                token=service_token(oms, found.tenant))
    except NotFound:
        return None
    return found if product.enabled else None


def _cache_entry(oms: OMSState, found: Credential) -> str:
    """The cache entry of a device: its secret sealed, never in the clear."""
    entry = asdict(found)
    entry["sealed"] = oms.secrets.seal(entry.pop("secret"))
    return json.dumps(entry)


def _from_cache(oms: OMSState, raw: str | None) -> Credential | None:
    """A cached device, its secret opened; None for a miss: no entry, one of another shape
    (older code), or one sealed under a key the keyring no longer holds (rotated)."""
    if raw is None:
        return None
    entry = json.loads(raw)
    sealed = entry.pop("sealed", None)
    if sealed is None:
        return None
    try:
        return Credential(**entry, secret=oms.secrets.open(sealed))
    except KeyringError:
        return None


def forget(oms: OMSState, devices: Iterable[Device]) -> None:
    """After a commit that changed these devices: the broker's next check reads anew."""
    keys = [oms.keys.channel_device(d.product_key, d.device_name) for d in devices]
    if keys:
        oms.redis.delete(*keys)


def _aliyun_ok(client_id: str, password: str, found: Credential) -> bool:
    head, _, rest = client_id.partition("|")
    options = dict(part.partition("=")[::2] for part in rest.rstrip("|").split(",") if part)
    digest = _DIGESTS.get(options.get("signmethod", ""))
    timestamp = options.get("timestamp", "")
    if digest is None or head != f"{found.product_key}.{found.device_name}":
        return False
    if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > ALIYUN_WINDOW_MS:
        return False
    content = (f"clientId{head}deviceName{found.device_name}productKey{found.product_key}"
               f"timestamp{timestamp}")
    expected = hmac.new(found.secret.encode(), content.encode(), digest).hexdigest()
    return hmac.compare_digest(expected.encode(), password.lower().encode())


def authenticate(session: Session, oms: OMSState, *, username: str, password: str,
                 client_id: str) -> bool:
    """May this client connect? (The broker's ``user_path``.)"""
    parsed = parse_username(username)
    if parsed is None:
        return False
    found = credential(session, oms, *parsed)
    if found is None:
        return False
    if "|" in client_id:
        return _aliyun_ok(client_id, password, found)
    return (client_id == f"{found.product_key}.{found.device_name}"
            and hmac.compare_digest(found.secret.encode(), password.encode()))


def may_use_resource(*, username: str, resource: str, name: str) -> bool:
    """The broker's ``resource_path``: the MQTT exchange, and the device's own
    subscription queues."""
    parsed = parse_username(username)
    if parsed is None:
        return False
    product_key, device_name = parsed
    if resource == "exchange":
        return name == "amq.topic"
    if resource == "queue":
        return name.startswith(f"mqtt-subscription-{product_key}.{device_name}")
    return False


def may_use_topic(*, username: str, routing_key: str) -> bool:
    """The broker's ``topic_path``: only under ``/sys/{product_key}/{device_name}/``
    (routing keys carry dots for slashes, with a leading dot)."""
    parsed = parse_username(username)
    if parsed is None:
        return False
    product_key, device_name = parsed
    return routing_key.startswith(f".sys.{product_key}.{device_name}.")


def kick(oms: OMSState, device_ids: Iterable[str]) -> None:
    """Drop the live connections of these devices (management API), in the background:
    the broker's next check refuses them anyway. A connection only a moment old is not
    known to the management API yet (404): it is tried again for a few seconds."""
    ids = list(device_ids)
    names = [n for n in oms.redis.hmget(oms.keys.channel_device_connection(), ids) if n] \
        if ids else []
    management = oms.settings.broker.management_url.get_secret_value()
    if not names or not management:
        return
    parts = urlsplit(management)
    base = f"{parts.scheme}://{parts.hostname}:{parts.port}"
    auth = (parts.username or "", parts.password or "")

    def drop(name: str) -> None:
        url = f"{base}/api/connections/{quote(name, safe='')}"
        for _ in range(KICK_TRIES):
            try:
                answer = requests.delete(url, auth=auth, timeout=5,
                                         headers={"X-Reason": "cut off by the platform"})
                if answer.status_code != 404:
                    return
            except requests.RequestException as exc:
                log.warning("could not drop a device connection: %s", type(exc).__name__)
            time.sleep(KICK_RETRY_SECONDS)

    for name in names:
        threading.Thread(target=drop, args=(name,), name="oms-kick", daemon=True).start()


def may_connect_safely(session: Session, oms: OMSState, **kwargs: str) -> bool:
    """``authenticate`` that answers "deny" rather than fail when a dependency is down."""
    try:
        return authenticate(session, oms, **kwargs)
    except OMSError as exc:
        log.warning("device check failed: %s", exc.message)
        return False
