/*
 * libFuzzer target for an upstream's response head: the status line, then
 * header lines up to the empty line with the same strict parser the client
 * side uses (underscores allowed, as a proxy must pass them on), and the
 * Content-Length value checked against a plain reference.
 *
 * As in fuzz_http_request, the head is parsed at once from an exact-size
 * copy and again a byte at a time, as from the slowest upstream; both must
 * see the same lines with the same results.
 */
#include "pt_http.h"


#define FUZZ_MAX_EVENTS      (PT_HTTP_MAX_HEADERS + 2)
#define FUZZ_SLOW_MAX_SIZE   2048


typedef struct {
    pt_int_t   rc;
    size_t     pos;
    size_t     a_start, a_end;      /* status: code..reason; header: name */
    size_t     b_start, b_end;      /* header: value */
    pt_uint_t  n1, n2;              /* status: code, version; */
                                    /* header: hash, lowcase_index */
} fuzz_event_t;


typedef struct {
    fuzz_event_t  ev[FUZZ_MAX_EVENTS];
    pt_uint_t     n;
    pt_int_t      last;
} fuzz_log_t;


static void
fuzz_content_length(u_char *p, size_t len)
{
    off_t     n, ref;
    size_t    i;
    pt_int_t  rc, want;

    want = (len > 0) ? PT_OK : PT_ERROR;
    ref = 0;

    for (i = 0; i < len && want == PT_OK; i++) {
        if (p[i] < '0' || p[i] > '9') {
            want = PT_ERROR;

        } else if (ref > (INT64_MAX - (p[i] - '0')) / 10) {
            want = PT_ERROR;

        } else {
            ref = ref * 10 + (p[i] - '0');
        }
    }

    n = -1;
    rc = pt_http_parse_content_length(p, len, &n);

    if (rc != want || (rc == PT_OK && n != ref)) {
        abort();
    }
}


static void
fuzz_status(pt_http_status_t *st, u_char *line)
{
    u_char  *p;

    if (st->code < 100 || st->code > 599
        || st->http_version < 1000 || st->http_version > 1009
        || st->start != line + 9 || st->end < st->start + 3)
    {
        abort();
    }

    if ((pt_uint_t) ((st->start[0] - '0') * 100 + (st->start[1] - '0') * 10
                     + (st->start[2] - '0')) != st->code)
    {
        abort();
    }

    /* the reason: field characters only */
    for (p = st->start + 3; p < st->end; p++) {
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
            abort();
        }
    }
}


static void
fuzz_header(pt_http_request_t *r)
{
    size_t     len;
    pt_uint_t  i;

    len = r->header_name_end - r->header_name_start;

    if (len == 0 || r->header_hash != pt_hash_key_lc(r->header_name_start, len)
        || r->lowcase_index != len || r->invalid_header)
    {
        abort();
    }

    for (i = 0; i < len && i < PT_HTTP_LC_HEADER_LEN; i++) {
        if (r->lowcase_header[i] != pt_tolower(r->header_name_start[i])) {
            abort();
        }
    }

    if (r->header_end < r->header_start
        || (r->header_end > r->header_start
            && (r->header_start[0] == ' ' || r->header_start[0] == '\t'
                || r->header_end[-1] == ' ' || r->header_end[-1] == '\t')))
    {
        abort();
    }

    if (len == 14
        && pt_strncasecmp(r->header_name_start, (u_char *) "content-length",
                          14) == 0)
    {
        fuzz_content_length(r->header_start,
                            r->header_end - r->header_start);
    }
}


static size_t
fuzz_off(u_char *p, u_char *base)
{
    return p ? (size_t) (p - base) + 1 : 0;
}


