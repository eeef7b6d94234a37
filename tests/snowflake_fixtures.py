"""tests/snowflake/conftest.py as a module, for test folders outside tests/snowflake.

Only the root conftest may name plugins, so folders that need the fakesnow fixtures (a
server, its password, URLs, SQL) load that conftest by path and assign the fixtures they use.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType

__all__ = ["snowflake_fixtures"]


@cache
def snowflake_fixtures() -> ModuleType:
    """The loaded ``tests/snowflake/conftest.py`` (loaded once per session)."""
    path = Path(__file__).resolve().parent / "snowflake" / "conftest.py"
    spec = importlib.util.spec_from_file_location("ats_tests_snowflake_fixtures", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
