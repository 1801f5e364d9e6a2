/*
 * The HTTP/1.x parser, strict per RFC 9110 and 9112. It works in place, a
 * line at a time: a line is looked at only once its LF has arrived, and
 * everything it yields is a slice of the read buffer. Anything ambiguous
 * (bare CR or LF, obs-fold, white space before a colon, a fragment, stray
 * control characters) is an error, never a guess.
 */
#include "pt_http.h"


/* tchar per RFC 9110 5.6.2 */
static const uint8_t  pt_http_tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
    ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
    ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
    ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
    ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
    ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

#define pt_http_is_tchar(c)  pt_http_tchar[(u_char) (c)]


/* field-vchar, SP and HTAB: what a field value may hold */
#define pt_http_is_field_char(c)                                             \
    ((c) == '\t' || ((c) >= 0x20 && (c) != 0x7f))

/*
 * A tchar lowercased in the low byte, with 0x100 set (0 for anything not a
 * tchar) and 0x200 for "_": header names lowercased and judged in one
 * lookup per octet.
 */
#define PT_LC(c)  (0x100 | (c))

static const uint16_t  pt_http_lc_tchar[256] = {
    ['!'] = PT_LC('!'), ['#'] = PT_LC('#'), ['$'] = PT_LC('$'),
    ['%'] = PT_LC('%'), ['&'] = PT_LC('&'), ['\''] = PT_LC('\''),
    ['*'] = PT_LC('*'), ['+'] = PT_LC('+'), ['-'] = PT_LC('-'),
    ['.'] = PT_LC('.'), ['^'] = PT_LC('^'), ['_'] = PT_LC('_') | 0x200,
    ['`'] = PT_LC('`'), ['|'] = PT_LC('|'), ['~'] = PT_LC('~'),
    ['0'] = PT_LC('0'), ['1'] = PT_LC('1'), ['2'] = PT_LC('2'),
    ['3'] = PT_LC('3'), ['4'] = PT_LC('4'), ['5'] = PT_LC('5'),
    ['6'] = PT_LC('6'), ['7'] = PT_LC('7'), ['8'] = PT_LC('8'),
    ['9'] = PT_LC('9'), ['A'] = PT_LC('a'), ['B'] = PT_LC('b'),
    ['C'] = PT_LC('c'), ['D'] = PT_LC('d'), ['E'] = PT_LC('e'),
    ['F'] = PT_LC('f'), ['G'] = PT_LC('g'), ['H'] = PT_LC('h'),
    ['I'] = PT_LC('i'), ['J'] = PT_LC('j'), ['K'] = PT_LC('k'),
    ['L'] = PT_LC('l'), ['M'] = PT_LC('m'), ['N'] = PT_LC('n'),
    ['O'] = PT_LC('o'), ['P'] = PT_LC('p'), ['Q'] = PT_LC('q'),
    ['R'] = PT_LC('r'), ['S'] = PT_LC('s'), ['T'] = PT_LC('t'),
    ['U'] = PT_LC('u'), ['V'] = PT_LC('v'), ['W'] = PT_LC('w'),
    ['X'] = PT_LC('x'), ['Y'] = PT_LC('y'), ['Z'] = PT_LC('z'),
    ['a'] = PT_LC('a'), ['b'] = PT_LC('b'), ['c'] = PT_LC('c'),
    ['d'] = PT_LC('d'), ['e'] = PT_LC('e'), ['f'] = PT_LC('f'),
    ['g'] = PT_LC('g'), ['h'] = PT_LC('h'), ['i'] = PT_LC('i'),
    ['j'] = PT_LC('j'), ['k'] = PT_LC('k'), ['l'] = PT_LC('l'),
    ['m'] = PT_LC('m'), ['n'] = PT_LC('n'), ['o'] = PT_LC('o'),
    ['p'] = PT_LC('p'), ['q'] = PT_LC('q'), ['r'] = PT_LC('r'),
    ['s'] = PT_LC('s'), ['t'] = PT_LC('t'), ['u'] = PT_LC('u'),
    ['v'] = PT_LC('v'), ['w'] = PT_LC('w'), ['x'] = PT_LC('x'),
    ['y'] = PT_LC('y'), ['z'] = PT_LC('z'),
};

/*
 * Does [p, end) hold only field-value octets (VCHAR, obs-text, SP, HTAB)?
 * Eight at a time: a word without a byte below 0x20 and without 0x7f is
 * good as it is; only a word that has one (a tab, or a bad octet) is
 * looked at octet by octet.
 */
