/*
 * libFuzzer target for the health module's reading and judging of a
 * check's answer (reached by including the module's source): the response
 * head through pt_http_upstream_hc_parse_head and the status and header
 * tests of a match block, then the body (Content-Length, chunked, or to
 * the end of the connection) through pt_http_upstream_hc_take_body and the
 * body tests. The input is what the server sent.
 *
 * The match blocks come from a fixed configuration read once, as
 * "portico -t" would. The driver does what pt_http_upstream_hc_read and
 * _head_done do around those functions, without a socket: the input goes
 * into a head buffer of the module's size in pieces, as recv() would
 * bring it. For each match block (and none), the verdict must be the same
 * whether the answer comes at once, a byte at a time, or in pieces of
 * another size; the buffers are exact-size heap memory, so that any read
 * or write past them is caught.
 */
#include "../../modules/pt_http_upstream_health_module.c"

#include "fuzz_cycle.h"


#define FUZZ_HC_MAX_SIZE        (PT_HTTP_UPSTREAM_HC_HEAD_SIZE + 4096)


static const char  fuzz_conf_text[] =
    "events { }\n"
    "http {\n"
    "    access_log off;\n"
    "\n"
    "    match ok {\n"
    "        status 200-399;\n"
    "        status ! 301-303 307;\n"
    "        header Content-Type = text/html;\n"
    "        header Content-Type != text/plain;\n"
    "        header Connection ~ close;\n"
    "        header Connection !~ keep;\n"
    "        header Host;\n"
    "        header ! X-Accel-Redirect;\n"
    "        body ~ \"Welcome to nginx!\";\n"
    "        body !~ \"maintenance mode\";\n"
    "    }\n"
    "\n"
    "    match status_only {\n"
    "        status 200 204;\n"
    "    }\n"
    "\n"
    "    match body {\n"
    "        status 200;\n"
    "        body ~ \"^OK\\b\";\n"
    "        body !~ \"(?i)error\";\n"
    "    }\n"
    "\n"
    "    match empty { }\n"
    "\n"
    "    server {\n"
    "        listen 127.0.0.1:18003;\n"
    "    }\n"
    "}\n";


/* how a check ended, and why */
typedef struct {
    pt_uint_t    result;
    const char  *reason;
    size_t       body;          /* the bytes the body tests saw */
} fuzz_verdict_t;


static pt_http_upstream_hc_main_conf_t   *fuzz_hmcf;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    pt_cycle_t  *cycle;

    cycle = fuzz_cycle_from_conf("health", fuzz_conf_text,
                                 sizeof(fuzz_conf_text) - 1);

    fuzz_hmcf = pt_http_cycle_get_module_main_conf(cycle,
                                             pt_http_upstream_health_module);
    if (fuzz_hmcf == NULL || fuzz_hmcf->matches.nelts != 4) {
        abort();
    }

    /* what pt_http_upstream_hc_init_process makes for the parsers */
    pt_http_upstream_hc_request = calloc(1, sizeof(pt_http_request_t));
    if (pt_http_upstream_hc_request == NULL) {
        abort();
    }

    return 0;
}


/* pt_http_upstream_hc_head_done without the booking: 1 when decided */
static int
fuzz_head_done(pt_http_upstream_hc_peer_t *p, fuzz_verdict_t *v)
{
    size_t    size;
    pt_int_t  rc;

    if (pt_http_upstream_hc_check_head(p) != PT_OK) {
        v->result = PT_HTTP_UPSTREAM_HC_FAILED;
        v->reason = p->reason;
        return 1;
    }

    if (p->conf->match == NULL || !p->conf->match->body) {
        v->result = PT_HTTP_UPSTREAM_HC_PASSED;
        return 1;
    }

    if (p->status_n == PT_HTTP_NO_CONTENT
        || p->status_n == PT_HTTP_NOT_MODIFIED)
    {
        p->length = 0;
    } else if (p->is_chunked) {
        p->length = -2;
    } else if (p->has_length) {
        p->length = p->content_length;
    } else {
        p->length = -1;
    }

    size = PT_HTTP_UPSTREAM_HC_BODY_SIZE;

    if (p->length >= 0 && p->length < (off_t) size) {
        size = (size_t) p->length;
    }

    p->body.start = malloc(size + 1);
    if (p->body.start == NULL) {
        abort();
    }

    p->body.last = p->body.start;
    p->body.end = p->body.start + size;
    p->state = PT_HTTP_UPSTREAM_HC_READ_BODY;

    rc = pt_http_upstream_hc_take_body(p);

    if (rc == PT_AGAIN) {
        return 0;
    }

    if (rc == PT_OK) {
        rc = pt_http_upstream_hc_check_body(p);
    }

    v->result = (rc == PT_OK) ? PT_HTTP_UPSTREAM_HC_PASSED
                              : PT_HTTP_UPSTREAM_HC_FAILED;
    v->reason = p->reason;

    return 1;
}


