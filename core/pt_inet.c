/* Socket addresses: parsing "host:port" forms, formatting, comparing. */
#include "pt_core.h"


static pt_int_t pt_parse_unix_url(pt_pool_t *pool, pt_url_t *u);
static pt_int_t pt_parse_inet_url(pt_pool_t *pool, pt_url_t *u);


in_port_t
pt_inet_get_port(const struct sockaddr *sa)
{
    switch (sa->sa_family) {
    case AF_INET6:
        return ntohs(((const struct sockaddr_in6 *) sa)->sin6_port);
    case AF_UNIX:
        return 0;
    default:
        return ntohs(((const struct sockaddr_in *) sa)->sin_port);
    }
}


void
pt_inet_set_port(struct sockaddr *sa, in_port_t port)
{
    switch (sa->sa_family) {
    case AF_INET6:
        ((struct sockaddr_in6 *) sa)->sin6_port = htons(port);
        break;
    case AF_UNIX:
        break;
    default:
        ((struct sockaddr_in *) sa)->sin_port = htons(port);
        break;
    }
}


pt_int_t
pt_inet_wildcard(const struct sockaddr *sa)
{
    switch (sa->sa_family) {
    case AF_INET:
        return ((const struct sockaddr_in *) sa)->sin_addr.s_addr
               == INADDR_ANY;
    case AF_INET6:
        return IN6_IS_ADDR_UNSPECIFIED(
                   &((const struct sockaddr_in6 *) sa)->sin6_addr);
    default:
        return 0;
    }
}


size_t
pt_sock_ntop(const struct sockaddr *sa, socklen_t socklen, u_char *text,
    size_t len, pt_uint_t port)
{
    int                         n;
    char                        addr[INET6_ADDRSTRLEN];
    const struct sockaddr_un   *saun;

    n = 0;

    switch (sa->sa_family) {

    case AF_INET:
        if (inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr,
                      addr, sizeof(addr)) == NULL)
        {
            return 0;
        }

        n = port ? snprintf((char *) text, len, "%s:%u", addr,
                            (unsigned) pt_inet_get_port(sa))
                 : snprintf((char *) text, len, "%s", addr);
        break;

    case AF_INET6:
        if (inet_ntop(AF_INET6,
                      &((const struct sockaddr_in6 *) sa)->sin6_addr,
                      addr, sizeof(addr)) == NULL)
        {
            return 0;
        }

        n = port ? snprintf((char *) text, len, "[%s]:%u", addr,
                            (unsigned) pt_inet_get_port(sa))
                 : snprintf((char *) text, len, "%s", addr);
        break;

    case AF_UNIX:
        saun = (const struct sockaddr_un *) sa;

        if (socklen <= (socklen_t) offsetof(struct sockaddr_un, sun_path)
            || saun->sun_path[0] == '\0')
        {
            n = snprintf((char *) text, len, "unix:");
        } else {
            n = snprintf((char *) text, len, "unix:%.*s",
                         (int) (socklen
                                - offsetof(struct sockaddr_un, sun_path)),
                         saun->sun_path);
            n = strnlen((char *) text, pt_min((size_t) n, len));
        }
        break;

    default:
        return 0;
    }

    if (n < 0) {
        return 0;
    }

    return pt_min((size_t) n, len ? len - 1 : 0);
}


pt_int_t
pt_cmp_sockaddr(const struct sockaddr *sa1, socklen_t slen1,
    const struct sockaddr *sa2, socklen_t slen2, pt_uint_t cmp_port)
{
    const struct sockaddr_in   *sin1, *sin2;
    const struct sockaddr_in6  *sin61, *sin62;
    const struct sockaddr_un   *saun1, *saun2;

    if (sa1->sa_family != sa2->sa_family) {
        return PT_DECLINED;
    }

    switch (sa1->sa_family) {

    case AF_INET6:
        sin61 = (const struct sockaddr_in6 *) sa1;
        sin62 = (const struct sockaddr_in6 *) sa2;

        if (cmp_port && sin61->sin6_port != sin62->sin6_port) {
            return PT_DECLINED;
        }

        if (memcmp(&sin61->sin6_addr, &sin62->sin6_addr, 16) != 0) {
            return PT_DECLINED;
        }

        break;

    case AF_UNIX:
        saun1 = (const struct sockaddr_un *) sa1;
        saun2 = (const struct sockaddr_un *) sa2;

        if (slen1 != slen2
            || memcmp(saun1->sun_path, saun2->sun_path,
                      slen1 - offsetof(struct sockaddr_un, sun_path)) != 0)
        {
            return PT_DECLINED;
        }

        break;

    default:
        sin1 = (const struct sockaddr_in *) sa1;
        sin2 = (const struct sockaddr_in *) sa2;

        if (cmp_port && sin1->sin_port != sin2->sin_port) {
            return PT_DECLINED;
        }

        if (sin1->sin_addr.s_addr != sin2->sin_addr.s_addr) {
            return PT_DECLINED;
        }

        break;
    }

    return PT_OK;
}


