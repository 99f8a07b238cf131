"""Streamlit helpers shared by the explorer's pages: optional features and error display."""

from __future__ import annotations

import importlib
from types import ModuleType

import streamlit as st

__all__ = ["optional_module", "show_input_error", "show_unavailable"]


def optional_module(name: str) -> ModuleType | None:
    """Import ``name`` if it is part of this checkout; ``None`` when it is not (yet) there.

    Only a missing module counts as "not available"; any other import error is a bug and is
    raised so that it shows up in tests.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(f"{exc.name}.")):
            return None
        raise


def show_unavailable(feature: str, needs: str) -> None:
    """Tell the user that ``feature`` is not available in this build, and why."""
    st.info(f"**{feature} is not available** in this build: it needs {needs}.", icon="🚧")


def show_input_error(context: str, exc: Exception) -> None:
    """Show a user-input problem as one clear message (never a traceback)."""
    st.error(f"{context}: {exc}", icon="⚠️")
