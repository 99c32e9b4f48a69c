from odoo.tests import tagged

from .partner_sync_common import PartnerSyncCase


@tagged("post_install", "-at_install")
class TestSyncNow(PartnerSyncCase):
    """The synchronous run behind the demo command, and its counts."""

    def _load_companies(self):
        store = self.sandbox.store
        store.create(
            "companies",
            {
                "name": "Quayside Ropes Limited",
                "vat_number": "GB 445 5667 78",
                "phone": "029 2018 0999",
                "country": "United Kingdom",
            },
        )
        store.create(
            "companies",
            {
                "name": "Fenland Seeds Ltd",
                "phone": "01632 960123",
                "country": "United Kingdom",
            },
        )
        store.create(
            "companies",
            {"name": "Broken Phone Ltd", "phone": "12", "country": "United Kingdom"},
        )

    def test_first_run_counts(self):
        existing = self.Partner.create(
            {
                "name": "QUAYSIDE ROPES LTD",
                "is_company": True,
                "vat": "GB445566778",
                "country_id": self.env.ref("base.uk").id,
            }
        )
        self._load_companies()

        summary = self.backend._sync_now()

        self.assertEqual(summary["linked"], 1, summary)
        self.assertEqual(summary["created"], 1, summary)
        self.assertEqual(summary["exported"], 0, summary)
        self.assertEqual(summary["exceptions"], 1, summary)
        self.assertEqual(summary["conflicts"], 0, summary)
        self.assertTrue(existing.crm_binding_ids)
        self.assertEqual(
            self.Partner.search_count([("name", "=", "Fenland Seeds Ltd")]), 1
        )

    def test_second_run_changes_nothing(self):
        self._load_companies()
        self.backend._sync_now()
        partners_before = self.Partner.search_count([])

        summary = self.backend._sync_now()

        self.assertEqual(summary["created"], 0, summary)
        self.assertEqual(summary["linked"], 0, summary)
        self.assertEqual(summary["exported"], 0, summary)
        self.assertEqual(summary["updated"], 0, summary)
        self.assertEqual(self.Partner.search_count([]), partners_before)

    def test_odoo_customer_created_in_crm(self):
        partner = self.Partner.create(
            {
                "name": "Wherry Boatyard Ltd",
                "is_company": True,
                "customer_rank": 1,
                "country_id": self.env.ref("base.uk").id,
            }
        )

        summary = self.backend._sync_now()

        self.assertEqual(summary["exported"], 1, summary)
        crm_names = [
            record["properties"].get("name")
            for record in self.sandbox.store.all("companies")
        ]
        self.assertIn("Wherry Boatyard Ltd", crm_names)
        self.assertTrue(partner.crm_binding_ids)
