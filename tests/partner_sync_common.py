"""Fixtures of the customer sync tests: a backend without rate limits and helpers
that load real exports into the sandbox and run the sync through the job queue."""

import csv
import re
import tempfile
from datetime import timedelta
from pathlib import Path

from odoo import fields

from .common import CrmSyncCase, real_data_path

LONDON_FILE = "uk_london_companies_companydata_sample.csv"
NORTHWIND_FILE = "northwind_customers.csv"
SALESFORCE_FILE = "salesforce_report_accounts_contacts_lwc_recipes.csv"

E164_RE = re.compile(r"^\+[1-9]\d{6,14}(;ext=\d+)?$")


class PartnerSyncCase(CrmSyncCase):
    """CrmSyncCase with the sync key property defined and no request limits.

    The rate limits are lifted so that the real-data tests measure the sync,
    not the throttle; the adapter's throttle has its own tests.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sandbox.rate_limiter.configure(None)
        cls.backend.write({"rate_limit": 10_000, "rate_window": 1.0})
        cls._define_sync_key_property()
        cls.Partner = cls.env["res.partner"]
        cls.Binding = cls.env["crm.sync.binding"]
        cls.Job = cls.env["crm.sync.job"]
        cls.AuditLog = cls.env["crm.sync.audit.log"]

    @classmethod
    def _define_sync_key_property(cls):
        # A HubSpot portal needs this custom property before the first export;
        # the sandbox, like HubSpot, rejects unknown properties.
        for object_type in ("companies", "contacts"):
            cls.sandbox.store.define_property(object_type, "odoo_sync_key", unique=True)

    def setUp(self):
        super().setUp()
        self.addCleanup(self._reset_sandbox)

    def _reset_sandbox(self):
        # A failed test may leave forced faults queued for the next one.
        self.sandbox.faults.clear()
        self.sandbox.store.reset()
        self._define_sync_key_property()
        self.sandbox.request_counts.clear()

    # ------------------------------------------------------------------
    # Loading real data
    # ------------------------------------------------------------------

    def real_file(self, name):
        """Return the path of a real export, or skip the test when it is absent."""
        path = real_data_path(name)
        if path is None:
            self.skipTest(
                f"Real data file {name} not found in ../shared/data/real/ next to "
                "the repository: the real-data tests need it."
            )
        return path

    def load_real(self, name, mapping, limit=None):
        """Load a real export into the sandbox, optionally its first rows only."""
        path = self.real_file(name)
        if limit is not None:
            path = self._first_rows(path, limit)
        return self.sandbox.load_csv(path, mapping)

    def _first_rows(self, path, limit):
        # The loader sniffs the delimiter and strips the BOM, so the subset keeps
        # the original header line and the first ``limit`` data lines as they are.
        text = Path(path).read_text(encoding="utf-8-sig")
        lines = text.splitlines()
        folder = tempfile.mkdtemp(prefix="crm_sync_test_")
        self.addCleanup(_remove_tree, folder)
        subset = Path(folder) / Path(path).name
        subset.write_text("\n".join(lines[: limit + 1]), encoding="utf-8")
        return subset

    @staticmethod
    def count_csv_rows(path, delimiter=","):
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return sum(1 for _row in csv.reader(handle, delimiter=delimiter)) - 1

    # ------------------------------------------------------------------
    # Running the sync
    # ------------------------------------------------------------------

    def later(self, minutes=2):
        """Return a time ahead of the clock, to end a pull window after recent edits."""
        return fields.Datetime.now() + timedelta(minutes=minutes)

    def pull(self, object_type, now=None):
        """Pull one object type and run the queued jobs; return the processed jobs."""
        self.env["crm.sync.batch.importer"]._pull(
            self.backend, object_type, now=now or self.later()
        )
        return self.Job._process_pending(backend=self.backend)

    def pull_all(self, now=None):
        """Pull companies then contacts; return the processed jobs."""
        jobs = self.pull("company", now=now)
        return jobs | self.pull("contact", now=now)

    def full_sync(self):
        """Forget the pull cursors and pull everything again."""
        self.backend.pull_cursors = False
        return self.pull_all()

    def process(self):
        return self.Job._process_pending(backend=self.backend)

    # ------------------------------------------------------------------
    # Reading results
    # ------------------------------------------------------------------

    def bindings(self, object_type=None):
        domain = [("backend_id", "=", self.backend.id)]
        if object_type:
            domain.append(("object_type", "=", object_type))
        return self.Binding.search(domain)

    def exceptions(self, object_type=None, kind=None):
        domain = [("backend_id", "=", self.backend.id), ("state", "=", "exception")]
        if object_type:
            domain.append(("object_type", "=", object_type))
        if kind:
            domain.append(("exception_kind", "=", kind))
        return self.Job.search(domain)

    def partner_of(self, crm_id, object_type="company"):
        binding = self.Binding._find_by_crm_id(self.backend, object_type, crm_id)
        return binding.partner_id

    def crm(self, object_type, crm_id):
        """Return a CRM record's properties as the sandbox stores them."""
        return self.sandbox.store.get(object_type, crm_id)["properties"]

    def crm_records(self, object_type):
        return self.sandbox.store.all(object_type)


def _remove_tree(folder):
    import shutil  # noqa: PLC0415 - only for cleanup

    shutil.rmtree(folder, ignore_errors=True)
