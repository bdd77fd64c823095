#include "config.h"

#include <stdio.h>
#include <stdlib.h>

const char *vx_resolve_db(const char *flag) {
    if (flag && *flag) return flag;
    const char *env = getenv("VIDX_DB");
    if (env && *env) return env;
    return VX_DEFAULT_DB;
}

int vx_default_models_dir(const char *name, char *out, size_t out_size) {
    const char *xdg = getenv("XDG_DATA_HOME");
    int n;
    if (xdg && *xdg) {
        n = snprintf(out, out_size, "%s/vidx/models/%s", xdg, name);
    } else {
        const char *home = getenv("HOME");
        if (!home || !*home) return -1;
        n = snprintf(out, out_size, "%s/.local/share/vidx/models/%s", home, name);
    }
    return (n < 0 || (size_t)n >= out_size) ? -1 : 0;
}

int vx_default_model_dir(char *out, size_t out_size) { return vx_default_models_dir(VX_DEFAULT_MODEL_NAME, out, out_size); }
