/*
 * The chunked transfer coding decoder (RFC 9112 section 7.1), strict and
 * incremental: a chunk size must be hex digits that fit, extensions and
 * trailers must be well formed with CRLF line ends, and everything is
 * bounded, so a peer cannot smuggle a request or make us buffer a line
 * without end.
 */
#include "pt_http.h"


#define PT_HTTP_CHUNK_MAX_SIZE_DIGITS  15      /* < 2^60 */
#define PT_HTTP_CHUNK_MAX_EXTENSION    1024
#define PT_HTTP_CHUNK_MAX_TRAILERS     8192


enum {
    sw_chunk_start = 0,
    sw_chunk_size,
    sw_chunk_bws,
    sw_chunk_extension,
    sw_chunk_extension_quoted,
    sw_chunk_extension_quoted_pair,
    sw_chunk_size_almost_done,
    sw_chunk_data,
    sw_after_data,
    sw_after_data_almost_done,
    sw_trailer_start,
    sw_trailer_name,
    sw_trailer_value,
    sw_trailer_almost_done,
    sw_trailer_end_almost_done
};


static int
pt_http_chunk_hex(u_char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }

    ch |= 0x20;

    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }

    return -1;
}


static pt_uint_t
pt_http_chunk_tchar(u_char ch)
{
    if ((ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z'))
    {
        return 1;
    }

    return strchr("!#$%&'*+-.^_`|~", ch) != NULL && ch != '\0';
}


/*
 * Advances over b->pos. Returns PT_OK when chunk data starts at b->pos
 * (ctx->size bytes of it remain: the caller takes what is there, moves
 * b->pos and lowers ctx->size, and calls again); PT_DONE after the last
 * chunk and its trailers; PT_AGAIN when more input is needed; PT_ERROR on
 * anything malformed or over the limits.
 */
pt_int_t
pt_http_parse_chunked(pt_http_request_t *r, pt_buf_t *b,
    pt_http_chunked_t *ctx)
{
    int       d;
    u_char   *pos, ch;

    if (ctx->state == sw_chunk_data && ctx->size > 0) {
        return PT_OK;
    }

    for (pos = b->pos; pos < b->last; pos++) {
        ch = *pos;

        switch (ctx->state) {

        case sw_chunk_start:
            d = pt_http_chunk_hex(ch);
            if (d < 0) {
                goto invalid;
            }

            ctx->size = d;
            ctx->digits = 1;
            ctx->state = sw_chunk_size;
            break;

        case sw_chunk_size:
            d = pt_http_chunk_hex(ch);

            if (d >= 0) {
                if (ctx->size == 0 && d == 0) {
                    /* leading zeros do not count towards the limit */
                    break;
                }

                if (ctx->size && ++ctx->digits > PT_HTTP_CHUNK_MAX_SIZE_DIGITS)
                {
                    goto invalid;
                }

                ctx->size = ctx->size * 16 + d;
                break;
            }

            if (ch == '\r') {
                ctx->state = sw_chunk_size_almost_done;
                break;
            }

            if (ch == ';') {
                ctx->ext = 0;
                ctx->state = sw_chunk_extension;
                break;
            }

            if (ch == ' ' || ch == '\t') {
                ctx->ext = 1;
                ctx->state = sw_chunk_bws;
                break;
            }

            goto invalid;

        case sw_chunk_bws:
            /* white space after the size is only allowed before ";" */
            if (ch == ' ' || ch == '\t') {
                if (++ctx->ext > PT_HTTP_CHUNK_MAX_EXTENSION) {
                    goto invalid;
                }
                break;
            }

            if (ch == ';') {
                ctx->ext = 0;
                ctx->state = sw_chunk_extension;
                break;
            }

            goto invalid;

        case sw_chunk_extension:
            if (++ctx->ext > PT_HTTP_CHUNK_MAX_EXTENSION) {
                goto invalid;
            }

            if (ch == '\r') {
                ctx->state = sw_chunk_size_almost_done;
                break;
            }

            if (ch == '"') {
                ctx->state = sw_chunk_extension_quoted;
                break;
            }

            if (pt_http_chunk_tchar(ch) || ch == '=' || ch == ';'
                || ch == ' ' || ch == '\t')
            {
                break;
            }

            goto invalid;

        case sw_chunk_extension_quoted:
            if (++ctx->ext > PT_HTTP_CHUNK_MAX_EXTENSION) {
                goto invalid;
            }

            if (ch == '"') {
                ctx->state = sw_chunk_extension;
                break;
            }

            if (ch == '\\') {
                ctx->state = sw_chunk_extension_quoted_pair;
                break;
            }

            if (ch == '\t' || (ch >= 0x20 && ch != 0x7f)) {
                break;
            }

            goto invalid;

        case sw_chunk_extension_quoted_pair:
            if (++ctx->ext > PT_HTTP_CHUNK_MAX_EXTENSION) {
                goto invalid;
            }

            if (ch == '\t' || (ch >= 0x20 && ch != 0x7f)) {
                ctx->state = sw_chunk_extension_quoted;
                break;
            }

            goto invalid;

        case sw_chunk_size_almost_done:
            if (ch != '\n') {
                goto invalid;
            }

            if (ctx->size == 0) {
                ctx->trailers = 0;
                ctx->state = sw_trailer_start;
                break;
            }

            ctx->state = sw_chunk_data;
            b->pos = pos + 1;
            return PT_OK;

        case sw_chunk_data:
            /* the caller consumed the data; now the CRLF after it */
            ctx->state = sw_after_data;
            /* fall through */

        case sw_after_data:
            if (ch != '\r') {
                goto invalid;
            }

            ctx->state = sw_after_data_almost_done;
            break;

        case sw_after_data_almost_done:
            if (ch != '\n') {
                goto invalid;
            }

            ctx->state = sw_chunk_start;
            break;

        case sw_trailer_start:
            if (ch == '\r') {
                ctx->state = sw_trailer_end_almost_done;
                break;
            }

            if (!pt_http_chunk_tchar(ch)) {
                goto invalid;
            }

            ctx->state = sw_trailer_name;
            /* fall through */

        case sw_trailer_name:
            if (++ctx->trailers > PT_HTTP_CHUNK_MAX_TRAILERS) {
                goto invalid;
            }

            if (ch == ':') {
                ctx->state = sw_trailer_value;
                break;
            }

            if (!pt_http_chunk_tchar(ch)) {
                goto invalid;
            }

            break;

        case sw_trailer_value:
            if (++ctx->trailers > PT_HTTP_CHUNK_MAX_TRAILERS) {
                goto invalid;
            }

            if (ch == '\r') {
                ctx->state = sw_trailer_almost_done;
                break;
            }

            if (ch == '\t' || (ch >= 0x20 && ch != 0x7f)) {
                break;
            }

            goto invalid;

        case sw_trailer_almost_done:
            if (ch != '\n') {
                goto invalid;
            }

            ctx->state = sw_trailer_start;
            break;

        case sw_trailer_end_almost_done:
            if (ch != '\n') {
                goto invalid;
            }

            b->pos = pos + 1;
            ctx->state = sw_chunk_start;
            ctx->size = 0;
            return PT_DONE;
        }
    }

    b->pos = pos;

    return PT_AGAIN;

invalid:

    b->pos = pos;

    return PT_ERROR;
}
