import { registry } from "@web/core/registry";

// Settles a possible duplicate from the exceptions view with the resolve
// wizard's "Link to this one". tests/test_ui_tour.py creates the exception.
registry.category("web_tour.tours").add("external_crm_sync_duplicate_tour", {
    url: "/odoo/action-external_crm_sync.crm_sync_job_exception_action",
    steps: () => [
        {
            content: "Open the 'Possible duplicate' group of exceptions",
            trigger: ".o_group_header:contains('Possible duplicate')",
            run: "click",
        },
        {
            content: "Open the possible duplicate",
            trigger: ".o_data_row .o_data_cell",
            run: "click",
        },
        {
            content: "Open the resolve wizard",
            trigger: ".o_statusbar_buttons button[name='action_open_resolution']",
            run: "click",
        },
        {
            content: "Link the CRM company to the first candidate",
            trigger: ".modal .o_data_row:contains('Fenwick Joinery') button[name='action_link']",
            run: "click",
        },
        {
            content: "The wizard is closed and the job is done",
            trigger: "body:not(:has(.modal)) .o_statusbar_status .o_arrow_button_current:contains('Done')",
        },
    ],
});
