"""Browser tests wait as long for an element as for a click: the Dagster UI renders later on a busy 2-core machine
(a parallel test worker training beside it), and 5 s, Playwright's default for assertions, is not enough there."""

from __future__ import annotations

import pytest

UI_TIMEOUT_MS = 30_000


@pytest.fixture(autouse=True, scope="session")
def _patient_assertions() -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    playwright.expect.set_options(timeout=UI_TIMEOUT_MS)
