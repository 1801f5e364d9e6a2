#ifndef PT_INET_H
#define PT_INET_H

#define PT_INET_ADDRSTRLEN   (sizeof("255.255.255.255") - 1)
#define PT_INET6_ADDRSTRLEN                                                  \
    (sizeof("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255") - 1)
#define PT_UNIX_ADDRSTRLEN                                                   \
    (sizeof("unix:") - 1 + sizeof(((struct sockaddr_un *) 0)->sun_path))
#define PT_SOCKADDR_STRLEN   (PT_UNIX_ADDRSTRLEN)
#define PT_SOCKADDRLEN       sizeof(pt_sockaddr_t)

typedef union {
    struct sockaddr           sockaddr;
    struct sockaddr_in        sockaddr_in;
    struct sockaddr_in6       sockaddr_in6;
    struct sockaddr_un        sockaddr_un;
} pt_sockaddr_t;

typedef struct {
    struct sockaddr  *sockaddr;
    socklen_t         socklen;
    pt_str_t          name;     /* "127.0.0.1:80" */
} pt_addr_t;

/*
 * A parsed address: "host[:port]", "[v6]:port", "*:port", "port",
 * "unix:/path". With uri_part set, anything from the first "/" is kept in
 * uri (upstream URLs); with no_resolve set, names are not looked up.
 */
typedef struct {
    pt_str_t          url;
    pt_str_t          host;
    pt_str_t          port_text;
    pt_str_t          uri;

    in_port_t         port;
    in_port_t         default_port;
    int               family;

    unsigned          listen:1;     /* "*" and bare ports allowed */
    unsigned          uri_part:1;
    unsigned          no_resolve:1;
    unsigned          no_port:1;
    unsigned          wildcard:1;

    pt_addr_t        *addrs;        /* resolved, naddrs of them */
    pt_uint_t         naddrs;

    const char       *err;          /* why parsing failed */
} pt_url_t;

pt_int_t pt_parse_url(pt_pool_t *pool, pt_url_t *u);
/* Resolves u->host (getaddrinfo) into u->addrs with u->port. */
pt_int_t pt_inet_resolve_host(pt_pool_t *pool, pt_url_t *u);
/* Formats an address; with port, "1.2.3.4:80" or "[::1]:80". Returns length. */
size_t pt_sock_ntop(const struct sockaddr *sa, socklen_t socklen, u_char *text,
    size_t len, pt_uint_t port);
in_port_t pt_inet_get_port(const struct sockaddr *sa);
void pt_inet_set_port(struct sockaddr *sa, in_port_t port);
pt_int_t pt_cmp_sockaddr(const struct sockaddr *sa1, socklen_t slen1,
    const struct sockaddr *sa2, socklen_t slen2, pt_uint_t cmp_port);
pt_int_t pt_inet_wildcard(const struct sockaddr *sa);

#endif /* PT_INET_H */
