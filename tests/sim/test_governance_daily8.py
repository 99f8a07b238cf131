"""The governance desk's electorate reads the subnets as the per-element tensor reads did."""

from __future__ import annotations

import pytest

from protocol.governance.base import SubnetInfo
from sim import engine
from sim.api import load_config
from sim.model import GovSimModel

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_electorates_subnets_are_the_tensors_values() -> None:
    model = GovSimModel(
        load_config(
            {"horizon_days": 2, "network": {"n_subnets": 5, "n_uids": 8, "n_validators": 2}}
        )
    )
    try:
        model.step()
        st = model.state
        active = st.active.clone()
        active[2] = False  # an inactive slot is left out
        model.state = st.replace(active=active)
        st = model.state
        want = tuple(
            SubnetInfo(
                netuid=s,
                owner=st.account_names[int(st.owner_account[s])],
                registered_block=int(st.registered_block[s]),
                moving_price=float(st.moving_price[s]),
            )
            for s in range(st.n_subnets)
            if bool(st.active[s])
        )
        got = model.governance.electorate().subnets
        assert got == want and len(got) == 4
        assert all(type(a.moving_price) is float and type(a.registered_block) is int for a in got)
    finally:
        engine.release(model)
