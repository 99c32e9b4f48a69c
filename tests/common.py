"""Shared fixtures: an in-process CRM sandbox on 127.0.0.1 and a backend using it."""

import sys
from pathlib import Path

from odoo.tests import TransactionCase

REPO_ROOT = Path(__file__).resolve().parent.parent
REAL_DATA = REPO_ROOT.parent / "shared" / "data" / "real"

# The sandbox lives in the repository but outside the addon's import tree.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from crm_sandbox.server import SandboxServer  # noqa: E402

SANDBOX_TOKEN = "sandbox-token"
SANDBOX_SECRET = "sandbox-secret"


def real_data_path(name):
    """Return the path of a real export, or None when the shared folder is absent."""
    path = REAL_DATA / name
    return path if path.is_file() else None


def start_sandbox(test_class, **options):
    """Start a sandbox for a test class and stop it when the class finishes."""
    options.setdefault("access_token", SANDBOX_TOKEN)
    options.setdefault("client_secret", SANDBOX_SECRET)
    options.setdefault("auto_deliver", False)
    server = SandboxServer(port=0, **options)
    server.start()
    test_class.addClassCleanup(server.stop)
    return server


class CrmSyncCase(TransactionCase):
    """Transaction case with a running sandbox and a backend pointing at it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sandbox = start_sandbox(cls)
        cls.backend = cls.env["crm.sync.backend"].create(
            {
                "name": "Sandbox",
                "kind": "hubspot",
                "base_url": cls.sandbox.base_url,
                "access_token": SANDBOX_TOKEN,
                "webhook_secret": SANDBOX_SECRET,
            }
        )
