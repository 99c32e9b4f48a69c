"""Plain-Python core of the CRM sync engine.

Nothing here imports Odoo, so the modules are tested with plain pytest and
reused by the Odoo layer as ``odoo.addons.external_crm_sync.sync_core.<module>``.
Import the module you need; this package imports nothing on its own.
"""
