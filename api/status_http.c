#include "status_http.h"

#include "../common/status.h"

static const vx_status_http table[] = {
    {VX_OK, 200, "ok", 0},
    {VX_E_INTERNAL, 500, "internal", 0},
    {VX_E_BAD_INPUT, 400, "bad_parameter", 0},
    {VX_E_NOT_FOUND, 404, "not_found", 0},
    {VX_E_MODEL_MISSING, 503, "model_missing", 0},
    {VX_E_BUSY, 503, "overloaded", 1},
    {VX_E_LOG_UNAVAILABLE, 503, "log_unavailable", 1},
    {VX_E_NOT_READY, 503, "not_ready", 5},
    {VX_E_DISABLED, 501, "disabled", 0},
    {VX_E_STORAGE, 507, "storage_unavailable", 0},
};

const vx_status_http *vx_status_to_http(int status) {
    for (unsigned i = 0; i < sizeof table / sizeof *table; i++)
        if (table[i].status == status) return &table[i];
    return &table[1];
}
