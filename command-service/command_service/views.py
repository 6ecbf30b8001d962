from command_service import flows
from command_service.schemas import (
    CommandPage,
    CommandQuery,
    CommandResult,
    GroupCommand,
    JobCreated,
    JobDetail,
    JobQuery,
    PropertySet,
    ServiceInvoke,
)
from oms_shared import (
    Api,
    DeviceOffline,
    Forbidden,
    InvalidState,
    NotFound,
    current_caller,
    state,
)

api = Api("command", __name__)

#: What a command to one device can be refused for (after its body), in this order.
REFUSALS = (NotFound, Forbidden, InvalidState, DeviceOffline)


@api.post("/oms/device/property/set", body=PropertySet, returns=CommandResult, errors=REFUSALS)
def property_set(body: PropertySet) -> dict:
    """Set writable properties of a device and wait for its answer (``timeout_ms``,
    default 5 s): 50400 with the ``message_id`` when none comes in time."""
    caller = current_caller()
    return flows.send(state(), tenant=caller.tenant, app_id=caller.app_id,
                      user_id=body.user_id, device_id=body.device_id, kind=flows.PROPERTY_SET,
                      identifier=None, params=body.params, timeout_ms=body.timeout_ms)


@api.post("/oms/device/service/invoke", body=ServiceInvoke, returns=CommandResult,
          errors=REFUSALS)
def service_invoke(body: ServiceInvoke) -> dict:
    """Call a service of the device: a synchronous one waits for the answer like a
    property set; an asynchronous one (``callType``) answers its ``message_id`` at once."""
    caller = current_caller()
    return flows.send(state(), tenant=caller.tenant, app_id=caller.app_id,
                      user_id=body.user_id, device_id=body.device_id, kind=flows.SERVICE,
                      identifier=body.service, params=body.params, timeout_ms=body.timeout_ms)


@api.post("/oms/device/command/logs/<device_id>", body=CommandQuery, returns=CommandPage)
def command_logs(body: CommandQuery, device_id: str) -> dict:
    """A device's commands, newest first, with their status and the device's answers."""
    return flows.history(oms=state(), tenant=current_caller().tenant, device_id=device_id,
                         query=body)


@api.post("/oms/group/command", body=GroupCommand, returns=JobCreated,
          errors=(NotFound, Forbidden), resource="job")
def group_command(body: GroupCommand) -> dict:
    """Send a property set or service call to every device of a group, ``rate`` devices
    per second; answers the job id at once (follow it with the detail endpoint)."""
    caller = current_caller()
    return flows.start_job(state(), tenant=caller.tenant, app_id=caller.app_id, body=body)


@api.post("/oms/group/command/detail/<job_id>", body=JobQuery, returns=JobDetail)
def group_command_detail(body: JobQuery, job_id: str) -> dict:
    """A job: counts per status and a page of per-device results (``status`` filters)."""
    return flows.job_detail(tenant=current_caller().tenant, job_id=job_id, query=body)


@api.post("/oms/group/command/cancel/<job_id>", body=JobQuery, returns=JobDetail)
def group_command_cancel(body: JobQuery, job_id: str) -> dict:
    """Cancel a running job: its devices not reached yet are not sent the command."""
    return flows.cancel_job(tenant=current_caller().tenant, job_id=job_id, query=body)
