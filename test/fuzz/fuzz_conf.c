/*
 * libFuzzer target for the configuration parser (core/pt_conf_file.c) and
 * every directive setter it reaches: each input is written to a file in a
 * private temporary directory and parsed by pt_init_cycle() in test mode,
 * as "portico -t -p DIR/ -c DIR/portico.conf -g 'error_log stderr;'" would.
 *
 * The parser prints its errors on stderr; the driver asks libFuzzer for
 * -close_fd_mask=2, which points fd 2 at /dev/null once at start-up while
 * libFuzzer's own output and the sanitizer reports go to a copy of it.
 */
#include "pt_http.h"

#include <dlfcn.h>

#include "fuzz_setup.h"


#define FUZZ_CONF_MAX_SIZE  (64 * 1024)


static char        fuzz_conf[128];      /* fuzz_dir/portico.conf */


/*
 * The files of the private directory: what an input may include, and the
 * default access log. Anything else an input creates there (error_log and
 * access_log files) is removed after it.
 */
static const struct {
    const char  *name;
    const char  *text;
} fuzz_files[] = {
    { "logs/access.log", "" },          /* the default access log */
    { "inc/empty.conf", "# nothing here\n" },
    { "inc/location.conf", "location /inc {\n    keepalive_timeout 5s;\n}\n" },
    { "inc/server.conf",
      "server {\n    listen 127.0.0.1:8080;\n    server_name inc.test;\n}\n" },
    { "inc/events.conf", "worker_connections 64;\n" },
    { "mime.types", "# types\n" },
};


/*
 * Listen addresses are resolved while parsing: keep the fuzzer off the
 * network by answering numeric hosts and "localhost" only.
 */
int
getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
    struct addrinfo  h;

    static int (*real)(const char *, const char *, const struct addrinfo *,
                       struct addrinfo **);

    if (real == NULL) {
        *(void **) &real = dlsym(RTLD_NEXT, "getaddrinfo");
        if (real == NULL) {
            return EAI_FAIL;
        }
    }

    if (hints) {
        h = *hints;
    } else {
        pt_memzero(&h, sizeof(struct addrinfo));
    }

    h.ai_flags |= AI_NUMERICHOST;

    if (node && strcmp(node, "localhost") == 0) {
        node = "127.0.0.1";
    }

    return real(node, service, &h, res);
}


static int
fuzz_remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
    pt_uint_t    i;
    const char  *rel;

    if (ftw->level == 0) {
        return 0;
    }

    rel = path + strlen(fuzz_dir) + 1;

    if (strcmp(rel, "portico.conf") == 0 || strcmp(rel, "inc") == 0
        || strcmp(rel, "logs") == 0)
    {
        return 0;
    }

    for (i = 0; i < pt_nelems(fuzz_files); i++) {
        if (strcmp(rel, fuzz_files[i].name) == 0) {
            return 0;
        }
    }

    (void) remove(path);

    return 0;
}


static void
fuzz_cleanup(void)
{
    (void) nftw(fuzz_dir, fuzz_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}


static int
fuzz_write(const char *name, const uint8_t *data, size_t size)
{
    int     fd;
    char    path[256];
    size_t  n;

    snprintf(path, sizeof(path), "%s/%s", fuzz_dir, name);

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd == -1) {
        return -1;
    }

    n = pt_write_fd(fd, data, size);
    (void) close(fd);

    return (n == size) ? 0 : -1;
}