pt_int_t
pt_parse_url(pt_pool_t *pool, pt_url_t *u)
{
    u_char  *p;
    size_t   len;

    p = u->url.data;
    len = u->url.len;

    if (len == 0) {
        u->err = "no address";
        return PT_ERROR;
    }

    if (len >= 5 && pt_strncasecmp(p, (u_char *) "unix:", 5) == 0) {
        return pt_parse_unix_url(pool, u);
    }

    return pt_parse_inet_url(pool, u);
}


static pt_int_t
pt_parse_unix_url(pt_pool_t *pool, pt_url_t *u)
{
    u_char              *path, *last, *colon;
    size_t               len;
    struct sockaddr_un  *saun;

    path = u->url.data + 5;
    last = u->url.data + u->url.len;

    if (u->uri_part) {
        /* "unix:/path.sock:/uri" */
        colon = pt_strlchr(path, last, ':');
        if (colon) {
            u->uri.len = last - colon - 1;
            u->uri.data = colon + 1;
            last = colon;
        }
    }

    len = last - path;

    if (len == 0) {
        u->err = "no path in the unix domain socket";
        return PT_ERROR;
    }

    if (len + 1 > sizeof(saun->sun_path)) {
        u->err = "too long path in the unix domain socket";
        return PT_ERROR;
    }

    u->host.len = len + 5;
    u->host.data = u->url.data;
    u->family = AF_UNIX;

    u->addrs = pt_pcalloc(pool, sizeof(pt_addr_t));
    saun = pt_pcalloc(pool, sizeof(struct sockaddr_un));
    if (u->addrs == NULL || saun == NULL) {
        return PT_ERROR;
    }

    saun->sun_family = AF_UNIX;
    pt_memcpy(saun->sun_path, path, len);

    u->naddrs = 1;
    u->addrs[0].sockaddr = (struct sockaddr *) saun;
    u->addrs[0].socklen = sizeof(struct sockaddr_un);
    u->addrs[0].name.len = len + 5;
    u->addrs[0].name.data = u->url.data;

    return PT_OK;
}


static pt_int_t
pt_parse_inet_url(pt_pool_t *pool, pt_url_t *u)
{
    u_char     *host, *port, *last, *uri, *p;
    pt_int_t    n;

    host = u->url.data;
    last = u->url.data + u->url.len;

    if (u->uri_part) {
        uri = pt_strlchr(host, last, '/');
        if (uri) {
            u->uri.len = last - uri;
            u->uri.data = uri;
            last = uri;
        }

        /* "?args" without a path also ends the address */
        p = pt_strlchr(host, last, '?');
        if (p) {
            u->uri.len = (u->url.data + u->url.len) - p;
            u->uri.data = p;
            last = p;
        }
    }

    if (host == last) {
        u->err = "no host";
        return PT_ERROR;
    }

    port = NULL;

    if (*host == '[') {
        p = pt_strlchr(host, last, ']');
        if (p == NULL) {
            u->err = "invalid IPv6 address";
            return PT_ERROR;
        }

        u->host.data = host + 1;
        u->host.len = p - host - 1;
        u->family = AF_INET6;

        p++;

        if (p < last) {
            if (*p != ':') {
                u->err = "invalid host";
                return PT_ERROR;
            }

            port = p + 1;
        }

    } else {
        p = pt_strlchr(host, last, ':');

        if (p) {
            if (pt_strlchr(p + 1, last, ':')) {
                u->err = "IPv6 address must be in brackets";
                return PT_ERROR;
            }

            port = p + 1;
            u->host.data = host;
            u->host.len = p - host;

        } else if (u->listen) {
            /* "80" alone is a port; "host" alone a host on port 80 */
            n = pt_atoi(host, last - host);

            if (n != PT_ERROR) {
                if (n < 1 || n > 65535) {
                    u->err = "invalid port";
                    return PT_ERROR;
                }

                u->port = (in_port_t) n;
                u->port_text.data = host;
                u->port_text.len = last - host;
                u->wildcard = 1;
                pt_str_set(&u->host, "*");
                goto resolve;
            }

            u->host.data = host;
            u->host.len = last - host;

        } else {
            u->host.data = host;
            u->host.len = last - host;
        }
    }

    if (port) {
        n = pt_atoi(port, last - port);

        if (n == PT_ERROR || n < 1 || n > 65535) {
            u->err = "invalid port";
            return PT_ERROR;
        }

        u->port = (in_port_t) n;
        u->port_text.data = port;
        u->port_text.len = last - port;

    } else {
        u->no_port = 1;
        u->port = u->default_port;
    }

    if (u->host.len == 0) {
        u->err = "no host";
        return PT_ERROR;
    }

    if (u->listen && u->host.len == 1 && u->host.data[0] == '*') {
        u->wildcard = 1;
    }

resolve:

    if (u->no_resolve) {
        return PT_OK;
    }

    return pt_inet_resolve_host(pool, u);
}


