/* vidx command line: going through a running service.
 *
 * While `vidx serve` runs on a data folder it owns it (LevelDB admits one process), so
 * commands that need the folder ask the service instead, over HTTP on loopback, with the
 * token the service wrote into DATA/service (api/serve.h). They get the very documents
 * the API returns and print them as they would print their own.
 */
#ifndef VX_CLI_REMOTE_H
#define VX_CLI_REMOTE_H

#include <jansson.h>

#include "../common/error.h"

typedef struct cli_remote cli_remote;

/* The service running on data_dir, or NULL when none answers there. */
cli_remote *cli_remote_find(const char *data_dir);
void cli_remote_free(cli_remote *r);

/* One request ("GET", "POST"); body may be NULL, else len bytes of content_type. *status
 * is the HTTP status and *doc the JSON answer (json_decref). -1 with err when the
 * service could not be reached or its answer is not JSON. */
int cli_remote_call(cli_remote *r, const char *method, const char *uri, const void *body, size_t len,
                    const char *content_type, int *status, json_t **doc, vx_error *err);

/* The message of an {"error": {...}} answer, or a fallback. */
const char *cli_remote_error(const json_t *doc);

/* s percent-encoded for a query string or path segment, into out. */
void cli_url_encode(const char *s, char *out, size_t size);

#endif
