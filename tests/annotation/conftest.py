"""Fixtures of the console tests: a researcher and the console signed in as them."""

from __future__ import annotations

import pytest
from django.test import Client

from annotation.services.researchers import researcher_create


@pytest.fixture
def lead():
    return researcher_create(username="lead")


@pytest.fixture
def console(lead) -> Client:
    client = Client()
    client.force_login(lead)
    return client
