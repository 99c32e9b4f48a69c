from . import crm_sync_resolve_wizard
from . import crm_sync_resolve_wizard_line
from . import base_partner_merge_automatic_wizard
