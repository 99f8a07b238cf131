"""The layers import downwards only: app (``app.py``, ``app_pages``) -> ``sim`` -> ``protocol``.

``tests/test_import_graph.py`` checks that there are no circles *inside* ``sim`` and
``protocol``; this file checks the direction *between* them: no module of ``protocol`` imports
``sim`` or the app, and no module of ``sim`` imports the app (``govsim app`` locates
``app_pages`` with ``importlib.util.find_spec`` and hands its path to Streamlit; it never imports
it). Imports are read from the source as in the import-graph test: every import that can run,
module level or inside a function; those under ``if TYPE_CHECKING:`` are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.test_import_graph import REPO_ROOT, _absolute, _runtime_imports, package_modules

#: Package -> top-level names its modules must not import.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "protocol": ("sim", "app", "app_pages"),
    "sim": ("app", "app_pages"),
}


def upward_imports(root: Path, package: str, forbidden: tuple[str, ...]) -> list[str]:
    """``module -> imported`` for every runtime import of a forbidden top-level package."""
    found: list[str] = []
    for name, path in package_modules(root, package).items():
        is_package = path.name == "__init__.py"
        for node in _runtime_imports(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                targets = [_absolute(name, is_package, node)]
            found += [f"{name} -> {t}" for t in targets if t.split(".")[0] in forbidden]
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_layer_imports_the_one_above(package: str) -> None:
    found = upward_imports(REPO_ROOT, package, FORBIDDEN[package])
    assert not found, "imports against the layering:\n" + "\n".join(found)


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    (tmp_path / "protocol").mkdir()
    (tmp_path / "protocol/__init__.py").write_text("")
    (tmp_path / "protocol/a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import sim.model\n"
        "def f():\n    from sim.api import run\n    return run\n"
    )
    assert upward_imports(tmp_path, "protocol", ("sim",)) == ["protocol.a -> sim.api"]