static pt_uint_t
pt_http_field_chars(const u_char *p, const u_char *end)
{
    uint64_t  w, low, del;

    while (end - p >= 8) {
        pt_memcpy(&w, p, 8);

        low = (w - 0x2020202020202020ULL) & ~w & 0x8080808080808080ULL;
        del = ((w ^ 0x7f7f7f7f7f7f7f7fULL) - 0x0101010101010101ULL)
              & ~(w ^ 0x7f7f7f7f7f7f7f7fULL) & 0x8080808080808080ULL;

        if (low | del) {
            for (w = 0; w < 8; w++) {
                if (!pt_http_is_field_char(p[w])) {
                    return 0;
                }
            }
        }

        p += 8;
    }

    for ( /* void */ ; p < end; p++) {
        if (!pt_http_is_field_char(*p)) {
            return 0;
        }
    }

    return 1;
}


/* request-target octets: no controls, no space */
#define pt_http_is_target_char(c)  ((c) > 0x20 && (c) != 0x7f)


typedef struct {
    pt_str_t   name;
    pt_uint_t  method;
} pt_http_method_name_t;


static pt_http_method_name_t  pt_http_methods[] = {
    { pt_string("GET"),       PT_HTTP_GET },
    { pt_string("HEAD"),      PT_HTTP_HEAD },
    { pt_string("POST"),      PT_HTTP_POST },
    { pt_string("PUT"),       PT_HTTP_PUT },
    { pt_string("DELETE"),    PT_HTTP_DELETE },
    { pt_string("OPTIONS"),   PT_HTTP_OPTIONS },
    { pt_string("PATCH"),     PT_HTTP_PATCH },
    { pt_string("TRACE"),     PT_HTTP_TRACE },
    { pt_string("CONNECT"),   PT_HTTP_CONNECT },
    { pt_string("MKCOL"),     PT_HTTP_MKCOL },
    { pt_string("COPY"),      PT_HTTP_COPY },
    { pt_string("MOVE"),      PT_HTTP_MOVE },
    { pt_string("PROPFIND"),  PT_HTTP_PROPFIND },
    { pt_string("PROPPATCH"), PT_HTTP_PROPPATCH },
    { pt_string("LOCK"),      PT_HTTP_LOCK },
    { pt_string("UNLOCK"),    PT_HTTP_UNLOCK },
    { pt_null_string, 0 }
};


static pt_uint_t
pt_http_method(u_char *p, size_t len)
{
    pt_http_method_name_t  *m;

    for (m = pt_http_methods; m->name.len; m++) {
        if (m->name.len == len && pt_memcmp(m->name.data, p, len) == 0) {
            return m->method;
        }
    }

    return PT_HTTP_UNKNOWN;
}


/*
 * Parses "HTTP/D.D" at p (exactly 8 bytes). Returns PT_OK,
 * PT_HTTP_PARSE_INVALID_VERSION for a well-formed version we do not speak,
 * or PT_HTTP_PARSE_INVALID_REQUEST.
 */
static pt_int_t
pt_http_parse_version(u_char *p, size_t len, pt_uint_t *major,
    pt_uint_t *minor)
{
    if (len != 8 || pt_memcmp(p, "HTTP/", 5) != 0
        || p[5] < '0' || p[5] > '9' || p[6] != '.'
        || p[7] < '0' || p[7] > '9')
    {
        return PT_HTTP_PARSE_INVALID_REQUEST;
    }

    *major = p[5] - '0';
    *minor = p[7] - '0';

    if (*major != 1) {
        return PT_HTTP_PARSE_INVALID_VERSION;
    }

    return PT_OK;
}


/*
 * Finds the end of the line starting at p. Returns the LF, NULL when the
 * line is not complete yet; *bad is set when the line holds a bare CR or
 * ends with a bare LF.
 */
static u_char *
pt_http_find_line(u_char *p, u_char *last, pt_uint_t *bad)
{
    u_char  *lf, *cr;

    *bad = 0;

    lf = memchr(p, '\n', last - p);

    if (lf == NULL) {
        /*
         * Not a whole line yet: a bare CR already makes it bad. In a whole
         * line, every parser of a line checks each octet, and a CR is
         * never one they allow, so no second search is needed there.
         */
        cr = memchr(p, '\r', last - p);

        if (cr && cr + 1 < last && cr[1] != '\n') {
            *bad = 1;       /* bare CR */
        }

        return NULL;
    }

    if (lf == p || lf[-1] != '\r') {
        *bad = 1;           /* bare LF */
        return NULL;
    }

    return lf;
}


