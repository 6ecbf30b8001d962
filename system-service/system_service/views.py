from oms_shared import OPERATOR, Api, state
from system_service import configuration, services
from system_service.schemas import ServiceList, SettingInfo

#: The platform's own endpoints (internal addresses, ports, environment): operator apps
#: only; the token check answers any other app 403/40300.
api = Api("system", __name__, scope=OPERATOR)


@api.post("/pms/system/setting/info", returns=SettingInfo)
def setting_info(body: object) -> SettingInfo:
    """The running configuration, with every secret and password left out."""
    oms = state()
    if "setting_info" not in oms.extra:  # settings do not change while the process runs
        oms.extra["setting_info"] = configuration.get(settings=oms.settings)
    return oms.extra["setting_info"]


@api.post("/pms/system/service/list", returns=ServiceList)
def service_list(body: object) -> ServiceList:
    """Every service with its instances, each ``up`` or ``down`` from its heartbeat."""
    oms = state()
    return services.get_all(registry=oms.registry, down_after=oms.settings.down_after)
