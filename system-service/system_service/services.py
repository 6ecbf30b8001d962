"""The platform's services and their instances, as their heartbeats in the registry
show them."""

from __future__ import annotations

from oms_shared import SERVICE_NAMES, Registry
from system_service.schemas import InstanceRead, ServiceList, ServiceRead


def get_all(*, registry: Registry, down_after: float) -> ServiceList:
    services = []
    for name in SERVICE_NAMES:
        instances = [InstanceRead(**i) for i in registry.instances(name, down_after=down_after)]
        up = any(i.status == "up" for i in instances)
        services.append(ServiceRead(name=name, status="up" if up else "down",
                                    instances=instances))
    return ServiceList(list=services, total=len(services))
