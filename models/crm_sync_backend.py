import logging
import time

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..sync_core import adapters
from ..sync_core.errors import SyncError

_logger = logging.getLogger(__name__)

SYNC_DIRECTIONS = [
    ("both", "Both ways"),
    ("import", "CRM to Odoo only"),
    ("export", "Odoo to CRM only"),
]

# Engine object types, in the order they are checked and synchronised.
OBJECT_TYPES = ("company", "contact", "product", "deal")
OBJECT_TYPE_SELECTION = [
    ("company", "Company"),
    ("contact", "Contact"),
    ("product", "Product"),
    ("deal", "Deal"),
]

DEFAULT_BATCH_SIZE = 100  # records per CRM batch call; HubSpot caps batches at 100
DEFAULT_RATE_LIMIT = 100  # requests per rate window; HubSpot's private-app default
DEFAULT_RATE_WINDOW = 10.0  # seconds
DEFAULT_TIMEOUT = 20.0  # seconds per HTTP request

# Bounds of one "Sync Now" run; the queue cron carries on with what is left.
SYNC_NOW_MAX_JOBS = 5000  # jobs
SYNC_NOW_MAX_SECONDS = 600  # seconds

# Path of the webhook route (controllers/main.py), followed by the backend id.
WEBHOOK_PATH = "/crm_sync/webhook"