pt_int_t
pt_http_parse_request_line(pt_http_request_t *r, pt_buf_t *b)
{
    u_char     *p, *lf, *end, *sp, *target, *target_end, *h;
    pt_int_t    rc;
    pt_uint_t   bad, major, minor, n;

    p = b->pos;

    /*
     * RFC 9112 2.2: empty lines before the request line are ignored, a few
     * of them; r->state counts them across calls, so that a client sending
     * a byte at a time meets the same limit.
     */
    for (n = r->state; p + 1 < b->last && p[0] == '\r' && p[1] == '\n'; n++) {
        if (n == 8) {
            return PT_HTTP_PARSE_INVALID_REQUEST;
        }
        p += 2;
    }

    r->state = n;
    b->pos = p;

    if (p < b->last && !pt_http_is_tchar(*p) && *p != '\r') {
        /* garbage (a TLS hello, binary noise) is rejected at once */
        return PT_HTTP_PARSE_INVALID_METHOD;
    }

    lf = pt_http_find_line(p, b->last, &bad);

    if (bad) {
        return PT_HTTP_PARSE_INVALID_REQUEST;
    }

    if (lf == NULL) {
        /* a method must be tchars: reject early what cannot become one */
        for (h = p; h < b->last && *h != ' '; h++) {
            if (!pt_http_is_tchar(*h) && *h != '\r') {
                return PT_HTTP_PARSE_INVALID_METHOD;
            }
        }

        return PT_AGAIN;
    }

    end = lf - 1;                       /* the CR */

    /* a bare CR inside is a broken line end, whatever field it is in */
    if (memchr(p, '\r', end - p) != NULL) {
        return PT_HTTP_PARSE_INVALID_REQUEST;
    }

    r->request_start = p;
    r->request_end = end;

    /* method */

    for (h = p; h < end && pt_http_is_tchar(*h); h++) { /* void */ }

    if (h == p || h == end || *h != ' ') {
        return PT_HTTP_PARSE_INVALID_METHOD;
    }

    r->method_end = h;
    r->method_name.data = p;
    r->method_name.len = h - p;
    r->method = pt_http_method(p, h - p);

    /* request-target */

    target = h + 1;

    for (h = target; h < end && pt_http_is_target_char(*h); h++) {
        if (*h == '#') {
            return PT_HTTP_PARSE_INVALID_REQUEST;   /* no fragments */
        }
    }

    target_end = h;

    if (target == target_end) {
        return PT_HTTP_PARSE_INVALID_REQUEST;
    }

    if (h == end) {
        /* HTTP/0.9 has no version; we do not speak it */
        return PT_HTTP_PARSE_INVALID_09_METHOD;
    }

    if (*h != ' ') {
        return PT_HTTP_PARSE_INVALID_REQUEST;
    }

    sp = h;

    rc = pt_http_parse_version(sp + 1, end - sp - 1, &major, &minor);
    if (rc != PT_OK) {
        return rc;
    }

    r->http_major = major;
    r->http_minor = minor;
    r->http_version = major * 1000 + minor;
    r->http_protocol.data = sp + 1;
    r->http_protocol.len = 8;

    if (r->http_version > PT_HTTP_VERSION_11) {
        r->http_version = PT_HTTP_VERSION_11;   /* 1.x stays compatible */
    }

    r->request_line.data = r->request_start;
    r->request_line.len = r->request_end - r->request_start;

    /* the four forms of request-target */

    r->schema_start = NULL;
    r->host_start = NULL;
    r->args_start = NULL;

    if (*target == '/') {
        r->uri_start = target;

    } else if (*target == '*' && target_end == target + 1) {
        if (r->method != PT_HTTP_OPTIONS) {
            return PT_HTTP_PARSE_INVALID_REQUEST;
        }

        r->uri_start = target;

    } else if (r->method == PT_HTTP_CONNECT) {
        /* authority-form: a proxy feature Portico does not offer */
        r->uri_start = target;
        r->uri_end = target_end;
        r->unparsed_uri.data = target;
        r->unparsed_uri.len = target_end - target;
        b->pos = lf + 1;
        return PT_OK;

    } else {
        /* absolute-form: scheme "://" authority [path] */

        if (!((*target | 0x20) >= 'a' && (*target | 0x20) <= 'z')) {
            return PT_HTTP_PARSE_INVALID_REQUEST;
        }

        for (h = target; h < target_end; h++) {
            if (!(((*h | 0x20) >= 'a' && (*h | 0x20) <= 'z')
                  || (*h >= '0' && *h <= '9')
                  || *h == '+' || *h == '-' || *h == '.'))
            {
                break;
            }
        }

        if (target_end - h < 3 || pt_memcmp(h, "://", 3) != 0) {
            return PT_HTTP_PARSE_INVALID_REQUEST;
        }

        r->schema_start = target;
        r->schema_end = h;

        if (!((h - target == 4
               && pt_strncasecmp(target, (u_char *) "http", 4) == 0)
              || (h - target == 5
                  && pt_strncasecmp(target, (u_char *) "https", 5) == 0)))
        {
            return PT_HTTP_PARSE_INVALID_REQUEST;
        }

        h += 3;
        r->host_start = h;

        while (h < target_end && *h != '/' && *h != '?') {
            if (*h == '@') {
                return PT_HTTP_PARSE_INVALID_REQUEST;   /* userinfo */
            }
            h++;
        }

        r->host_end = h;

        if (r->host_end == r->host_start) {
            return PT_HTTP_PARSE_INVALID_REQUEST;
        }

        if (h == target_end || *h == '?') {
            r->empty_path_in_uri = 1;
        }

        r->uri_start = h;
    }

    /* split path and query */

    for (h = r->uri_start; h < target_end; h++) {
        if (*h == '?') {
            r->args_start = h + 1;
            break;
        }

        if (*h == '%' || *h == '\\') {
            r->quoted_uri = 1;
            r->complex_uri = 1;
        }

        if (*h == '/' && h + 1 < target_end
            && (h[1] == '/' || h[1] == '.'))
        {
            r->complex_uri = 1;
        }
    }

    r->uri_end = target_end;

    if (r->args_start) {
        r->args.data = r->args_start;
        r->args.len = target_end - r->args_start;
    }

    r->unparsed_uri.data = r->empty_path_in_uri ? (u_char *) "/"
                                                : r->uri_start;
    r->unparsed_uri.len = r->empty_path_in_uri ? 1
                                               : target_end - r->uri_start;

    if (r->empty_path_in_uri && r->args_start) {
        /* "http://host?a=b" is "/?a=b"; rebuilt by pt_http_parse_uri */
        r->unparsed_uri.data = NULL;
        r->unparsed_uri.len = 0;
    }

    b->pos = lf + 1;

    return PT_OK;
}


