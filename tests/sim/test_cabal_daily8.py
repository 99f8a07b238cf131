"""The cabal ledger's stake weight, kept with the state views it came from: what a new ledger
derives, bit for bit, also after the coldkeys or the root stake are replaced."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from sim import engine
from sim.cabal import CabalLedger
from sim.model import GovSimModel
from tests.sim.test_glue6 import _cabal_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _fresh_stake(model: GovSimModel, ledger: CabalLedger) -> bytes:
    return CabalLedger(model, ledger.subnets)._validator_stake().tobytes()


def test_the_kept_stake_weight_is_a_new_ledgers() -> None:
    model = GovSimModel(_cabal_config(3))
    try:
        ledger = model.recorder.cabal
        assert ledger is not None
        s = int(ledger.subnets[0])
        uid = int(model.validator_uids[0])
        for step in range(8):
            model.step()
            if step == 2:  # the root stake changes (a new tensor, as every state change)
                root = model.state.root_stake.clone()
                root *= 1.5
                model.state = model.state.replace(root_stake=root)
            if step == 4:  # a validator's hotkey moves to another coldkey
                coldkeys = model.state.uid_coldkey.clone()
                coldkeys[s, uid] = int(model.state.uid_coldkey[s, uid + 1])
                model.state = model.state.replace(uid_coldkey=coldkeys)
            assert ledger._validator_stake().tobytes() == _fresh_stake(model, ledger), step
            # a copy and a pickle compare the values of their own arrays
            for twin in (copy.deepcopy(ledger), pickle.loads(pickle.dumps(ledger))):
                twin.model = model
                assert twin._validator_stake().tobytes() == _fresh_stake(model, ledger)
        assert np.isfinite(ledger._validator_stake()).all()
    finally:
        engine.release(model)
