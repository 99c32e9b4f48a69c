"""Fixtures of the adapter tests: a CRM sandbox on 127.0.0.1 and an adapter for it.

The repository root is an Odoo addon package whose ``__init__.py`` defines Odoo
models, which fails outside ``odoo.addons``. So this folder has no
``__init__.py``, the repository root goes on sys.path (``sync_core`` and
``crm_sandbox`` import as top-level packages), and pytest's Package.setup,
which imports every ``__init__.py`` above a test to look for ``setup_module``,
is switched off for the repository's packages. None of them has one.
"""

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from crm_sandbox.server import SandboxServer  # noqa: E402 - needs the path above
from sync_core.adapters import get_adapter  # noqa: E402 - needs the path above

TOKEN = "sandbox-token"
SECRET = "sandbox-secret"


def pytest_collection_modifyitems(items):
    """Switch off Package.setup of the repository's packages for every test."""
    for item in items:
        for node in item.listchain():
            if isinstance(node, pytest.Package) and node.path.is_relative_to(REPO_ROOT):
                node.setup = _skip_package_setup


def _skip_package_setup():
    return None


@pytest.fixture
def sandbox():
    """Start a fresh sandbox that allows 100 calls per 10 s for the token."""
    server = SandboxServer(
        port=0,
        access_token=TOKEN,
        client_secret=SECRET,
        rate_limit=100,
        rate_window=10.0,
        webhook_url=None,
        auto_deliver=False,
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_adapter(sandbox):
    """Return a factory of HubSpot adapters bound to the sandbox."""
    adapters = []

    def make(**options):
        options.setdefault("timeout", 5.0)
        token = options.pop("access_token", TOKEN)
        base_url = options.pop("base_url", sandbox.base_url)
        adapter = get_adapter("hubspot", base_url, token, **options)
        adapters.append(adapter)
        return adapter

    yield make
    for adapter in adapters:
        adapter.close()


@pytest.fixture
def adapter(make_adapter):
    return make_adapter()
