{
    "name": "External CRM Sync",
    "summary": "Keep Odoo and an external CRM (HubSpot first) in step: customers, "
    "quotes, orders and invoices",
    "version": "18.0.1.0.0",
    "category": "Sales/CRM",
    "license": "LGPL-3",
    "author": "External CRM Sync contributors",
    "maintainers": ["external-crm-sync"],
    "depends": ["contacts", "sale_management", "sale_stock", "account"],
    "external_dependencies": {"python": ["requests", "zeep", "phonenumbers"]},
    "data": [
        "security/crm_sync_security.xml",
        "security/ir.model.access.csv",
        "views/crm_sync_backend_views.xml",
        "views/crm_sync_menus.xml",
    ],
    "demo": [
        "demo/crm_sync_backend_demo.xml",
    ],
    "installable": True,
    "application": True,
}
