"""A HubSpot-like CRM server for tests and demos (standalone, standard library only).

It is not part of the Odoo addon's import tree and never imports odoo.
See README.md beside this file.
"""
