"""The ledger: every rao minted is in a balance, a stake, a pool, a pending pot, or was
burned/recycled (docs/economy.md, "Ledger").

TAO::

    genesis + minted == Σ balances + Σ pool TAO + Σ root stake + recycled + burned

alpha, per active subnet::

    minted − burned − recycled == pool alpha + Σ hotkey stake + market alpha + protocol alpha
                                  + pending (server + validator + root + owner)

Amounts are float64 rao, so the check allows a relative rounding tolerance (default 1e-10 of
the totals, i.e. ~1e6 rao on an 11 M TAO supply) plus a small absolute one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from protocol.economy.state import NetworkState

__all__ = ["LedgerError", "LedgerReport", "check_ledger"]


class LedgerError(AssertionError):
    """Raised by :func:`check_ledger` with ``strict=True`` when the books do not balance."""


@dataclass(frozen=True)
class LedgerReport:
    """Result of a ledger check.

    Attributes
    ----------
    ok
        True when both ledgers balance within tolerance and no holding is negative.
    tao_discrepancy
        ``(genesis + minted) − (held + recycled + burned)`` in rao.
    alpha_discrepancy
        Per-subnet ``issued − held`` in rao ``[S]``.
    negative
        Names of holdings with a negative entry beyond tolerance.
    tolerance_tao
        The TAO tolerance used (rao).
    """

    ok: bool
    tao_discrepancy: float
    alpha_discrepancy: torch.Tensor
    negative: tuple[str, ...]
    tolerance_tao: float

    def __str__(self) -> str:
        worst = float(self.alpha_discrepancy.abs().max()) if self.alpha_discrepancy.numel() else 0.0
        return (
            f"ledger {'ok' if self.ok else 'BROKEN'}: TAO discrepancy {self.tao_discrepancy:.1f} rao, "
            f"worst alpha discrepancy {worst:.1f} rao, negative holdings: {list(self.negative) or 'none'}"
        )


def check_ledger(
    state: NetworkState, *, rtol: float = 1e-10, atol: float = 1_000.0, strict: bool = False
) -> LedgerReport:
    """Prove that the state's books balance.

    Parameters
    ----------
    state
        The network.
    rtol, atol
        Relative (to the totals) and absolute (rao) tolerance for float64 rounding.
    strict
        Raise :class:`LedgerError` instead of returning a failing report.

    Returns
    -------
    LedgerReport
    """
    tao_in = state.tao_genesis + state.tao_minted
    pools = float(torch.where(state.active, state.pool_tao, 0.0).sum())
    tao_held = (
        float(state.balances.sum())
        + pools
        + float(state.root_stake.sum())
        + state.tao_recycled
        + state.tao_burned
    )
    tao_gap = tao_in - tao_held
    tol_tao = atol + rtol * abs(tao_in)

    issued = state.alpha_minted - state.alpha_burned - state.alpha_recycled
    held = (
        state.pool_alpha
        + state.hotkey_alpha.sum(1)
        + state.market_alpha
        + state.protocol_alpha
        + state.pending_server
        + state.pending_validator
        + state.pending_root
        + state.pending_owner
    )
    alpha_gap = torch.where(state.active, issued - held, 0.0)
    tol_alpha = atol + rtol * state.alpha_minted.abs()
    alpha_ok = bool((alpha_gap.abs() <= tol_alpha).all())

    holdings = {
        "balances": state.balances,
        "root_stake": state.root_stake,
        "pool_tao": state.pool_tao,
        "pool_alpha": state.pool_alpha,
        "hotkey_alpha": state.hotkey_alpha,
        "market_alpha": state.market_alpha,
        "protocol_alpha": state.protocol_alpha,
        "pending_server": state.pending_server,
        "pending_validator": state.pending_validator,
        "pending_root": state.pending_root,
        "pending_owner": state.pending_owner,
        "nom_shares": state.nom_shares,
        "owner_shares": state.owner_shares,
    }
    negative = tuple(name for name, tensor in holdings.items() if bool((tensor < -tol_tao).any()))
    ok = abs(tao_gap) <= tol_tao and alpha_ok and not negative
    report = LedgerReport(ok, tao_gap, alpha_gap, negative, tol_tao)
    if strict and not ok:
        raise LedgerError(str(report))
    return report
