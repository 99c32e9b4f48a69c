from . import test_crm_sync_backend
from . import test_crm_sync_job
from . import test_partner_import
from . import test_webhook
from . import test_partner_export
from . import test_partner_conflicts
from . import test_field_rules
from . import test_sync_now
