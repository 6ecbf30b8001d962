"""A group command names its group by an id the command service puts into the group
service's paths (``/oms/group/detail/{group_id}``): an id that is not one never gets
there."""

from __future__ import annotations

import pytest

from oms_shared.testing import ApiClient


@pytest.mark.parametrize("group_id", ["../member/x", "a?b", "a/b", "..", "a b", "é" * 3,
                                      "x" * 40])
def test_a_group_id_that_cannot_be_one_is_40401_before_any_peer_call(app, group_id):
    """Was: the id went into the peer's path as sent, so ``../member/x`` asked the group
    service for another endpoint and ``a?b`` for none (its 404/40400 came back as this
    endpoint's, a code it does not document); now it is an unknown group, like another
    tenant's. No group service is configured here: a peer call would be 503."""
    envelope = ApiClient(app).error("/oms/group/command", {
        "group_id": group_id, "user_id": "u1", "kind": "service", "service": "reboot"},
        status=404, code=40401)
    assert "group" in envelope["message"]
