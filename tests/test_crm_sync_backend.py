import logging
import socket

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import new_test_user, tagged

from .common import SANDBOX_SECRET, SANDBOX_TOKEN, CrmSyncCase


def closed_local_port():
    """Return a 127.0.0.1 port that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@tagged("post_install", "-at_install")
class TestCrmSyncBackend(CrmSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sync_user = new_test_user(
            cls.env,
            login="crm_sync_user",
            groups="base.group_user,external_crm_sync.group_crm_sync_user",
        )

    def test_connection_passes_on_sandbox(self):
        action = self.backend.action_test_connection()

        self.assertTrue(self.backend.last_check_ok, self.backend.last_check_message)
        self.assertEqual(action["params"]["type"], "success")
        self.assertIn("contact", self.backend.last_check_message.lower())

    def test_connection_names_rejected_token(self):
        self.backend.access_token = "wrong-token"

        action = self.backend.action_test_connection()

        self.assertFalse(self.backend.last_check_ok)
        self.assertEqual(action["params"]["type"], "danger")
        self.assertIn("token", self.backend.last_check_message.lower())
        self.assertNotIn("wrong-token", self.backend.last_check_message)

    def test_connection_names_missing_scope(self):
        self.sandbox.set_scopes(
            ["crm.objects.companies.read", "crm.objects.companies.write"]
        )
        # A token added again without scopes is granted every scope.
        self.addCleanup(self.sandbox.add_token, SANDBOX_TOKEN)

        self.backend.action_test_connection()

        self.assertFalse(self.backend.last_check_ok)
        self.assertIn("crm.objects.contacts", self.backend.last_check_message)

    def test_connection_names_unreachable_url(self):
        self.backend.base_url = f"http://127.0.0.1:{closed_local_port()}"

        self.backend.action_test_connection()

        self.assertFalse(self.backend.last_check_ok)
        self.assertIn("127.0.0.1", self.backend.last_check_message)

    def test_connection_log_has_no_secret(self):
        addon_logger = "odoo.addons.external_crm_sync"
        with self.assertLogs(addon_logger, level=logging.DEBUG) as logs:
            self.backend.action_test_connection()
            logging.getLogger(addon_logger).debug("end of test")

        output = "\n".join(logs.output)
        self.assertNotIn(SANDBOX_TOKEN, output)
        self.assertNotIn(SANDBOX_SECRET, output)

    def test_base_url_must_be_http(self):
        with self.assertRaises(ValidationError):
            self.backend.base_url = "ftp://127.0.0.1/"

    def test_user_cannot_read_token(self):
        backend = self.backend.with_user(self.sync_user)

        self.assertEqual(backend.name, "Sandbox")
        with self.assertRaises(AccessError):
            backend.read(["access_token"])
        with self.assertRaises(AccessError):
            backend.read(["webhook_secret"])

    def test_user_cannot_edit_backend(self):
        with self.assertRaises(AccessError):
            self.backend.with_user(self.sync_user).write({"batch_size": 10})

    def test_secrets_not_exportable(self):
        fields = self.env["crm.sync.backend"].fields_get(attributes=["exportable"])

        self.assertFalse(fields["access_token"]["exportable"])
        self.assertFalse(fields["webhook_secret"]["exportable"])

    def test_admin_is_manager(self):
        admin = self.env.ref("base.user_admin")

        self.assertTrue(admin.has_group("external_crm_sync.group_crm_sync_manager"))
        self.assertTrue(admin.has_group("external_crm_sync.group_crm_sync_user"))

    def test_other_company_backend_hidden(self):
        other_company = self.env["res.company"].create({"name": "Other Ltd"})
        other_user = new_test_user(
            self.env,
            login="crm_sync_other",
            groups="base.group_user,external_crm_sync.group_crm_sync_user",
            company_id=other_company.id,
            company_ids=[(6, 0, other_company.ids)],
        )

        visible = self.env["crm.sync.backend"].with_user(other_user).search([])

        self.assertNotIn(self.backend, visible)
