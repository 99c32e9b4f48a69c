# Entry points of the addon's developer and user commands; README.rst explains each.
PYTHON ?= python3
SANDBOX_PORT ?= 8765

.PHONY: test demo sandbox pot

# Static checks, plain-Python tests and Odoo tests in a throwaway database.
test:
	$(PYTHON) tools/run_tests.py

# Sandbox CRM with demo data, a database with the addon, a first sync, then Odoo on 127.0.0.1:8069.
demo:
	$(PYTHON) tools/demo.py $(DEMO_ARGS)

# The bundled HubSpot-like CRM sandbox in the foreground, with the demo data loaded.
sandbox:
	$(PYTHON) -m crm_sandbox --port $(SANDBOX_PORT) --load-demo

# Export the translation template i18n/external_crm_sync.pot from a throwaway database.
pot:
	$(PYTHON) tools/export_pot.py
