from . import crm_sync_resolve_wizard
from . import crm_sync_resolve_wizard_line
