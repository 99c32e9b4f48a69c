"""Fixtures of the sandbox tests: a running sandbox, a client and a webhook receiver.

The repository root is an Odoo addon package whose ``__init__.py`` imports
odoo, so these tests must not be imported through it. This folder therefore
has no ``__init__.py``, the root goes on sys.path whatever the clone's name,
and the xunit setup of the packages above (pytest's Package.setup, which
imports each ``__init__.py`` to look for ``setup_module``) is skipped.
Helpers the tests import live in sandbox_testing.py, because the module name
``conftest`` is shared with other test folders.
"""

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sandbox_testing import SECRET, TOKEN, Client, WebhookReceiver  # noqa: E402

from crm_sandbox.server import SandboxServer  # noqa: E402 - needs the path above


def pytest_collection_modifyitems(items):
    """Skip Package.setup for the addon and its packages; none has setup_module."""
    for item in items:
        for node in item.listchain():
            if isinstance(node, pytest.Package) and node.path.is_relative_to(REPO_ROOT):
                node.setup = _no_package_setup


def _no_package_setup():
    return None


@pytest.fixture
def sandbox():
    server = SandboxServer(port=0, access_token=TOKEN, client_secret=SECRET)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(sandbox):
    return Client(sandbox.base_url)


@pytest.fixture
def receiver():
    webhook_receiver = WebhookReceiver()
    yield webhook_receiver
    webhook_receiver.close()