/*
 * pt_hash_key() of the lowercase name the parser wrote into r's
 * PT_HTTP_LC_HEADER_LEN octets (n <= that): whole words are read from the
 * array and the last one masked, which gives the same words as
 * pt_hash_key()'s copy of a partial one on a little-endian machine.
 */
static pt_uint_t
pt_http_hash_lc(const u_char *lc, size_t n)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    size_t    k;
    uint64_t  h, w;

    if (n == 0) {
        return 0;
    }

    h = n;

    for (k = 0; k + 8 <= n; k += 8) {
        pt_memcpy(&w, lc + k, 8);
        h = (h ^ w) * PT_HASH_MUL;
    }

    if (n & 7) {
        pt_memcpy(&w, lc + k, 8);
        w &= (1ULL << (8 * (n & 7))) - 1;
        h = (h ^ w) * PT_HASH_MUL;
    }

    h ^= h >> 32;

    return (pt_uint_t) (h ? h : 1);
#else
    return pt_hash_key(lc, n);
#endif
}


/*
 * A header line (RFC 9112 section 5): PT_OK with the name, its lowercase
 * form (the first PT_HTTP_LC_HEADER_LEN octets), its hash and the value
 * (without OWS) in r; PT_HTTP_PARSE_HEADER_DONE at the empty line;
 * PT_AGAIN for more; PT_HTTP_PARSE_INVALID_HEADER.
 *
 * The common line, whole in the buffer and well formed, is read in one
 * pass: the name a table lookup per octet, the value eight octets at a
 * time up to its CR LF. Anything else (the end of the buffer reached, a
 * control octet other than HTAB, an obs-fold, a bad line end, the empty
 * line) goes to pt_http_parse_header_line_ref(), the plain reading of the
 * rules, which decides; its result is the same for every line the fast
 * path takes, which fuzz_http_request checks line by line.
 */
