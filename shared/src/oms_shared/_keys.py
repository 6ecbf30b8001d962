"""The Redis key layout: every key and channel OMS uses, named once.

Built once per process from ``redis.prefix`` (``OMSState.keys``) and handed to
the helpers that use Redis (``RevocationStore(client, keys)`` ...). The families:

========================  ==================================================  ==========
family                    key (``p`` is the prefix)                           lifetime
========================  ==================================================  ==========
app token generation      ``p:auth:gen:<app_id>``                             no TTL
revocation channel        ``p:auth:revocations`` (pub/sub channel, no key)    --
issued-token cache        ``p:auth:issued:<app_id>:<gen>:<timestamp>:<sign>`` the window
product snapshot          ``p:catalog:{p:<id>}:snapshot``                     300 s
producing flag            ``p:catalog:{p:<id>}:producing``                    900 s
removing flag             ``p:catalog:{p:<id>}:removing``                     120 s
device bindings cache     ``p:bindings:{d:<device_id>}:<tenant>`` (user->role) 600 s
bindings version          ``p:bindings:{d:<device_id>}:<tenant>:version``     1 day
device credentials        ``p:channel:device:<product_key>:<device_name>``     300 s
connections -> devices    ``p:channel:connections`` (hash: name -> device id)  no TTL
device -> connection      ``p:channel:device-connection`` (hash)              no TTL
registry of a service     ``p:registry:<service>`` (hash: address -> JSON)    no TTL
app request quota         ``p:quota:<app_id>`` (hash: tokens, ts)             until full again
command replies channel   ``p:commands:replies:<process>`` (pub/sub, no key)  --
event stream              ``p:events:{<stream>}``                             ~100,000 entries
parked entries            ``p:events:{<stream>}:parked``                      ~100,000 entries
========================  ==================================================  ==========

Redis Cluster: a command that touches several keys must find them in one hash
slot, so the keys one command combines share a hash tag (the part in braces):
a product's snapshot and flags (``ProductGuard`` reads one flag in the transaction
that raises the other), a device's bindings and their version (a fill checks the
version in the script that writes the hash), a stream and its parked companion (parking adds to one
and acknowledges in the other in one transaction). Every other command touches
one key. Hence a prefix must hold no braces: its own tag would put every key in
one slot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["STREAM_NAME", "Keys"]

#: What an event stream may be called (lowercase, dots, dashes).
STREAM_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


@dataclass(frozen=True)
class Keys:
    """``Keys("oms").generation("app-1") == "oms:auth:gen:app-1"``."""

    prefix: str

    def __post_init__(self) -> None:
        if "{" in self.prefix or "}" in self.prefix:
            raise ValueError("a Redis key prefix holds no braces")

    # auth: token generations and their announcements
    def generation(self, app_id: str) -> str:
        return f"{self.prefix}:auth:gen:{app_id}"

    @property
    def revocations(self) -> str:
        """The pub/sub channel on which every generation bump is announced."""
        return f"{self.prefix}:auth:revocations"

    def issued_token(self, app_id: str, generation: int, timestamp: str, sign: str) -> str:
        return f"{self.prefix}:auth:issued:{app_id}:{generation}:{timestamp}:{sign}"

    # catalog: a product's snapshot and guard flags share the tag {p:<id>}
    def product(self, product_id: int) -> str:
        return f"{self.prefix}:catalog:{{p:{product_id}}}:snapshot"

    def producing(self, product_id: int) -> str:
        return f"{self.prefix}:catalog:{{p:{product_id}}}:producing"

    def removing(self, product_id: int) -> str:
        return f"{self.prefix}:catalog:{{p:{product_id}}}:removing"

    # registry
    def bindings(self, tenant: str, device_id: str) -> str:
        """A device's bindings in a tenant (hash user id -> role); shares a tag with its
        version."""
        return f"{self.prefix}:bindings:{{d:{device_id}}}:{tenant}"

    def bindings_version(self, tenant: str, device_id: str) -> str:
        return f"{self.prefix}:bindings:{{d:{device_id}}}:{tenant}:version"

    def channel_device(self, product_key: str, device_name: str) -> str:
        """What the broker's checks need of a device (cached; dropped when it changes)."""
        return f"{self.prefix}:channel:device:{product_key}:{device_name}"

    def channel_connections(self) -> str:
        """Hash: broker connection name -> device id (who is online, through what)."""
        return f"{self.prefix}:channel:connections"

    def channel_device_connection(self) -> str:
        """Hash: device id -> its live connection's name (what to drop to cut it off)."""
        return f"{self.prefix}:channel:device-connection"

    def quota(self, app_id: str) -> str:
        """An app's request bucket (hash: ``tokens`` left, ``ts`` of the last take); it
        expires once it would be full again."""
        return f"{self.prefix}:quota:{app_id}"

    def registry(self, service: str) -> str:
        return f"{self.prefix}:registry:{service}"

    def command_replies(self, process: str) -> str:
        """Pub/sub channel of one process's waiting commands: devices' replies reach the
        instance that waits, whichever instance's worker consumed them."""
        return f"{self.prefix}:commands:replies:{process}"

    # events: a stream and its parked companion share the tag {<stream>}
    def stream(self, name: str) -> str:
        if not STREAM_NAME.fullmatch(name):
            raise ValueError(f"invalid stream name {name!r}")
        return f"{self.prefix}:events:{{{name}}}"

    def parked(self, name: str) -> str:
        return f"{self.stream(name)}:parked"
