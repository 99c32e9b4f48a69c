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
        "data/crm_sync_cron_data.xml",
        "views/crm_sync_backend_views.xml",
        "views/crm_sync_field_rule_views.xml",
        "views/crm_sync_binding_views.xml",
        "views/crm_sync_audit_log_views.xml",
        "views/crm_sync_resolve_wizard_views.xml",
        "views/res_partner_views.xml",
        "views/crm_sync_menus.xml",
    ],
    "demo": [
        "demo/crm_sync_backend_demo.xml",
    ],
    "installable": True,
    "application": True,
}
