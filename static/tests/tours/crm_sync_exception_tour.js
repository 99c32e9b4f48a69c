import { registry } from "@web/core/registry";

// Opens the exceptions view, retries one exception, then opens the partner's
// audit trail. tests/test_ui_tour.py creates the exception and the audit entry.
registry.category("web_tour.tours").add("external_crm_sync_exception_tour", {
    url: "/odoo/action-external_crm_sync.crm_sync_job_exception_action",
    steps: () => [
        {
            content: "Open the 'Invalid value' group of exceptions",
            trigger: ".o_group_header:contains('Invalid value')",
            run: "click",
        },
        {
            content: "Open the exception of the tour contact",
            trigger: ".o_data_row .o_data_cell",
            run: "click",
        },
        {
            content: "The form shows the error in plain words",
            trigger: ".o_form_view .alert-danger:contains('is not a valid phone number')",
        },
        {
            content: "Retry the exception",
            trigger: ".o_statusbar_buttons button[name='action_retry']",
            run: "click",
        },
        {
            content: "The job is back in the queue",
            trigger: ".o_statusbar_status .o_arrow_button_current:contains('Pending')",
        },
        {
            content: "Open the partner of the job",
            trigger: "button[name='action_open_record']",
            run: "click",
        },
        {
            content: "Open the partner's CRM audit trail",
            trigger: ".o_form_view button[name='action_view_crm_sync_audit']",
            run: "click",
        },
        {
            content: "The audit trail lists the synced field",
            trigger: ".o_list_view .o_data_row:contains('tour-old@example.com')",
        },
    ],
});