pt_int_t
pt_http_parse_header_line(pt_http_request_t *r, pt_buf_t *b,
    pt_uint_t allow_underscores)
{
    u_char     *p, *last, *h, *lc, *start;
    size_t      i, n;
    uint16_t    t, any;
    uint64_t    w, low, del;
    pt_uint_t   hash;

    p = b->pos;
    last = b->last;

    /* field-name, up to the first octet that is not a tchar */

    any = 0;
    lc = r->lowcase_header;
    n = pt_min((size_t) (last - p), PT_HTTP_LC_HEADER_LEN);

    for (i = 0; i < n; i++) {
        t = pt_http_lc_tchar[p[i]];

        if (!(t & 0x100)) {
            break;
        }

        lc[i] = (u_char) t;
        any |= t;
    }

    /* a name longer than the lowercase copy is left to the plain parser */

    h = p + i;

    if (h == p || h == last || *h != ':') {
        goto ref;
    }

    hash = pt_http_hash_lc(lc, i);

    r->header_name_start = p;
    r->header_name_end = h;

    /* OWS, then field-value octets up to the first control octet */

    for (h++; h < last && (*h == ' ' || *h == '\t'); h++) { /* void */ }

    start = h;

    /*
     * A word with an octet below 0x20 or 0x7f: the lowest flag of each test
     * is exact (a borrow only runs upwards), so on a little-endian machine
     * the first such octet is at the lowest flag, and a HTAB there is
     * stepped over.
     */
    while (last - h >= 8) {
        pt_memcpy(&w, h, 8);

        low = (w - 0x2020202020202020ULL) & ~w & 0x8080808080808080ULL;
        del = ((w ^ 0x7f7f7f7f7f7f7f7fULL) - 0x0101010101010101ULL)
              & ~(w ^ 0x7f7f7f7f7f7f7f7fULL) & 0x8080808080808080ULL;

        if ((low | del) == 0) {
            h += 8;
            continue;
        }

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        h += __builtin_ctzll(low | del) >> 3;

        if (*h != '\t') {
            break;
        }

        h++;
#else
        break;          /* octet by octet below */
#endif
    }

    for ( /* void */ ; h < last && pt_http_is_field_char(*h); h++) {
        /* void */
    }

    if (last - h < 2 || h[0] != '\r' || h[1] != '\n') {
        goto ref;
    }

    b->pos = h + 2;

    r->header_hash = hash;
    r->lowcase_index = r->header_name_end - p;
    r->invalid_header = (any & 0x200) && !allow_underscores;
    r->header_start = start;

    while (h > start && (h[-1] == ' ' || h[-1] == '\t')) {
        h--;
    }

    r->header_end = h;

    return PT_OK;

ref:

    return pt_http_parse_header_line_ref(r, b, allow_underscores);
}


/* Every header line as the rules read; see pt_http_parse_header_line(). */
pt_int_t
pt_http_parse_header_line_ref(pt_http_request_t *r, pt_buf_t *b,
    pt_uint_t allow_underscores)
{
    u_char     *p, *lf, *end, *h;
    uint16_t    t, all, any;
    pt_uint_t   bad, hash, i, n, m;

    p = b->pos;

    if (p < b->last && (*p == ' ' || *p == '\t')) {
        return PT_HTTP_PARSE_INVALID_HEADER;        /* obs-fold */
    }

    lf = pt_http_find_line(p, b->last, &bad);

    if (bad) {
        return PT_HTTP_PARSE_INVALID_HEADER;
    }

    if (lf == NULL) {
        return PT_AGAIN;
    }

    end = lf - 1;

    b->pos = lf + 1;

    if (end == p) {
        return PT_HTTP_PARSE_HEADER_DONE;
    }

    /*
     * field-name ":": the colon found first, then every octet of the name
     * lowercased, hashed and judged in one pass without a branch.
     */

    h = memchr(p, ':', end - p);

    if (h == NULL || h == p) {
        return PT_HTTP_PARSE_INVALID_HEADER;
    }

    n = h - p;
    m = pt_min(n, PT_HTTP_LC_HEADER_LEN);
    all = 0x100;
    any = 0;

    for (i = 0; i < m; i++) {
        t = pt_http_lc_tchar[p[i]];
        all &= t;
        any |= t;
        r->lowcase_header[i] = (u_char) t;
    }

    for ( /* void */ ; i < n; i++) {
        t = pt_http_lc_tchar[p[i]];
        all &= t;
        any |= t;
    }

    if (all == 0) {
        return PT_HTTP_PARSE_INVALID_HEADER;
    }

    hash = (n <= PT_HTTP_LC_HEADER_LEN) ? pt_hash_key(r->lowcase_header, n)
                                        : pt_hash_key_lc(p, n);

    r->invalid_header = (any & 0x200) && !allow_underscores;

    r->header_name_start = p;
    r->header_name_end = h;
    r->header_hash = hash;
    r->lowcase_index = i;

    /* OWS field-value OWS */

    for (h++; h < end && (*h == ' ' || *h == '\t'); h++) { /* void */ }

    r->header_start = h;

    if (!pt_http_field_chars(h, end)) {
        return PT_HTTP_PARSE_INVALID_HEADER;
    }

    h = end;

    while (h > r->header_start && (h[-1] == ' ' || h[-1] == '\t')) {
        h--;
    }

    r->header_end = h;

    return PT_OK;
}