pt_int_t
pt_inet_resolve_host(pt_pool_t *pool, pt_url_t *u)
{
    int                   rc;
    char                 *host;
    size_t                len;
    pt_uint_t             n;
    struct addrinfo       hints, *res, *rp;
    struct sockaddr_in   *sin;
    struct sockaddr_in6  *sin6;
    u_char                text[PT_SOCKADDR_STRLEN];

    if (u->wildcard) {
        u->addrs = pt_pcalloc(pool, sizeof(pt_addr_t));
        sin = pt_pcalloc(pool, sizeof(struct sockaddr_in));
        if (u->addrs == NULL || sin == NULL) {
            return PT_ERROR;
        }

        sin->sin_family = AF_INET;
        sin->sin_port = htons(u->port);
        sin->sin_addr.s_addr = INADDR_ANY;

        u->family = AF_INET;
        u->naddrs = 1;
        u->addrs[0].sockaddr = (struct sockaddr *) sin;
        u->addrs[0].socklen = sizeof(struct sockaddr_in);

        len = pt_sock_ntop((struct sockaddr *) sin, sizeof(*sin), text,
                           sizeof(text), 1);
        u->addrs[0].name.data = pt_pnalloc(pool, len);
        if (u->addrs[0].name.data == NULL) {
            return PT_ERROR;
        }
        pt_memcpy(u->addrs[0].name.data, text, len);
        u->addrs[0].name.len = len;

        return PT_OK;
    }

    host = pt_str_to_cstr(pool, &u->host);
    if (host == NULL) {
        return PT_ERROR;
    }

    pt_memzero(&hints, sizeof(struct addrinfo));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;

    if (u->family == AF_INET6) {
        hints.ai_family = AF_INET6;
        hints.ai_flags = AI_NUMERICHOST;
    }

    rc = getaddrinfo(host, NULL, &hints, &res);

    if (rc == EAI_NONAME || rc == EAI_ADDRFAMILY) {
        /* AI_ADDRCONFIG hides loopback-only families on bare hosts */
        hints.ai_flags &= ~AI_ADDRCONFIG;
        rc = getaddrinfo(host, NULL, &hints, &res);
    }

    if (rc != 0) {
        u->err = "host not found";
        return PT_ERROR;
    }

    n = 0;
    for (rp = res; rp; rp = rp->ai_next) {
        if (rp->ai_family == AF_INET || rp->ai_family == AF_INET6) {
            n++;
        }
    }

    if (n == 0) {
        freeaddrinfo(res);
        u->err = "host not found";
        return PT_ERROR;
    }

    u->addrs = pt_pcalloc(pool, n * sizeof(pt_addr_t));
    if (u->addrs == NULL) {
        goto failed;
    }

    u->naddrs = 0;

    /* IPv4 addresses first, as resolvers of other servers do */
    for (rc = AF_INET; ; rc = AF_INET6) {
        for (rp = res; rp; rp = rp->ai_next) {
            if (rp->ai_family != rc) {
                continue;
            }

            if (rc == AF_INET) {
                sin = pt_pcalloc(pool, sizeof(struct sockaddr_in));
                if (sin == NULL) {
                    goto failed;
                }

                pt_memcpy(sin, rp->ai_addr, sizeof(struct sockaddr_in));
                sin->sin_port = htons(u->port);
                u->addrs[u->naddrs].sockaddr = (struct sockaddr *) sin;
                u->addrs[u->naddrs].socklen = sizeof(struct sockaddr_in);

            } else {
                sin6 = pt_pcalloc(pool, sizeof(struct sockaddr_in6));
                if (sin6 == NULL) {
                    goto failed;
                }

                pt_memcpy(sin6, rp->ai_addr, sizeof(struct sockaddr_in6));
                sin6->sin6_port = htons(u->port);
                u->addrs[u->naddrs].sockaddr = (struct sockaddr *) sin6;
                u->addrs[u->naddrs].socklen = sizeof(struct sockaddr_in6);
            }

            len = pt_sock_ntop(u->addrs[u->naddrs].sockaddr,
                               u->addrs[u->naddrs].socklen, text,
                               sizeof(text), 1);
            u->addrs[u->naddrs].name.data = pt_pnalloc(pool, len);
            if (u->addrs[u->naddrs].name.data == NULL) {
                goto failed;
            }

            pt_memcpy(u->addrs[u->naddrs].name.data, text, len);
            u->addrs[u->naddrs].name.len = len;
            u->naddrs++;
        }

        if (rc == AF_INET6) {
            break;
        }
    }

    if (u->family == 0) {
        u->family = u->addrs[0].sockaddr->sa_family;
    }

    freeaddrinfo(res);
    return PT_OK;

failed:

    freeaddrinfo(res);
    return PT_ERROR;
}
