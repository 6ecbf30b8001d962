"""oms-sim: simulated OMS devices speaking the device channel's MQTT contract.

A client tool, independent of the platform's packages: :class:`Fleet` runs many
:class:`Device` objects from one asyncio loop; ``oms_simulator.cli`` only parses arguments.
"""

from oms_simulator.credentials import Credentials, aliyun_password, connect_params, read_csv
from oms_simulator.fleet import Device, Fleet, FleetConfig, Stats
from oms_simulator.values import Model, load_model

__all__ = ["Credentials", "Device", "Fleet", "FleetConfig", "Model", "Stats", "aliyun_password",
           "connect_params", "load_model", "read_csv"]