static int
fuzz_is_space(u_char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


/*
 * True when the word starting at i follows "location" or a location
 * modifier: a URI prefix, not a file name.
 */
static int
fuzz_after_location(const uint8_t *data, size_t i)
{
    size_t       end, start, k;
    const char  *w;

    static const char  *words[] = { "location", "=", "~", "~*", "^~" };

    for (end = i; end > 0 && fuzz_is_space(data[end - 1]); end--) {
        /* void */
    }

    if (end == i) {
        return 0;
    }

    for (start = end; start > 0; start--) {
        if (fuzz_is_space(data[start - 1]) || data[start - 1] == ';'
            || data[start - 1] == '{' || data[start - 1] == '}'
            || data[start - 1] == '"' || data[start - 1] == '\'')
        {
            break;
        }
    }

    if (start > 0 && (data[start - 1] == '"' || data[start - 1] == '\'')) {
        return 0;
    }

    for (k = 0; k < pt_nelems(words); k++) {
        w = words[k];

        if (end - start == strlen(w) && memcmp(data + start, w, end - start)
                                        == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * Inputs may not reach out of the private directory. With a directive that
 * opens files while the configuration is read (include and the ssl_ files
 * are read, and include's globs could match ".."; error_log and access_log
 * files are created), an input may hold no "..", no glob that can match a
 * dot entry (".?", ".*", ".["), and no word starting with "/" other than a
 * location's URI. Directives of this kind must be added to the list as they
 * appear.
 */
static int
fuzz_reaches_out(const uint8_t *data, size_t size)
{
    size_t       i, w;
    const char  *p;

    static const char  *openers[] = { "include", "_log", "_path", "root",
                                      "alias", "_file", "ssl_" };
    static const char  *dots[] = { "..", ".?", ".*", ".[" };

    for (i = 0; i < pt_nelems(openers); i++) {
        p = openers[i];

        if (pt_strnstr((u_char *) data, size, p, strlen(p))) {
            break;
        }
    }

    if (i == pt_nelems(openers)) {
        return 0;
    }

    for (i = 0; i < pt_nelems(dots); i++) {
        if (pt_strnstr((u_char *) data, size, dots[i], 2)) {
            return 1;
        }
    }

    for (i = 0; i < size; i++) {
        if (data[i] != '/') {
            continue;
        }

        if (i == 0) {
            return 1;
        }

        switch (data[i - 1]) {
        case '"': case '\'':
            w = i - 1;
            break;
        case ' ': case '\t': case '\r': case '\n': case ';': case '{':
        case '}':
            w = i;
            break;
        default:
            continue;           /* inside a word */
        }

        if (!fuzz_after_location(data, w)) {
            return 1;
        }
    }

    return 0;
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    int          i;
    char       **args;
    pt_uint_t    k;

    /* silence the parser: fd 2 to /dev/null, libFuzzer keeps a copy */
    for (i = 1; i < *argc; i++) {
        if (strncmp((*argv)[i], "-close_fd_mask=", 15) == 0) {
            break;
        }
    }

    if (i == *argc) {
        args = calloc(*argc + 2, sizeof(char *));
        if (args == NULL) {
            abort();
        }

        memcpy(args, *argv, *argc * sizeof(char *));
        args[*argc] = "-close_fd_mask=2";
        (*argc)++;
        *argv = args;
    }

    fuzz_setup("conf");

    snprintf(fuzz_conf, sizeof(fuzz_conf), "%s/inc", fuzz_dir);

    if (mkdir(fuzz_conf, 0700) == -1) {
        abort();
    }

    snprintf(fuzz_conf, sizeof(fuzz_conf), "%s/logs", fuzz_dir);

    if (mkdir(fuzz_conf, 0700) == -1) {
        abort();
    }

    for (k = 0; k < pt_nelems(fuzz_files); k++) {
        if (fuzz_write(fuzz_files[k].name, (const uint8_t *) fuzz_files[k].text,
                       strlen(fuzz_files[k].text)) != 0)
        {
            abort();
        }
    }

    snprintf(fuzz_conf, sizeof(fuzz_conf), "%s/portico.conf", fuzz_dir);

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char         prefix[80];
    pt_cycle_t  *cycle, init_cycle;

    if (size > FUZZ_CONF_MAX_SIZE || fuzz_reaches_out(data, size)) {
        return -1;      /* not added to the corpus */
    }

    if (fuzz_write("portico.conf", data, size) != 0) {
        abort();
    }

    pt_memzero(&init_cycle, sizeof(pt_cycle_t));
    init_cycle.log = fuzz_log;
    init_cycle.pool = pt_create_pool(1024, fuzz_log);
    if (init_cycle.pool == NULL) {
        abort();
    }

    pt_cycle = &init_cycle;

    /* NUL-terminated, as pt_process_options() leaves them */
    snprintf(prefix, sizeof(prefix), "%s/", fuzz_dir);

    init_cycle.prefix.len = strlen(prefix);
    init_cycle.prefix.data = (u_char *) prefix;
    init_cycle.conf_prefix = init_cycle.prefix;
    init_cycle.conf_file.len = strlen(fuzz_conf);
    init_cycle.conf_file.data = (u_char *) fuzz_conf;

    /* keeps the cycle off the compiled-in error log path */
    pt_str_set(&init_cycle.conf_param, "error_log stderr;");

    pt_dump_config = size & 1;

    cycle = pt_init_cycle(&init_cycle);

    if (cycle) {
        pt_destroy_cycle(cycle);
    }

    pt_destroy_pool(init_cycle.pool);
    pt_cycle = NULL;
    pt_dump_config = 0;

    fuzz_cleanup();

    return 0;
}
