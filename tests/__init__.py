from . import test_crm_sync_backend
