from . import crm_sync_backend
