"""The OMS common library: its public surface. It never imports a service.

Services import from here only (``from oms_shared import Api, NotFound``); the
modules behind it (``oms_shared._database`` ...) are internal and may change.
Three modules are public by name because tools load them by path:
``oms_shared.gunicorn_conf`` (``gunicorn -c python:oms_shared.gunicorn_conf``),
``oms_shared.worker`` (``python -m oms_shared.worker device_service.x:run``) and
``oms_shared.testing`` (the services' test kit).
"""

from oms_shared._api import Api, Empty, File, Header
from oms_shared._auth import current_caller, current_tenant, public
from oms_shared._bindings import BindingCache, Role
from oms_shared._broker import BatchConsumer, BrokerMessage, Publisher, topic_key
from oms_shared._catalog import (
    ProductCatalog,
    ProductGuard,
    ProductSnapshot,
    fetch_product,
)
from oms_shared._client import ServiceClient
from oms_shared._cursors import (
    Cursor,
    HistoryPage,
    HistoryQuery,
    TimeFilter,
    cursor_field,
    history_page,
)
from oms_shared._database import (
    Base,
    Database,
    delete_or_404,
    end_read,
    get_in_tenant,
    get_or_404,
    int_id,
    new_uuid,
    on_commit,
    on_finish,
    str_id,
)
from oms_shared._errors import (
    BadRequest,
    BadSignature,
    Conflict,
    DeviceOffline,
    DeviceTimeout,
    EndpointNotFound,
    Forbidden,
    InternalError,
    InvalidState,
    MethodNotAllowed,
    NotFound,
    OMSError,
    PayloadTooLarge,
    RateLimited,
    StaleTimestamp,
    TokenInvalid,
    Unauthenticated,
    Unavailable,
    UnknownApp,
    ValidationFailed,
)
from oms_shared._events import (
    Consumer,
    DevicesRemoved,
    Event,
    ProductDisabled,
    UserRemoved,
    consume,
    parked,
    publish,
    publish_now,
)
from oms_shared._ext import OMS, OMSState, state
from oms_shared._filters import contains
from oms_shared._keys import Keys
from oms_shared._openapi import build_spec as build_openapi
from oms_shared._pagination import Page, PageQuery, paginate
from oms_shared._ports import free_port
from oms_shared._redis_client import connect as connect_redis
from oms_shared._registry import Registry
from oms_shared._revocation import RevocationStore
from oms_shared._secrets import EncryptedString, Keyring, KeyringError
from oms_shared._secrets import attach as attach_keyring
from oms_shared._secrets import rotate as rotate_secrets
from oms_shared._secrets import unseal as unseal_secrets
from oms_shared._service_tokens import service_token
from oms_shared._services import (
    SERVICE_NAMES,
    SERVICES,
    ServiceSpec,
    ServiceTableError,
    check_packages,
    service_spec,
)
from oms_shared._settings import (
    Settings,
    SettingsError,
    load_settings,
    raw_settings,
)
from oms_shared._thing_model import (
    ThingModel,
    ThingModelInput,
    check_event,
    check_property_set,
    check_report,
    check_service_call,
)
from oms_shared._thing_model import parse as parse_thing_model
from oms_shared._times import UtcDateTime, utcnow
from oms_shared._tokens import OPERATOR, SCOPES, TENANT, Claims
from oms_shared._tokens import decode as decode_token
from oms_shared._tokens import issue as encode_token
from oms_shared._tombstones import Tombstone, bury, claim_alive, purge_buried
from oms_shared._validation import (
    Integer,
    IntKey,
    Schema,
    accepts,
    beyond_schema,
    refused,
    validate,
)
from oms_shared._version import __version__

__all__ = [
    "OMS",
    "OPERATOR",
    "SCOPES",
    "SERVICES",
    "SERVICE_NAMES",
    "TENANT",
    "Api",
    "BadRequest",
    "BadSignature",
    "Base",
    "BatchConsumer",
    "BindingCache",
    "BrokerMessage",
    "Claims",
    "Conflict",
    "Consumer",
    "Cursor",
    "Database",
    "DeviceOffline",
    "DeviceTimeout",
    "DevicesRemoved",
    "Empty",
    "EncryptedString",
    "EndpointNotFound",
    "Event",
    "File",
    "Forbidden",
    "Header",
    "HistoryPage",
    "HistoryQuery",
    "IntKey",
    "Integer",
    "InternalError",
    "InvalidState",
    "Keyring",
    "KeyringError",
    "Keys",
    "MethodNotAllowed",
    "NotFound",
    "OMSError",
    "OMSState",
    "Page",
    "PageQuery",
    "PayloadTooLarge",
    "ProductCatalog",
    "ProductDisabled",
    "ProductGuard",
    "ProductSnapshot",
    "Publisher",
    "RateLimited",
    "Registry",
    "RevocationStore",
    "Role",
    "Schema",
    "ServiceClient",
    "ServiceSpec",
    "ServiceTableError",
    "Settings",
    "SettingsError",
    "StaleTimestamp",
    "ThingModel",
    "ThingModelInput",
    "TimeFilter",
    "TokenInvalid",
    "Tombstone",
    "Unauthenticated",
    "Unavailable",
    "UnknownApp",
    "UserRemoved",
    "UtcDateTime",
    "ValidationFailed",
    "__version__",
    "accepts",
    "attach_keyring",
    "beyond_schema",
    "build_openapi",
    "bury",
    "check_event",
    "check_packages",
    "check_property_set",
    "check_report",
    "check_service_call",
    "claim_alive",
    "connect_redis",
    "consume",
    "contains",
    "current_caller",
    "current_tenant",
    "cursor_field",
    "decode_token",
    "delete_or_404",
    "encode_token",
    "end_read",
    "fetch_product",
    "free_port",
    "get_in_tenant",
    "get_or_404",
    "history_page",
    "int_id",
    "load_settings",
    "new_uuid",
    "on_commit",
    "on_finish",
    "paginate",
    "parked",
    "parse_thing_model",
    "public",
    "publish",
    "publish_now",
    "purge_buried",
    "raw_settings",
    "refused",
    "rotate_secrets",
    "service_spec",
    "service_token",
    "state",
    "str_id",
    "topic_key",
    "unseal_secrets",
    "utcnow",
    "validate",
]
