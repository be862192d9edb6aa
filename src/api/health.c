/*
 * GET /health: liveness and readiness in one. It answers 200 when this thread's database
 * connection can read the schema version, else 503, so an orchestrator restarts or drains
 * an instance whose storage is gone.
 */
#include "identityd/api.h"
#include "identityd/respond.h"

void idd_api_health(idd_request_t *r)
{
    int version = 0;
    if (idd_store_schema_version(r->thread->store, &version) != 0) {
        idd_respond_error(r->req, 503, "Database unavailable");
        return;
    }
    static const char ok[] = "{\"status\":\"ok\"}";
    idd_respond_json(r->req, 200, ok, sizeof(ok) - 1);
}