class CrmSyncBackend(models.Model):
    """One configured connection to an external CRM account."""

    _name = "crm.sync.backend"
    _description = "CRM Sync Backend"
    _order = "sequence, name, id"

    name = fields.Char(required=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    kind = fields.Selection(
        selection=adapters.ADAPTER_KINDS,
        string="CRM Kind",
        required=True,
        default="hubspot",
    )
    company_id = fields.Many2one(
        "res.company",
        required=True,
        default=lambda self: self.env.company,
        index=True,
    )
    base_url = fields.Char(
        string="API Base URL",
        required=True,
        help="Root URL of the CRM's REST API, without a trailing slash. "
        "For the bundled sandbox: http://127.0.0.1:8765",
    )
    access_token = fields.Char(
        groups="external_crm_sync.group_crm_sync_manager",
        copy=False,
        exportable=False,
        help="Private app access token sent as a bearer token. Only CRM Sync "
        "managers can read it.",
    )
    webhook_secret = fields.Char(
        groups="external_crm_sync.group_crm_sync_manager",
        copy=False,
        exportable=False,
        help="App client secret used to verify the signature of incoming "
        "webhook calls. Only CRM Sync managers can read it.",
    )
    webhook_url = fields.Char(
        string="Webhook URL",
        compute="_compute_webhook_url",
        help="Target URL to enter in the CRM app's webhook settings. It is built "
        "from the system parameter web.base.url.",
    )
    batch_size = fields.Integer(
        default=DEFAULT_BATCH_SIZE,
        help="Number of records sent or read in one CRM batch call (1 to 100).",
    )
    rate_limit = fields.Integer(
        string="Request Rate Limit",
        default=DEFAULT_RATE_LIMIT,
        help="Maximum number of CRM requests per rate window.",
    )
    rate_window = fields.Float(
        string="Rate Window (s)",
        default=DEFAULT_RATE_WINDOW,
        help="Length in seconds of the rolling window the rate limit applies to.",
    )
    timeout = fields.Float(
        string="Request Timeout (s)",
        default=DEFAULT_TIMEOUT,
    )

    sync_company = fields.Boolean(string="Sync Companies", default=True)
    direction_company = fields.Selection(
        SYNC_DIRECTIONS, string="Companies Direction", default="both", required=True
    )
    sync_contact = fields.Boolean(string="Sync Contacts", default=True)
    direction_contact = fields.Selection(
        SYNC_DIRECTIONS, string="Contacts Direction", default="both", required=True
    )
    sync_product = fields.Boolean(string="Sync Products", default=False)
    direction_product = fields.Selection(
        SYNC_DIRECTIONS, string="Products Direction", default="export", required=True
    )
    sync_deal = fields.Boolean(string="Sync Deals", default=False)
    direction_deal = fields.Selection(
        SYNC_DIRECTIONS, string="Deals Direction", default="import", required=True
    )

    pull_cursors = fields.Json(
        readonly=True,
        copy=False,
        help="Position of the incremental pull of each object type, as UTC JSON "
        "by object type. Empty means the next pull is a full first sync.",
    )
    match_company_by_domain = fields.Boolean(
        string="Match Companies by Website",
        help="Before creating a company, also look for one with the same website "
        "domain. Leave it off where unrelated companies share a domain, for example "
        "a group's subsidiaries.",
    )
    field_rule_ids = fields.One2many(
        "crm.sync.field.rule", "backend_id", string="Field Rules"
    )
    field_rule_count = fields.Integer(compute="_compute_field_rule_count")

    last_check_date = fields.Datetime(string="Last Connection Test", readonly=True)
    last_check_ok = fields.Boolean(string="Last Test Passed", readonly=True)
    last_check_message = fields.Text(string="Last Test Result", readonly=True)

    _sql_constraints = [
        (
            "batch_size_range",
            "CHECK(batch_size BETWEEN 1 AND 100)",
            "The batch size must be between 1 and 100.",
        ),
        (
            "rate_limit_positive",
            "CHECK(rate_limit > 0 AND rate_window > 0)",
            "The rate limit and its window must be positive.",
        ),
    ]

    @api.constrains("base_url")
    def _check_base_url(self):
        for backend in self:
            url = (backend.base_url or "").strip()
            if not url.startswith(("http://", "https://")):
                raise ValidationError(
                    self.env._(
                        "Backend '%(name)s' field 'API Base URL': '%(url)s' is not "
                        "an http(s) URL.",
                        name=backend.name,
                        url=url,
                    )
                )

    @api.model_create_multi
    def create(self, vals_list):
        backends = super().create(vals_list)
        self.env["crm.sync.field.rule"].sudo()._create_default_rules(backends)
        return backends

    def _compute_field_rule_count(self):
        counts = dict(
            self.env["crm.sync.field.rule"]._read_group(
                [("backend_id", "in", self.ids)], ["backend_id"], ["__count"]
            )
        )
        for backend in self:
            backend.field_rule_count = counts.get(backend, 0)

    def action_view_field_rules(self):
        """Open the field rules of this backend."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "external_crm_sync.crm_sync_field_rule_action"
        )
        action["domain"] = [("backend_id", "=", self.id)]
        action["context"] = {
            "default_backend_id": self.id,
            "search_default_group_by_object_type": 1,
        }
        return action

    def _pull(self, object_type):
        """Queue import jobs for the records of one object type changed in the CRM."""
        self.ensure_one()
        return self.env["crm.sync.batch.importer"]._pull(self, object_type)

    @api.model
    def _cron_pull(self):
        """Pull the changed companies, then contacts, of every active backend."""
        backends = self.search([("active", "=", True)])
        self.env["crm.sync.batch.importer"]._cron_pull(backends)

    @api.model
    def _cron_push(self):
        """Queue exports of partners in scope whose changes were not sent yet."""
        backends = self.search([("active", "=", True)])
        self.env["crm.sync.batch.exporter"]._cron_push(backends)

    def _sync_now(self, max_jobs=SYNC_NOW_MAX_JOBS, max_seconds=SYNC_NOW_MAX_SECONDS):
        """Pull, push and process this backend's queue now; return counts.

        The demo command and tests call it and wait for the result; the form's
        button queues the same work instead. The counts are read back from the
        database: partners created, partners linked to existing records,
        partners created in the CRM, partners updated, conflicts and
        exceptions among the jobs processed, and the number of those jobs.
        """
        self.ensure_one()
        marks = self._sync_marks()
        deadline = time.monotonic() + max_seconds
        batch_importer = self.env["crm.sync.batch.importer"]

        # Pull and import first, so that partners which already exist on both
        # sides get linked before the push looks for partners to create.
        for object_type in batch_importer._pull_object_types(self):
            self._pull(object_type)
        processed = self._drain_queue(max_jobs, deadline)
        self.env["crm.sync.batch.exporter"]._cron_push(self)
        processed |= self._drain_queue(max_jobs - len(processed), deadline)

        summary = self._sync_summary(marks, processed)
        _logger.info("Sync of backend %s: %s", self.id, summary)
        return summary

    def _drain_queue(self, max_jobs, deadline):
        """Run this backend's due jobs until none is left, or a bound is hit."""
        # Companies must exist before the contacts that belong to them, and a
        # batch may queue follow-up jobs, so the queue runs again until empty.
        processed = self.env["crm.sync.job"].sudo().browse()
        while len(processed) < max_jobs and time.monotonic() < deadline:
            jobs = self.env["crm.sync.job"]._process_queue(
                max_jobs=max_jobs - len(processed),
                max_seconds=deadline - time.monotonic(),
                backend=self,
            )
            if not jobs:
                break
            processed |= jobs
        return processed

    def _sync_marks(self):
        """Return the highest partner, binding and audit ids before a sync."""
        marks = {}
        for model in ("res.partner", "crm.sync.binding", "crm.sync.audit.log"):
            last = (
                self.env[model]
                .sudo()
                .with_context(active_test=False)
                .search([], order="id desc", limit=1)
            )
            marks[model] = last.id or 0
        return marks

    def _sync_summary(self, marks, processed):
        """Count what a sync changed, from the ids that existed before it.

        A new link whose CRM id came from an import job is a CRM record that
        was created or linked in Odoo. Any other new link is a partner that the
        push created in the CRM.
        """
        self.ensure_one()
        Binding = self.env["crm.sync.binding"].sudo().with_context(active_test=False)
        bindings = Binding.search(
            [
                ("backend_id", "=", self.id),
                ("id", ">", marks["crm.sync.binding"]),
            ]
        )
        imported_crm_ids = set(
            processed.filtered(lambda job: job.operation == "import").mapped("crm_id")
        )
        exported = bindings.filtered(
            lambda binding: binding.crm_id not in imported_crm_ids
        )
        created = (bindings - exported).filtered(
            lambda binding: binding.partner_id.id > marks["res.partner"]
        )
        audited = (
            self.env["crm.sync.audit.log"]
            .sudo()
            .search(
                [
                    ("backend_id", "=", self.id),
                    ("id", ">", marks["crm.sync.audit.log"]),
                ]
            )
        )
        exceptions = processed.filtered(lambda job: job.state == "exception")
        conflicts = exceptions.filtered(lambda job: job.exception_kind == "conflict")
        return {
            "created": len(created),
            "linked": len(bindings) - len(created) - len(exported),
            "exported": len(exported),
            "updated": len(audited.partner_id - bindings.partner_id),
            "conflicts": len(conflicts),
            "exceptions": len(exceptions),
            "retrying": len(processed.filtered(lambda job: job.state == "failed")),
            "jobs": len(processed),
        }

    def action_sync_now(self):
        """Queue a pull and a push of this backend now; the queue cron runs them."""
        self.ensure_one()
        batch_importer = self.env["crm.sync.batch.importer"]
        queued = sum(
            self._pull(object_type)
            for object_type in batch_importer._pull_object_types(self)
        )
        queued += self.env["crm.sync.batch.exporter"]._cron_push(self)
        self.env["crm.sync.job"]._trigger_processing()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Sync started"),
                "message": self.env._(
                    "%(count)s jobs queued. The queue processes them in the "
                    "background: follow them under CRM Sync > Queue.",
                    count=queued,
                ),
                "type": "info",
            },
        }

    def _compute_webhook_url(self):
        for backend in self:
            if not backend.id:
                backend.webhook_url = False
                continue
            base_url = backend.get_base_url().rstrip("/")
            backend.webhook_url = f"{base_url}{WEBHOOK_PATH}/{backend.id}"

    def _get_sync_objects(self):
        """Return (object_type, direction) for each object this backend syncs."""
        self.ensure_one()
        return [
            (object_type, self[f"direction_{object_type}"])
            for object_type in OBJECT_TYPES
            if self[f"sync_{object_type}"]
        ]

    def _get_adapter(self):
        """Build the CRM adapter for this backend, reading the token as superuser."""
        self.ensure_one()
        backend = self.sudo()
        if not backend.access_token:
            raise UserError(
                self.env._(
                    "Backend '%(name)s' field 'Access Token' is empty: enter the "
                    "private app token first.",
                    name=self.name,
                )
            )
        return adapters.get_adapter(
            backend.kind,
            base_url=backend.base_url.strip().rstrip("/"),
            access_token=backend.access_token,
            timeout=backend.timeout,
            rate_limit=backend.rate_limit,
            rate_window=backend.rate_window,
        )

    def action_test_connection(self):
        """Check the URL, the token and each needed scope, and report in plain words."""
        self.ensure_one()
        checks = [
            (object_type, direction != "import")
            for object_type, direction in self._get_sync_objects()
        ]
        properties = self.env["crm.sync.synchronizer"]._sync_key_checks(checks)
        try:
            results = self._get_adapter().check_connection(checks, properties)
        except SyncError as error:
            _logger.warning(
                "Connection test of backend %s failed: %s", self.id, error.category
            )
            results = [adapters.CheckResult("connection", False, str(error))]

        all_ok = all(result.ok for result in results)
        message = "\n".join(
            ("✔ " if result.ok else "✘ ") + result.detail for result in results
        )
        self.write(
            {
                "last_check_date": fields.Datetime.now(),
                "last_check_ok": all_ok,
                "last_check_message": message,
            }
        )
        _logger.info(
            "Connection test of backend %s: %s of %s checks passed",
            self.id,
            sum(1 for result in results if result.ok),
            len(results),
        )
        if all_ok:
            title = self.env._("Connection works")
        else:
            title = self.env._("Connection failed")
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": title,
                "message": message,
                "type": "success" if all_ok else "danger",
                "sticky": not all_ok,
            },
        }
