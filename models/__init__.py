from . import crm_sync_backend
from . import crm_sync_binding
from . import crm_sync_field_rule
from . import crm_sync_audit_log
from . import res_partner
from . import crm_sync_synchronizer
from . import crm_sync_importer
from . import crm_sync_exporter
