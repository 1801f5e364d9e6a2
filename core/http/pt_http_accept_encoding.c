/*
 * Accept-Encoding (RFC 9110 12.5.3): a list of codings with optional
 * q-values. Only the weight a coding gets matters to us: its own entry,
 * else "*", else nothing.
 */
#include "pt_http.h"


/* Parses "q=0.5"-style weights into thousandths; -1 when malformed. */
static pt_int_t
pt_http_parse_qvalue(const u_char *p, const u_char *last)
{
    pt_int_t   q, scale;

    if (p == last) {
        return -1;
    }

    if (*p == '1') {
        p++;

        if (p < last && *p == '.') {
            for (p++; p < last; p++) {
                if (*p != '0') {
                    return -1;
                }
            }
        }

        return (p == last) ? 1000 : -1;
    }

    if (*p != '0') {
        return -1;
    }

    p++;

    if (p == last) {
        return 0;
    }

    if (*p != '.') {
        return -1;
    }

    q = 0;
    scale = 100;

    for (p++; p < last; p++) {
        if (*p < '0' || *p > '9' || scale == 0) {
            return -1;
        }

        q += (*p - '0') * scale;
        scale /= 10;
    }

    return q;
}


/*
 * The weight (0..1000) the list in value gives coding, from its own entry
 * or from "*"; -1 when the list names neither. Malformed entries count as
 * absent; a malformed weight as 0 (refused), the safe reading.
 */
pt_int_t
pt_http_accept_encoding_weight(const pt_str_t *value, const char *coding)
{
    size_t         len, clen;
    pt_int_t       q, own, star;
    const u_char  *p, *last, *start, *end, *qs;

    clen = strlen(coding);
    own = -1;
    star = -1;

    p = value->data;
    last = p + value->len;

    while (p < last) {

        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        start = p;

        while (p < last && *p != ',' && *p != ';' && *p != ' '
               && *p != '\t')
        {
            p++;
        }

        end = p;
        len = end - start;

        q = 1000;

        /* parameters: only q matters */
        while (p < last && *p != ',') {
            while (p < last && (*p == ' ' || *p == '\t')) {
                p++;
            }

            if (p < last && *p == ';') {
                p++;

                while (p < last && (*p == ' ' || *p == '\t')) {
                    p++;
                }

                if (last - p >= 2 && (p[0] == 'q' || p[0] == 'Q')
                    && p[1] == '=')
                {
                    qs = p + 2;

                    for (p = qs; p < last && *p != ',' && *p != ';'
                                 && *p != ' ' && *p != '\t'; p++)
                    {
                        /* void */
                    }

                    q = pt_http_parse_qvalue(qs, p);

                    if (q < 0) {
                        q = 0;
                    }

                    continue;
                }
            }

            while (p < last && *p != ',' && *p != ';') {
                p++;
            }
        }

        if (len == 0) {
            continue;
        }

        if (len == clen && pt_strncasecmp(start, (u_char *) coding, len) == 0)
        {
            own = pt_max(own, q);

        } else if (len == 1 && *start == '*') {
            star = pt_max(star, q);
        }
    }

    return (own >= 0) ? own : star;
}
