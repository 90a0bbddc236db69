"""Console tests act as the project's researcher."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.fixture
def client(console: Client) -> Client:
    """pytest-django's `client`, signed in as `lead` (tests/annotation/conftest.py)."""
    return console