/*
 * One check of data against a match block (NULL: none), the data coming
 * in pieces of step bytes (0: as much as fits), as
 * pt_http_upstream_hc_read takes them.
 */
static void
fuzz_check(pt_http_upstream_hc_match_t *m, const uint8_t *data, size_t size,
    size_t step, fuzz_verdict_t *v)
{
    size_t                       off, n;
    pt_int_t                     rc;
    pt_buf_t                    *b;
    pt_http_upstream_hc_conf_t   hc;
    pt_http_upstream_hc_peer_t   p;

    pt_memzero(&hc, sizeof(pt_http_upstream_hc_conf_t));
    pt_memzero(&p, sizeof(pt_http_upstream_hc_peer_t));
    pt_memzero(v, sizeof(fuzz_verdict_t));

    hc.match = m;
    p.conf = &hc;
    p.state = PT_HTTP_UPSTREAM_HC_HEAD;

    p.head.start = malloc(PT_HTTP_UPSTREAM_HC_HEAD_SIZE);
    p.seen = calloc(1, PT_HTTP_UPSTREAM_HC_MAX_TESTS);

    if (p.head.start == NULL || p.seen == NULL) {
        abort();
    }

    b = &p.head;
    b->pos = b->start;
    b->last = b->start;
    b->end = b->start + PT_HTTP_UPSTREAM_HC_HEAD_SIZE;

    off = 0;

    for ( ;; ) {

        if (b->last == b->end) {
            v->result = PT_HTTP_UPSTREAM_HC_FAILED;
            v->reason = "too big response head";
            break;
        }

        if (off == size) {
            /* the server closed the connection */
            if (p.state == PT_HTTP_UPSTREAM_HC_READ_BODY && p.length == -1) {
                rc = pt_http_upstream_hc_check_body(&p);
                v->result = (rc == PT_OK) ? PT_HTTP_UPSTREAM_HC_PASSED
                                          : PT_HTTP_UPSTREAM_HC_FAILED;
                v->reason = p.reason;
                break;
            }

            v->result = PT_HTTP_UPSTREAM_HC_FAILED;
            v->reason = "connection closed prematurely";
            break;
        }

        n = pt_min((size_t) (b->end - b->last), size - off);

        if (step) {
            n = pt_min(n, step);
        }

        memcpy(b->last, data + off, n);
        b->last += n;
        off += n;

        if (p.state == PT_HTTP_UPSTREAM_HC_HEAD) {
            rc = pt_http_upstream_hc_parse_head(&p);

            if (rc == PT_AGAIN) {
                continue;
            }

            if (rc == PT_ERROR) {
                v->result = PT_HTTP_UPSTREAM_HC_FAILED;
                v->reason = p.reason;
                break;
            }

            if (fuzz_head_done(&p, v)) {
                break;
            }

            continue;
        }

        rc = pt_http_upstream_hc_take_body(&p);

        if (rc == PT_AGAIN) {
            continue;
        }

        if (rc == PT_OK) {
            rc = pt_http_upstream_hc_check_body(&p);
        }

        v->result = (rc == PT_OK) ? PT_HTTP_UPSTREAM_HC_PASSED
                                  : PT_HTTP_UPSTREAM_HC_FAILED;
        v->reason = p.reason;
        break;
    }

    if (p.body.start) {
        v->body = p.body.last - p.body.start;

        if (p.body.last < p.body.start || p.body.last > p.body.end
            || v->body > PT_HTTP_UPSTREAM_HC_BODY_SIZE
            || (p.has_length && !p.is_chunked
                && (off_t) v->body > p.content_length))
        {
            abort();
        }
    }

    /* a pass needs a status line, and passes every status test */
    if (v->result == PT_HTTP_UPSTREAM_HC_PASSED
        && (p.status_n < 200 || p.status_n > 599
            || (m == NULL && p.status_n > 399)))
    {
        abort();
    }

    free(p.body.start);
    free(p.seen);
    free(p.head.start);
}


static void
fuzz_same(fuzz_verdict_t *a, fuzz_verdict_t *b)
{
    if (a->result != b->result || a->body != b->body
        || (a->reason == NULL) != (b->reason == NULL)
        || (a->reason && strcmp(a->reason, b->reason) != 0))
    {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                        step;
    pt_uint_t                     i;
    fuzz_verdict_t                whole, piece;
    pt_http_upstream_hc_match_t  *m, *matches;

    if (size > FUZZ_HC_MAX_SIZE) {
        return -1;
    }

    matches = fuzz_hmcf->matches.elts;

    /* another piece size for each input */
    step = size ? 2 + data[size - 1] % 61 : 2;

    for (i = 0; i <= fuzz_hmcf->matches.nelts; i++) {
        m = (i < fuzz_hmcf->matches.nelts) ? &matches[i] : NULL;

        fuzz_check(m, data, size, 0, &whole);

        fuzz_check(m, data, size, 1, &piece);
        fuzz_same(&whole, &piece);

        fuzz_check(m, data, size, step, &piece);
        fuzz_same(&whole, &piece);
    }

    return 0;
}