static pt_int_t
pt_http_hex(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/*
 * Builds r->uri from the raw path: percent-decoding, then "." and ".."
 * segments resolved and (with merge_slashes) runs of "/" folded. A path
 * that would climb above "/" or that decodes to a NUL is invalid.
 */
pt_int_t
pt_http_normalize_uri(pt_http_request_t *r, pt_uint_t merge_slashes)
{
    u_char    *src, *end, *dst, *start, *seg, c;
    pt_int_t   hi, lo;

    src = r->uri_start;
    end = r->args_start ? r->args_start - 1 : r->uri_end;

    if (r->empty_path_in_uri) {
        pt_str_set(&r->uri, "/");
        return PT_OK;
    }

    if (src == end || *src != '/') {
        if (end - src == 1 && *src == '*') {
            pt_str_set(&r->uri, "*");
            return PT_OK;
        }

        return PT_ERROR;
    }

    start = pt_pnalloc(r->pool, end - src + 1);
    if (start == NULL) {
        return PT_ERROR;
    }

    /* pass 1: decode */

    dst = start;

    while (src < end) {
        c = *src++;

        if (c == '%') {
            if (end - src < 2) {
                return PT_DECLINED;
            }

            hi = pt_http_hex(src[0]);
            lo = pt_http_hex(src[1]);

            if (hi < 0 || lo < 0) {
                return PT_DECLINED;
            }

            c = (u_char) (hi * 16 + lo);
            src += 2;

            if (c == '\0') {
                return PT_DECLINED;
            }
        }

        *dst++ = c;
    }

    end = dst;

    /* pass 2: segments, in place (the output never outgrows the input) */

    src = start;
    dst = start;

    while (src < end) {
        /* src is at a "/" */
        seg = src + 1;

        while (seg < end && *seg != '/') {
            seg++;
        }

        /* the segment is (src + 1, seg) */

        if (seg == src + 1 && merge_slashes && seg < end) {
            src = seg;                  /* "//": drop the empty segment */
            continue;
        }

        if (seg - src == 2 && src[1] == '.') {
            /* "." */
            if (seg == end) {
                *dst++ = '/';
            }
            src = seg;
            continue;
        }

        if (seg - src == 3 && src[1] == '.' && src[2] == '.') {
            /* "..": back to the previous "/" */
            if (dst == start) {
                return PT_DECLINED;
            }

            do {
                dst--;
            } while (dst > start && *dst != '/');

            if (seg == end) {
                *dst++ = '/';
            }

            src = seg;
            continue;
        }

        pt_memmove(dst, src, seg - src);
        dst += seg - src;
        src = seg;
    }

    if (dst == start) {
        *dst++ = '/';
    }

    r->uri.data = start;
    r->uri.len = dst - start;

    r->exten.len = 0;
    r->exten.data = NULL;

    for (src = dst - 1; src > start; src--) {
        if (*src == '.') {
            r->exten.data = src + 1;
            r->exten.len = dst - src - 1;
            break;
        }

        if (*src == '/') {
            break;
        }
    }

    return PT_OK;
}


/* Sets r->uri, r->exten and r->unparsed_uri from the parsed request line. */
pt_int_t
pt_http_parse_uri(pt_http_request_t *r)
{
    u_char  *p, *end;

    if (r->unparsed_uri.data == NULL) {
        /* "http://host?args": the target was "/?args" */
        r->unparsed_uri.len = 1 + 1 + r->args.len;
        r->unparsed_uri.data = pt_pnalloc(r->pool, r->unparsed_uri.len);
        if (r->unparsed_uri.data == NULL) {
            return PT_ERROR;
        }

        p = r->unparsed_uri.data;
        *p++ = '/';
        *p++ = '?';
        pt_memcpy(p, r->args.data, r->args.len);
    }

    if (!r->complex_uri && !r->empty_path_in_uri) {
        r->uri.data = r->uri_start;
        r->uri.len = (r->args_start ? r->args_start - 1 : r->uri_end)
                     - r->uri_start;

        if (r->uri.len == 0) {
            return PT_DECLINED;
        }

        /*
         * A trailing "/." or "/.." also needs the slow path; not in the
         * authority form of CONNECT, which has no path to normalise.
         */
        end = r->uri.data + r->uri.len;

        if (r->uri.data[0] == '/'
            && ((r->uri.len >= 2 && end[-1] == '.' && end[-2] == '/')
                || (r->uri.len >= 3 && end[-1] == '.' && end[-2] == '.'
                    && end[-3] == '/')))
        {
            r->complex_uri = 1;
        }
    }

    r->exten.len = 0;
    r->exten.data = NULL;

    if (r->complex_uri || r->empty_path_in_uri) {
        return PT_OK;       /* the caller normalises with its merge_slashes */
    }

    for (p = r->uri.data + r->uri.len - 1; p > r->uri.data; p--) {
        if (*p == '.') {
            r->exten.data = p + 1;
            r->exten.len = r->uri.data + r->uri.len - p - 1;
            break;
        }

        if (*p == '/') {
            break;
        }
    }

    return PT_OK;
}


/*
 * Checks and canonicalises a Host value (or an absolute-form authority):
 * lowercase, port and a trailing dot removed. PT_DECLINED when invalid.
 */
pt_int_t
pt_http_validate_host(pt_str_t *host, pt_pool_t *pool, pt_uint_t alloc)
{
    u_char    *h, ch;
    size_t     i, dot_pos, host_len;
    pt_uint_t  state;

    enum {
        sw_usual = 0,
        sw_literal,
        sw_rest
    };

    dot_pos = host->len;
    host_len = host->len;

    h = host->data;
    state = sw_usual;

    for (i = 0; i < host->len; i++) {
        ch = h[i];

        switch (ch) {

        case '.':
            if (dot_pos == i - 1) {
                return PT_DECLINED;     /* ".." */
            }
            dot_pos = i;
            break;

        case ':':
            if (state == sw_usual) {
                host_len = i;
                state = sw_rest;
            }
            break;

        case '[':
            if (i == 0) {
                state = sw_literal;
            }
            break;

        case ']':
            if (state == sw_literal) {
                host_len = i + 1;
                state = sw_rest;
            }
            break;

        default:
            if (ch == '/' || ch == '\\' || ch == '\0' || ch <= 0x20
                || ch == 0x7f || ch == '@' || ch == '%')
            {
                return PT_DECLINED;
            }

            if (ch >= 'A' && ch <= 'Z') {
                alloc = 1;
            }

            break;
        }
    }

    if (state == sw_literal) {
        return PT_DECLINED;             /* "[" without "]" */
    }

    if (state == sw_rest && host_len < host->len) {
        /* ":" and the port: digits only, possibly empty */
        if (h[host_len] != ':') {
            return PT_DECLINED;         /* "[::1]x" */
        }

        for (i = host_len + 1; i < host->len; i++) {
            if (h[i] < '0' || h[i] > '9') {
                return PT_DECLINED;
            }
        }
    }

    if (dot_pos == host_len - 1) {
        host_len--;
    }

    if (host_len == 0) {
        return PT_DECLINED;
    }

    if (alloc) {
        host->data = pt_pnalloc(pool, host_len);
        if (host->data == NULL) {
            return PT_ERROR;
        }

        pt_strlow(host->data, h, host_len);
    }

    host->len = host_len;

    return PT_OK;
}


/*
 * Parses an upstream status line "HTTP/1.x NNN reason". Returns PT_OK,
 * PT_AGAIN, or PT_ERROR for anything that is not one.
 */
pt_int_t
pt_http_parse_status_line(pt_http_request_t *r, pt_buf_t *b,
    pt_http_status_t *status)
{
    u_char     *p, *lf, *end, *h;
    pt_uint_t   bad, major, minor, code;

    p = b->pos;

    if (b->last - p >= 5 && pt_memcmp(p, "HTTP/", 5) != 0) {
        return PT_ERROR;
    }

    lf = pt_http_find_line(p, b->last, &bad);

    if (bad) {
        return PT_ERROR;
    }

    if (lf == NULL) {
        return PT_AGAIN;
    }

    end = lf - 1;

    if (end - p < 12 || p[8] != ' ') {
        return PT_ERROR;
    }

    if (pt_http_parse_version(p, 8, &major, &minor) != PT_OK) {
        return PT_ERROR;
    }

    h = p + 9;

    if (h[0] < '1' || h[0] > '5' || h[1] < '0' || h[1] > '9'
        || h[2] < '0' || h[2] > '9')
    {
        return PT_ERROR;
    }

    code = (h[0] - '0') * 100 + (h[1] - '0') * 10 + (h[2] - '0');

    h += 3;

    if (h < end) {
        if (*h != ' ') {
            return PT_ERROR;
        }

        for (h++; h < end; h++) {
            if (!pt_http_is_field_char(*h)) {
                return PT_ERROR;
            }
        }
    }

    status->http_version = major * 1000 + minor;
    status->code = code;
    status->start = p + 9;
    status->end = end;

    b->pos = lf + 1;

    return PT_OK;
}


/* Content-Length: 1*DIGIT, nothing else; PT_ERROR on overflow or junk. */
pt_int_t
pt_http_parse_content_length(const u_char *p, size_t len, off_t *out)
{
    off_t   n;
    size_t  i;

    if (len == 0) {
        return PT_ERROR;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return PT_ERROR;
        }

        if (n > (PT_MAX_OFF_T_VALUE - (p[i] - '0')) / 10) {
            return PT_ERROR;
        }

        n = n * 10 + (p[i] - '0');
    }

    *out = n;

    return PT_OK;
}


