"""Consensus mechanisms: the registry :data:`CONSENSUS` and the chain's own variants.

A mechanism is a :class:`Mechanism` object whose hooks replace parts of the shared float epoch
(:func:`protocol.yuma.float_epoch.run_float_epoch`): the parameters it forces, the stake used in
consensus, the consensus itself, and the bond/dividend step. A new variant is one file that
subclasses :class:`Mechanism`, overrides a hook, and registers an instance::

    from protocol.yuma.mechanisms import CONSENSUS, Mechanism

    class MyYuma(Mechanism):
        def consensus(self, weights, stake, params):
            ...

    CONSENSUS.add("my_yuma", MyYuma("my_yuma"))

(see :mod:`protocol.yuma.stake_capped`, which the package ``protocol.yuma`` imports so that
its bundled variants are registered). Third-party packages can expose mechanisms through the
``govsim.consensus`` entry point group or as ``"package.module:attribute"`` names.

The chain-exact mode (:mod:`protocol.yuma.exact_epoch`) implements the chain mechanisms only:
``yuma`` (bond path from ``params.yuma3``), ``yuma_classic``, ``yuma3``, ``yuma3_liquid`` and
``yuma_liquid_v1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from protocol.registry import Registry
from protocol.yuma import float_epoch
from protocol.yuma.params import EpochParams

__all__ = ["CONSENSUS", "Mechanism", "get_mechanism"]


@dataclass(frozen=True)
class Mechanism:
    """A consensus mechanism: the chain epoch with optional overrides.

    Parameters
    ----------
    name
        Registry name (reported in :class:`~protocol.yuma.result.EpochResult`).
    forced
        Parameter values the mechanism imposes on top of the caller's ``EpochParams``
        (e.g. ``{"yuma3": False}`` for classic bonds).
    exact
        Whether the chain-exact mode implements this mechanism.
    """

    name: str
    forced: tuple[tuple[str, Any], ...] = ()
    exact: bool = True

    def overrides(self, *hooks: str) -> list[str]:
        """Which of the named hooks this mechanism replaces (its class, not :class:`Mechanism`,
        defines them): the fused kernel runs the chain's own hooks only."""
        return [hook for hook in hooks if getattr(type(self), hook) is not getattr(Mechanism, hook)]

    def resolve_params(self, params: EpochParams) -> EpochParams:
        """The parameters this mechanism runs with."""
        return params.with_(**dict(self.forced)) if self.forced else params

    def consensus_stake(self, stake: torch.Tensor, params: EpochParams) -> torch.Tensor:
        """Stake ``[B, k]`` used for consensus, incentive and dividends (chain: active stake)."""
        return stake

    def consensus(
        self, weights: torch.Tensor, stake: torch.Tensor, params: EpochParams
    ) -> torch.Tensor:
        """Per-miner consensus ``[B, n]`` (chain: stake-weighted κ-median)."""
        return float_epoch.weighted_median_consensus(weights, stake, params.kappa)

    def bonds_and_dividends(
        self,
        w_bonds: torch.Tensor,
        old_bonds: torch.Tensor,
        stake: torch.Tensor,
        consensus: torch.Tensor,
        incentive: torch.Tensor,
        params: EpochParams,
        w_present: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Slice dividends ``[B, k]`` and new stored bonds ``[B, k, n]``.

        ``w_present`` marks existing weight entries (``None``: entries exist where > 0).
        """
        bonds = float_epoch.yuma3_bonds if params.yuma3 else float_epoch.classic_bonds
        return bonds(w_bonds, old_bonds, stake, consensus, incentive, params, w_present)


CONSENSUS: Registry[Mechanism] = Registry(
    "consensus mechanism", entry_point_group="govsim.consensus"
)

CONSENSUS.add("yuma", Mechanism("yuma"))
CONSENSUS.add("yuma_classic", Mechanism("yuma_classic", forced=(("yuma3", False),)))
CONSENSUS.add("yuma3", Mechanism("yuma3", forced=(("yuma3", True),)))
CONSENSUS.add(
    "yuma3_liquid",
    Mechanism(
        "yuma3_liquid",
        forced=(("yuma3", True), ("liquid_alpha", True), ("liquid_alpha_version", "v2")),
    ),
)
CONSENSUS.add(
    "yuma_liquid_v1",
    Mechanism(
        "yuma_liquid_v1",
        forced=(("yuma3", False), ("liquid_alpha", True), ("liquid_alpha_version", "v1")),
    ),
)


def get_mechanism(name: str | Mechanism) -> Mechanism:
    """Look a mechanism up by name in :data:`CONSENSUS` (or pass an instance through)."""
    if isinstance(name, Mechanism):
        return name
    return CONSENSUS.get(name)
