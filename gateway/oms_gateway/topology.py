"""Which services make up the platform, and the module of each one's app factory."""

from __future__ import annotations

from oms_shared import SERVICE_NAMES

__all__ = ["APP_MODULES", "SERVICE_NAMES"]

APP_MODULES: dict[str, str] = {name: f"{name}_service.app" for name in SERVICE_NAMES}
