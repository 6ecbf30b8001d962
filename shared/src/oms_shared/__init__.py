"""The OMS common library. It never imports a service."""

from oms_shared.api import Api, Empty
from oms_shared.auth import current_caller, current_tenant, public
from oms_shared.database import Base, Database, get_or_404
from oms_shared.ext import OMS, OMSState, state
from oms_shared.pagination import Page, PageQuery, paginate
from oms_shared.settings import SERVICE_NAMES, Settings, SettingsError, load_settings
from oms_shared.times import UtcDateTime, utcnow
from oms_shared.validation import Schema
from oms_shared.version import __version__

__all__ = [
    "OMS",
    "SERVICE_NAMES",
    "Api",
    "Base",
    "Database",
    "Empty",
    "OMSState",
    "Page",
    "PageQuery",
    "Schema",
    "Settings",
    "SettingsError",
    "UtcDateTime",
    "__version__",
    "current_caller",
    "current_tenant",
    "get_or_404",
    "load_settings",
    "paginate",
    "public",
    "state",
    "utcnow",
]