/* Parses one line of what is in b: 1 go on, 0 wait for more, -1 stop. */
static int
fuzz_step(pt_http_request_t *r, pt_buf_t *b, u_char *base, fuzz_log_t *log,
    pt_uint_t *in_headers, pt_uint_t check)
{
    u_char            *line;
    pt_int_t           rc;
    fuzz_event_t      *ev;
    pt_http_status_t   st;

    line = b->pos;

    if (!*in_headers) {
        pt_memzero(&st, sizeof(pt_http_status_t));
        rc = pt_http_parse_status_line(r, b, &st);

    } else {
        rc = pt_http_parse_header_line(r, b, 1);
    }

    if (b->pos < b->start || b->pos > b->last) {
        abort();
    }

    if (rc == PT_AGAIN) {
        if (b->pos != line) {
            abort();
        }

        log->last = PT_AGAIN;
        return 0;
    }

    ev = &log->ev[log->n++];
    pt_memzero(ev, sizeof(fuzz_event_t));
    ev->rc = (rc == PT_OK || rc == PT_HTTP_PARSE_HEADER_DONE) ? rc : PT_ERROR;
    log->last = ev->rc;

    if (rc != PT_OK) {
        return -1;
    }

    ev->pos = b->pos - base;

    if (!*in_headers) {
        if (check) {
            fuzz_status(&st, line);
        }

        ev->a_start = fuzz_off(st.start, base);
        ev->a_end = fuzz_off(st.end, base);
        ev->n1 = st.code;
        ev->n2 = st.http_version;

        *in_headers = 1;
        return 1;
    }

    if (check) {
        fuzz_header(r);
    }

    ev->a_start = fuzz_off(r->header_name_start, base);
    ev->a_end = fuzz_off(r->header_name_end, base);
    ev->b_start = fuzz_off(r->header_start, base);
    ev->b_end = fuzz_off(r->header_end, base);
    ev->n1 = r->header_hash;
    ev->n2 = r->lowcase_index;

    return (log->n < FUZZ_MAX_EVENTS) ? 1 : -1;
}


/*
 * Parses data with step bytes more visible each time (step 0: all at once),
 * each time from a fresh exact-size copy.
 */
static void
fuzz_parse(const uint8_t *data, size_t size, size_t step, fuzz_log_t *log)
{
    int                 go;
    size_t              seen, pos;
    u_char             *copy;
    pt_buf_t            b;
    pt_uint_t           in_headers;
    pt_pool_t          *pool;
    pt_http_request_t  *r;

    pool = pt_create_pool(4096, NULL);
    if (pool == NULL) {
        abort();
    }

    r = pt_pcalloc(pool, sizeof(pt_http_request_t));
    if (r == NULL) {
        abort();
    }

    r->pool = pool;

    in_headers = 0;
    pos = 0;
    seen = step ? 0 : size;

    do {
        seen = step ? pt_min(seen + step, size) : size;

        copy = malloc(seen ? seen : 1);
        if (copy == NULL) {
            abort();
        }

        if (seen) {
            memcpy(copy, data, seen);
        }

        pt_memzero(&b, sizeof(pt_buf_t));
        b.start = copy;
        b.pos = copy + pos;
        b.last = copy + seen;
        b.end = copy + seen;

        do {
            go = fuzz_step(r, &b, copy, log, &in_headers, step == 0);
        } while (go == 1);

        pos = b.pos - copy;
        free(copy);

    } while (go == 0 && seen < size);

    pt_destroy_pool(pool);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pt_uint_t    i;
    fuzz_log_t  *once, *slow;

    static fuzz_log_t  logs[2];

    once = &logs[0];
    slow = &logs[1];
    once->n = 0;
    slow->n = 0;
    once->last = PT_AGAIN;
    slow->last = PT_AGAIN;

    fuzz_parse(data, size, 0, once);

    if (size > FUZZ_SLOW_MAX_SIZE) {
        return 0;
    }

    fuzz_parse(data, size, 1, slow);

    if (once->n != slow->n || once->last != slow->last) {
        abort();
    }

    for (i = 0; i < once->n; i++) {
        if (memcmp(&once->ev[i], &slow->ev[i], sizeof(fuzz_event_t)) != 0) {
            abort();
        }
    }

    return 0;
}