/*
 * The next element of a comma-separated field value in [*p, last), OWS and
 * empty elements skipped: sets *start to it and moves *p past it; returns
 * its length, 0 at the end.
 */
size_t
pt_http_list_next(const u_char **p, const u_char *last, const u_char **start)
{
    const u_char  *q;

    for (q = *p; q < last && (*q == ' ' || *q == '\t' || *q == ','); q++) {
        /* void */
    }

    *start = q;

    while (q < last && *q != ',' && *q != ' ' && *q != '\t') {
        q++;
    }

    *p = q;

    return q - *start;
}


/* Does any of the fields of list name the token name (any case)? */
pt_uint_t
pt_http_token_in(pt_table_elt_t *list, const u_char *name, size_t len)
{
    size_t           n;
    const u_char    *p, *last, *start;
    pt_table_elt_t  *h;

    for (h = list; h; h = h->next) {
        p = h->value.data;
        last = p + h->value.len;

        while ((n = pt_http_list_next(&p, last, &start)) != 0) {
            if (n == len && pt_strncasecmp(start, name, len) == 0) {
                return 1;
            }
        }
    }

    return 0;
}


/*
 * A token of a header value against a lowercase literal of letters and
 * "-", in any case: setting the 0x20 bit lowercases a letter and leaves
 * "-" as it is; the only other octet it would turn into one of them is CR
 * (into "-"), which a field value never holds.
 */
