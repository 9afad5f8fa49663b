from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.engine.runtime.harness import close_all


@pytest.fixture(autouse=True)
def _dispose_engines() -> Iterator[None]:
    yield
    close_all()