static pt_uint_t
pt_http_token_eq(const u_char *p, const char *lc, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if ((p[i] | 0x20) != (u_char) lc[i]) {
            return 0;
        }
    }

    return 1;
}


/*
 * What a Connection header's value says, in one pass: PT_HTTP_CONN_* bits
 * for close, keep-alive and upgrade (any case), and PT_HTTP_CONN_OTHER when
 * it names anything else, which a proxy must then treat as hop-by-hop.
 */
pt_uint_t
pt_http_connection_tokens(const u_char *p, size_t len)
{
    size_t         n;
    pt_uint_t      flags;
    const u_char  *last, *start;

    flags = 0;
    last = p + len;

    while ((n = pt_http_list_next(&p, last, &start)) != 0) {

        if (n == 5 && pt_http_token_eq(start, "close", 5)) {
            flags |= PT_HTTP_CONN_CLOSE;

        } else if (n == 10 && pt_http_token_eq(start, "keep-alive", 10)) {
            flags |= PT_HTTP_CONN_KEEP_ALIVE;

        } else if (n == 7 && pt_http_token_eq(start, "upgrade", 7)) {
            flags |= PT_HTTP_CONN_UPGRADE;

        } else {
            flags |= PT_HTTP_CONN_OTHER;
        }
    }

    return flags;
}


/*
 * Which of the headers a proxy handles itself a lowercase name is: the
 * hop-by-hop ones of RFC 9110 section 7.6.1, the message framing
 * (Content-Length, Transfer-Encoding), Host and Expect; a PT_HTTP_HOP_*
 * bit, or 0 for any other name. One length switch and at most two
 * compares: it runs for every header of every proxied message.
 */
pt_uint_t
pt_http_hop_header(const u_char *lc, size_t len)
{
    switch (len) {

    case 2:
        return (lc[0] == 't' && lc[1] == 'e') ? PT_HTTP_HOP_TE : 0;

    case 4:
        return pt_memcmp(lc, "host", 4) == 0 ? PT_HTTP_HOP_HOST : 0;

    case 6:
        return pt_memcmp(lc, "expect", 6) == 0 ? PT_HTTP_HOP_EXPECT : 0;

    case 7:
        if (pt_memcmp(lc, "trailer", 7) == 0) {
            return PT_HTTP_HOP_TRAILER;
        }

        return pt_memcmp(lc, "upgrade", 7) == 0 ? PT_HTTP_HOP_UPGRADE : 0;

    case 10:
        if (pt_memcmp(lc, "connection", 10) == 0) {
            return PT_HTTP_HOP_CONNECTION;
        }

        return pt_memcmp(lc, "keep-alive", 10) == 0
               ? PT_HTTP_HOP_KEEP_ALIVE : 0;

    case 14:
        return pt_memcmp(lc, "content-length", 14) == 0
               ? PT_HTTP_HOP_CONTENT_LENGTH : 0;

    case 16:
        return pt_memcmp(lc, "proxy-connection", 16) == 0
               ? PT_HTTP_HOP_PROXY_CONNECTION : 0;

    case 17:
        return pt_memcmp(lc, "transfer-encoding", 17) == 0
               ? PT_HTTP_HOP_TRANSFER_ENCODING : 0;

    default:
        return 0;
    }
}
