/*
 * Unit tests for core/pt_conf_file.c, driven end to end: each test writes
 * configuration files into a private temporary directory and builds a cycle
 * with pt_init_cycle() in test mode (nothing is bound), then checks either
 * the merged configuration or the one "[emerg] ... in FILE:LINE" line that
 * the parser printed on stderr.
 *
 * Every configuration gets "-g 'error_log stderr;'", so that no cycle opens
 * the compiled-in default error log.
 */
#include "pt_http.h"

#include <ftw.h>
#include <setjmp.h>
#include <cmocka.h>


#define TEST_ERR_SIZE  16384


typedef struct {
    char         dir[64];           /* private, "/tmp/pt-conf-XXXXXX" */
    pt_log_t    *log;

    pt_cycle_t   init;              /* what main() builds from the options */
    pt_cycle_t  *cycle;             /* the result of the last parse */
    char         err[TEST_ERR_SIZE]; /* stderr during the last parse */
} test_ctx_t;


static test_ctx_t  tc;


/* setup and helpers */

static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
    (void) st;
    (void) flag;

    if (ftw->level == 0) {
        return 0;               /* keep the directory itself */
    }

    return remove(path);
}


static void
clean_dir(void)
{
    (void) nftw(tc.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}


static int
group_setup(void **state)
{
    (void) state;

    pt_time_init();

    tc.log = pt_log_init();
    if (tc.log == NULL) {
        return -1;
    }

    if (pt_os_init(tc.log) != PT_OK || pt_preinit_modules() != PT_OK) {
        return -1;
    }

    pt_test_config = 1;
    pt_quiet_mode = 1;

    snprintf(tc.dir, sizeof(tc.dir), "/tmp/pt-conf-XXXXXX");

    if (mkdtemp(tc.dir) == NULL) {
        return -1;
    }

    return 0;
}


static int
group_teardown(void **state)
{
    (void) state;

    clean_dir();
    (void) rmdir(tc.dir);

    return 0;
}


static int
setup(void **state)
{
    (void) state;

    tc.cycle = NULL;
    tc.err[0] = '\0';

    return 0;
}


/* Frees the last parse's cycle and the init cycle's pool. */
static void
release(void)
{
    if (tc.cycle) {
        pt_destroy_cycle(tc.cycle);
        tc.cycle = NULL;
    }

    if (tc.init.pool) {
        pt_destroy_pool(tc.init.pool);
        tc.init.pool = NULL;
    }

    pt_cycle = NULL;
}


static int
teardown(void **state)
{
    (void) state;

    release();
    clean_dir();

    return 0;
}


/* Writes len bytes to tc.dir/name, creating the directories on the way. */
static void
write_file_n(const char *name, const char *text, size_t len)
{
    int     fd;
    char    path[PATH_MAX], *p;

    snprintf(path, sizeof(path), "%s/%s", tc.dir, name);

    for (p = path + strlen(tc.dir) + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        (void) mkdir(path, 0700);
        *p = '/';
    }

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd != -1);
    assert_int_equal(write(fd, text, len), (ssize_t) len);
    assert_int_equal(close(fd), 0);
}


static void
write_file(const char *name, const char *text)
{
    write_file_n(name, text, strlen(text));
}


static void
set_str(pt_str_t *s, const char *text)
{
    s->len = strlen(text);
    s->data = (u_char *) pt_pstrdup(tc.init.pool,
                                    &(pt_str_t) { s->len, (u_char *) text });
    assert_non_null(s->data);
}


static int  capture_fd = -1;
static int  capture_saved = -1;


/* Points fd 2 at a temporary file until capture_end() reads it to tc.err. */
static void
capture_begin(void)
{
    char  buf[PATH_MAX];

    snprintf(buf, sizeof(buf), "%s/.stderr", tc.dir);
    capture_fd = open(buf, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(capture_fd != -1);
    (void) unlink(buf);

    fflush(stderr);
    capture_saved = dup(STDERR_FILENO);
    assert_true(capture_saved != -1);
    assert_true(dup2(capture_fd, STDERR_FILENO) != -1);
}


static void
capture_end(void)
{
    ssize_t  n;
    size_t   len;

    assert_true(dup2(capture_saved, STDERR_FILENO) != -1);
    (void) close(capture_saved);

    len = 0;
    (void) lseek(capture_fd, 0, SEEK_SET);

    while (len < sizeof(tc.err) - 1) {
        n = read(capture_fd, tc.err + len, sizeof(tc.err) - 1 - len);
        if (n <= 0) {
            break;
        }
        len += n;
    }

    tc.err[len] = '\0';
    (void) close(capture_fd);
}


/*
 * Parses tc.dir/name as main() would, with "error_log stderr;" and then
 * param as the -g text; the parser's stderr goes to tc.err.
 */
static pt_cycle_t *
parse_file(const char *name, const char *param)
{
    char  buf[PATH_MAX];

    release();

    /* as in an installed prefix: the default access log goes to logs/ */
    snprintf(buf, sizeof(buf), "%s/logs", tc.dir);
    (void) mkdir(buf, 0700);

    pt_memzero(&tc.init, sizeof(pt_cycle_t));
    tc.init.log = tc.log;
    tc.init.pool = pt_create_pool(1024, tc.log);
    assert_non_null(tc.init.pool);
    pt_cycle = &tc.init;

    snprintf(buf, sizeof(buf), "%s/", tc.dir);
    set_str(&tc.init.prefix, buf);
    set_str(&tc.init.conf_prefix, buf);
    snprintf(buf, sizeof(buf), "%s/%s", tc.dir, name);
    set_str(&tc.init.conf_file, buf);
    snprintf(buf, sizeof(buf), "error_log stderr;%s%s", param ? " " : "",
             param ? param : "");
    set_str(&tc.init.conf_param, buf);

    capture_begin();
    tc.cycle = pt_init_cycle(&tc.init);
    capture_end();

    if (tc.cycle) {
        pt_cycle = tc.cycle;
    }

    return tc.cycle;
}


static pt_cycle_t *
parse(const char *text)
{
    write_file("portico.conf", text);
    return parse_file("portico.conf", NULL);
}


static pt_cycle_t *
parse_n(const char *text, size_t len)
{
    write_file_n("portico.conf", text, len);
    return parse_file("portico.conf", NULL);
}


static void
assert_ok(void)
{
    if (tc.cycle == NULL) {
        fprintf(stderr, "parse failed, stderr was:\n%s", tc.err);
    }

    assert_non_null(tc.cycle);
    assert_null(strstr(tc.err, "[emerg]"));
}


/*
 * The parse failed with exactly one "[emerg] msg in FILE:LINE" line; file
 * is relative to tc.dir, or NULL for "in command line".
 */
static void
assert_error_at(const char *msg, const char *file, unsigned line)
{
    char         want[PATH_MAX + 1024];
    const char  *p;
    pt_uint_t    n;

    if (file) {
        snprintf(want, sizeof(want), "portico: [emerg] %s in %s/%s:%u\n",
                 msg, tc.dir, file, line);
    } else {
        snprintf(want, sizeof(want), "portico: [emerg] %s in command line\n",
                 msg);
    }

    for (n = 0, p = tc.err; (p = strstr(p, "[emerg]")); p++) {
        n++;
    }

    if (tc.cycle != NULL || strstr(tc.err, want) == NULL || n != 1) {
        fprintf(stderr, "want: %sgot:  %s", want, tc.err);
    }

    assert_null(tc.cycle);
    assert_non_null(strstr(tc.err, want));
    assert_int_equal(n, 1);
}


static void
assert_error(const char *msg, unsigned line)
{
    assert_error_at(msg, "portico.conf", line);
}


/* The parse failed with exactly one "[emerg] msg" line, not a conf error. */
static void
assert_plain_error(const char *msg)
{
    char  want[1024];

    snprintf(want, sizeof(want), "portico: [emerg] %s\n", msg);

    if (tc.cycle != NULL || strstr(tc.err, want) == NULL) {
        fprintf(stderr, "want: %sgot:  %s", want, tc.err);
    }

    assert_null(tc.cycle);
    assert_non_null(strstr(tc.err, want));
}


static pt_core_conf_t *
core_conf(void)
{
    return (pt_core_conf_t *) pt_get_conf(tc.cycle->conf_ctx, pt_core_module);
}


static pt_event_conf_t *
event_conf(void)
{
    void  ***ctx;

    ctx = (void ***) pt_get_conf(tc.cycle->conf_ctx, pt_events_module);
    assert_non_null(ctx);

    return (*ctx)[pt_event_core_module.ctx_index];
}


static pt_http_core_main_conf_t *
http_main_conf(void)
{
    pt_http_conf_ctx_t  *ctx;

    ctx = (pt_http_conf_ctx_t *) tc.cycle->conf_ctx[pt_http_module.index];
    assert_non_null(ctx);

    return ctx->main_conf[pt_http_core_module.ctx_index];
}


static pt_http_core_srv_conf_t *
server_conf(pt_uint_t n)
{
    pt_http_core_main_conf_t   *cmcf;
    pt_http_core_srv_conf_t   **cscfp;

    cmcf = http_main_conf();
    assert_true(n < cmcf->servers.nelts);
    cscfp = cmcf->servers.elts;

    return cscfp[n];
}


/* The location conf of server n's own level. */
static pt_http_core_loc_conf_t *
server_loc_conf(pt_uint_t n)
{
    return server_conf(n)->ctx->loc_conf[pt_http_core_module.ctx_index];
}


static pt_http_core_loc_conf_t *
nth_location(pt_array_t *a, pt_uint_t n)
{
    pt_http_core_loc_conf_t  **clcfp;

    assert_non_null(a);
    assert_true(n < a->nelts);
    clcfp = a->elts;

    return clcfp[n];
}


static void
assert_str(pt_str_t *s, const char *text)
{
    assert_int_equal(s->len, strlen(text));
    assert_memory_equal(s->data, text, s->len);
}


/* success */

static void
test_minimal(void **state)
{
    parse("events { }\n");
    assert_ok();

    parse("events { worker_connections 64; }\n"
          "http {\n"
          "    server {\n"
          "        listen 127.0.0.1:8080;\n"
          "        server_name example.com www.example.com;\n"
          "        location / { }\n"
          "        location = /exact { }\n"
          "    }\n"
          "}\n");
    assert_ok();
    assert_int_equal(event_conf()->connections, 64);
    assert_int_equal(http_main_conf()->servers.nelts, 1);
    assert_str(&server_conf(0)->server_name, "example.com");
}


static void
test_empty_and_blank(void **state)
{
    /* an empty file has no events block: a plain error, not a syntax one */
    parse("");
    assert_plain_error("no \"events\" section in configuration");

    parse("   \n\t\r\n  \n");
    assert_plain_error("no \"events\" section in configuration");
}


static void
test_crlf_and_spacing(void **state)
{
    parse("events\r\n{\r\n\tworker_connections\t\t32 ;\r\n}\r\n"
          "pid\n/tmp/x.pid\n;");
    assert_ok();
    assert_int_equal(event_conf()->connections, 32);
    assert_str(&core_conf()->pid, "/tmp/x.pid");

    /* no space is needed around ";", "{" and "}" */
    parse("events{worker_connections 8;}pid /tmp/y.pid;");
    assert_ok();
    assert_int_equal(event_conf()->connections, 8);
    assert_str(&core_conf()->pid, "/tmp/y.pid");
}


/* tokenizer errors */

static void
test_unexpected_semicolon(void **state)
{
    parse("events { }\n\n;\n");
    assert_error("unexpected \";\"", 3);

    parse("events { ; }\n");
    assert_error("unexpected \";\"", 1);

    parse("events { }\npid /tmp/a.pid;;\n");
    assert_error("unexpected \";\"", 2);
}


static void
test_unexpected_open_brace(void **state)
{
    parse("events { }\n{ }\n");
    assert_error("unexpected \"{\"", 2);

    parse("events {\n    {\n}\n");
    assert_error("unexpected \"{\"", 2);
}


static void
test_unexpected_close_brace(void **state)
{
    /* at the top level */
    parse("events { }\n}\n");
    assert_error("unexpected \"}\"", 2);

    /* in the middle of a directive */
    parse("events {\n    worker_connections 8 }\n");
    assert_error("unexpected \"}\"", 2);

    /* one too many */
    parse("events { }\nhttp {\n}\n}\n");
    assert_error("unexpected \"}\"", 4);
}


static void
test_eof_in_block(void **state)
{
    parse("events { }\nhttp {\n    server {\n");
    assert_error("unexpected end of file, expecting \"}\"", 4);

    parse("events {");
    assert_error("unexpected end of file, expecting \"}\"", 1);

    /* a comment does not close anything */
    parse("events { # }\n");
    assert_error("unexpected end of file, expecting \"}\"", 2);
}


static void
test_eof_in_directive(void **state)
{
    parse("events { }\npid /tmp/a.pid");
    assert_error("unexpected end of file, expecting \";\" or \"}\"", 2);

    parse("events { }\npid\n\n");
    assert_error("unexpected end of file, expecting \";\" or \"}\"", 4);

    parse("events { }\npid \"/tmp/a.pid\"");
    assert_error("unexpected end of file, expecting \";\" or \"}\"", 2);
}


static void
test_unterminated_quote(void **state)
{
    /* reported at the line of the opening quote */
    parse("events { }\npid \"/tmp/a\n\nb;\n\n");
    assert_error("unterminated quoted string", 2);

    parse("events { }\n\n\npid '/tmp/a;\n");
    assert_error("unterminated quoted string", 4);

    /* an escaped quote does not close it */
    parse("events { }\npid \"/tmp/a\\\";\n");
    assert_error("unterminated quoted string", 2);

    /* a lone backslash at the very end */
    parse("events { }\npid \"/tmp/a\\");
    assert_error("unterminated quoted string", 2);
}


static void
test_quote_then_letter(void **state)
{
    parse("events { }\npid \"/tmp/a\"b;\n");
    assert_error("unexpected \"b\" after quoted string", 2);

    parse("events { }\npid '/tmp/a''b';\n");
    assert_error("unexpected \"'\" after quoted string", 2);

    parse("events { }\n\"pid\"\"/tmp/a\";\n");
    assert_error("unexpected \"\"\" after quoted string", 2);

    /* but ";", "{", "}" and white space may follow at once */
    parse("events { }\n\"pid\"\t\"/tmp/a.pid\";\n");
    assert_ok();
    assert_str(&core_conf()->pid, "/tmp/a.pid");

    parse("\"events\"{ }\n");
    assert_ok();
}


static void
test_nul_byte(void **state)
{
    static const char  word[] = "events { }\npid /tmp/a\0b;\n";
    static const char  quoted[] = "events { }\n\npid \"/tmp/a\0b\";\n";
    static const char  between[] = "events { }\npid \0;\n";
    static const char  comment[] = "events { } # \0 is fine here\n";
    static const char  esc_word[] = "events { }\npid /tmp/a\\\0b;\n";
    static const char  esc_quoted[] = "events { }\npid \"/tmp/a\\\0\";\n";
    static const char  variable[] = "events { }\npid /tmp/${a\0b}.pid;\n";

    parse_n(word, sizeof(word) - 1);
    assert_error("unexpected NUL byte", 2);

    parse_n(quoted, sizeof(quoted) - 1);
    assert_error("unexpected NUL byte", 3);

    parse_n(between, sizeof(between) - 1);
    assert_error("unexpected NUL byte", 2);

    parse_n(comment, sizeof(comment) - 1);
    assert_ok();

    /* an escape does not smuggle one in */
    parse_n(esc_word, sizeof(esc_word) - 1);
    assert_error("unexpected NUL byte", 2);

    parse_n(esc_quoted, sizeof(esc_quoted) - 1);
    assert_error("unexpected NUL byte", 2);

    /* nor does a variable name */
    parse_n(variable, sizeof(variable) - 1);
    assert_error("unexpected NUL byte", 2);
}


static void
test_unterminated_variable(void **state)
{
    parse("events { }\npid /tmp/${name;\n");
    assert_error("unterminated variable name", 2);

    parse("events { }\npid /tmp/${name\n}.pid;\n");
    assert_error("unterminated variable name", 2);

    parse("events { }\npid /tmp/${name");
    assert_error("unterminated variable name", 2);
}


/* words */

static void
test_escapes(void **state)
{
    parse("events { }\npid \"/tmp/a\\\"b\\'c\\\\d\";\n");
    assert_ok();
    assert_str(&core_conf()->pid, "/tmp/a\"b'c\\d");

    parse("events { }\npid '/tmp/a\\nb\\tc\\rd';\n");
    assert_ok();
    assert_str(&core_conf()->pid, "/tmp/a\nb\tc\rd");

    /* an unknown escape is kept as it is */
    parse("events { }\npid \"/tmp/a\\qb\\$c\";\n");
    assert_ok();
    assert_str(&core_conf()->pid, "/tmp/a\\qb\\$c");

    /* escapes in a plain word too, including an escaped space and ";" */
    parse("events { }\npid /tmp/a\\ b\\;c\\\"d;\n");
    assert_ok();
    assert_str(&core_conf()->pid, "/tmp/a\\ b\\;c\"d");

    /* the other quote needs no escape; quoted text may span lines */
    parse("events { }\npid \"/tmp/it's\n\";\npid2 x;\n");
    assert_error("unknown directive \"pid2\"", 4);

    /* an escaped newline in a quoted string still counts as a line */
    parse("events { }\npid \"/tmp/a\\\nb\";\nbogus;\n");
    assert_error("unknown directive \"bogus\"", 4);

    /* an empty quoted string is an argument */
    parse("events { }\nerror_log \"\";\n");
    assert_error("empty file name in \"error_log\" directive", 2);
}


static void
test_variables_in_words(void **state)
{
    /* "${var}" stays inside the word even though it holds braces */
    parse("events { }\npid /tmp/${name}.pid;\n");
    assert_ok();
    assert_str(&core_conf()->pid, "/tmp/${name}.pid");

    parse("events { }\npid /tmp/${a}${b}x;\n");
    assert_ok();
    assert_str(&core_conf()->pid, "/tmp/${a}${b}x");

    /* "$x" followed by "{" opens a block as usual */
    parse("events { }\npid /tmp/$a{ }\n");
    assert_error("directive \"pid\" is not terminated by \";\"", 2);

    /* a lone "$" and a "$" at the end of a word */
    parse("events { }\npid /tmp/$;\n");
    assert_ok();
    assert_str(&core_conf()->pid, "/tmp/$");
}


static void
test_comments(void **state)
{
    parse("# leading comment\n"
          "events { # after a brace\n"
          "    worker_connections 16; # after a directive\n"
          "    # worker_connections 17;\n"
          "}\n"
          "pid /tmp/a.pid;# no space\n"
          "# the last line without a newline");
    assert_ok();
    assert_int_equal(event_conf()->connections, 16);
    assert_str(&core_conf()->pid, "/tmp/a.pid");

    /* "#" inside a word or a quoted string is not a comment */
    parse("events { }\npid /tmp/a#b;\n");
    assert_ok();
    assert_str(&core_conf()->pid, "/tmp/a#b");

    parse("events { }\npid \"/tmp/#x\";\n");
    assert_ok();
    assert_str(&core_conf()->pid, "/tmp/#x");

    /* a comment right after the last word, at EOF */
    parse("events { }\npid /tmp/a.pid;#");
    assert_ok();

    /* a comment hides the ";" */
    parse("events { }\npid /tmp/a.pid # ;\n");
    assert_error("unexpected end of file, expecting \";\" or \"}\"", 3);
}


/* dispatch */

static void
test_unknown_directive(void **state)
{
    parse("events { }\n\nfoo bar;\n");
    assert_error("unknown directive \"foo\"", 3);

    parse("events {\n    bogus;\n}\n");
    assert_error("unknown directive \"bogus\"", 2);

    /* directive names are case-sensitive */
    parse("events { }\nPID /tmp/a.pid;\n");
    assert_error("unknown directive \"PID\"", 2);

    parse("events { }\nhttp {\n    server {\n        Listen 80;\n"
          "    }\n}\n");
    assert_error("unknown directive \"Listen\"", 4);
}


static void
test_not_allowed_here(void **state)
{
    parse("events { }\nlisten 80;\n");
    assert_error("\"listen\" directive is not allowed here", 2);

    parse("events { }\nserver { }\n");
    assert_error("\"server\" directive is not allowed here", 2);

    parse("events { }\nhttp {\n    pid /tmp/a.pid;\n}\n");
    assert_error("\"pid\" directive is not allowed here", 3);

    parse("events {\n    http { }\n}\n");
    assert_error("\"http\" directive is not allowed here", 2);

    parse("events { }\nhttp {\n    location / { }\n}\n");
    assert_error("\"location\" directive is not allowed here", 3);

    parse("events { }\nhttp {\n    server {\n        location / {\n"
          "            client_header_timeout 5s;\n        }\n    }\n}\n");
    assert_error("\"client_header_timeout\" directive is not allowed here",
                 5);

    parse("worker_connections 8;\nevents { }\n");
    assert_error("\"worker_connections\" directive is not allowed here", 1);
}


static void
test_block_and_terminator(void **state)
{
    parse("events;\n");
    assert_error("directive \"events\" has no opening \"{\"", 1);

    parse("events { }\npid /tmp/a.pid { }\n");
    assert_error("directive \"pid\" is not terminated by \";\"", 2);
}


static void
test_argument_counts(void **state)
{
    parse("events { }\npid;\n");
    assert_error("invalid number of arguments in \"pid\" directive", 2);

    parse("events { }\npid /tmp/a /tmp/b;\n");
    assert_error("invalid number of arguments in \"pid\" directive", 2);

    parse("events x { }\n");
    assert_error("invalid number of arguments in \"events\" directive", 1);

    parse("events {\n    multi_accept;\n}\n");
    assert_error("invalid number of arguments in \"multi_accept\" directive",
                 2);

    parse("events {\n    multi_accept on off;\n}\n");
    assert_error("invalid number of arguments in \"multi_accept\" directive",
                 2);

    parse("events { }\nhttp {\n    server {\n        listen;\n    }\n}\n");
    assert_error("invalid number of arguments in \"listen\" directive", 4);

    parse("events { }\nhttp {\n    server {\n        location a b c { }\n"
          "    }\n}\n");
    assert_error("invalid number of arguments in \"location\" directive", 4);

    /* more than PT_CONF_MAX_ARGS words */
    parse("events { }\nhttp {\n    server {\n"
          "        location 1 2 3 4 5 6 7 8 9 10 { }\n    }\n}\n");
    assert_error("invalid number of arguments in \"location\" directive", 4);

    parse("events { }\nerror_log a b c;\n");
    assert_error("invalid number of arguments in \"error_log\" directive",
                 2);

    /* an empty string is a word */
    parse("events { }\npid \"\" \"\";\n");
    assert_error("invalid number of arguments in \"pid\" directive", 2);
}


static void
test_duplicates(void **state)
{
    parse("events { }\npid /tmp/a.pid;\npid /tmp/b.pid;\n");
    assert_error("\"pid\" directive is duplicate", 3);

    parse("events { }\nevents { }\n");
    assert_error("\"events\" directive is duplicate", 2);

    parse("events { }\nhttp { }\nhttp { }\n");
    assert_error("\"http\" directive is duplicate", 3);

    parse("events {\n    worker_connections 8;\n    worker_connections 8;\n"
          "}\n");
    assert_error("\"worker_connections\" directive is duplicate", 3);

    parse("events {\n    multi_accept on;\n    multi_accept off;\n}\n");
    assert_error("\"multi_accept\" directive is duplicate", 3);

    parse("events { }\nhttp {\n    server {\n        location / {\n"
          "            keepalive_timeout 5s;\n"
          "            keepalive_timeout 6s;\n        }\n    }\n}\n");
    assert_error("\"keepalive_timeout\" directive is duplicate", 6);

    parse("events { }\nhttp {\n    client_header_buffer_size 1k;\n"
          "    client_header_buffer_size 2k;\n}\n");
    assert_error("\"client_header_buffer_size\" directive is duplicate", 4);

    /* the same directive at another level is not a duplicate */
    parse("events { }\nhttp {\n    keepalive_timeout 5s;\n    server {\n"
          "        keepalive_timeout 6s;\n    }\n}\n");
    assert_ok();
}


static void
test_flags(void **state)
{
    parse("events {\n    multi_accept on;\n}\n");
    assert_ok();
    assert_int_equal(event_conf()->multi_accept, 1);

    parse("events {\n    multi_accept OFF;\n}\n");
    assert_ok();
    assert_int_equal(event_conf()->multi_accept, 0);

    parse("events {\n    multi_accept \"On\";\n}\n");
    assert_ok();
    assert_int_equal(event_conf()->multi_accept, 1);

    parse("events {\n    multi_accept yes;\n}\n");
    assert_error("invalid value \"yes\" in \"multi_accept\" directive, "
                 "it must be \"on\" or \"off\"", 2);

    parse("events {\n    multi_accept \"\";\n}\n");
    assert_error("invalid value \"\" in \"multi_accept\" directive, "
                 "it must be \"on\" or \"off\"", 2);

    parse("events {\n    multi_accept on1;\n}\n");
    assert_error("invalid value \"on1\" in \"multi_accept\" directive, "
                 "it must be \"on\" or \"off\"", 2);

    /* inherited from http by the server */
    parse("events { }\nhttp {\n    merge_slashes off;\n"
          "    server { listen 127.0.0.1:8080; }\n"
          "    server { listen 127.0.0.1:8081; merge_slashes on; }\n}\n");
    assert_ok();
    assert_int_equal(server_conf(0)->merge_slashes, 0);
    assert_int_equal(server_conf(1)->merge_slashes, 1);
    assert_int_equal(server_conf(0)->underscores_in_headers, 0);
    assert_int_equal(server_conf(0)->ignore_invalid_headers, 1);
}


static void
test_numbers(void **state)
{
    parse("events {\n    worker_connections 1048576;\n}\n");
    assert_ok();
    assert_int_equal(event_conf()->connections, 1048576);

    parse("events {\n    worker_connections 1048577;\n}\n");
    assert_error("value must be between 2 and 1048576", 2);

    parse("events {\n    worker_connections -1;\n}\n");
    assert_error("invalid number \"-1\" in \"worker_connections\" directive",
                 2);

    parse("events {\n    worker_connections 99999999999999999999;\n}\n");
    assert_error("invalid number \"99999999999999999999\" in "
                 "\"worker_connections\" directive", 2);

    parse("events {\n    worker_connections 1k;\n}\n");
    assert_error("invalid number \"1k\" in \"worker_connections\" directive",
                 2);

    parse("events { }\nhttp {\n    keepalive_requests 0;\n}\n");
    assert_error("value must be equal to or greater than 1", 3);

    parse("events { }\nhttp {\n    keepalive_requests 500;\n"
          "    server { listen 127.0.0.1:8080; }\n}\n");
    assert_ok();
    assert_int_equal(server_loc_conf(0)->keepalive_requests, 500);
}


static void
test_time_values(void **state)
{
    static const struct {
        const char  *value;
        pt_msec_t    msec;
    } good[] = {
        { "75s", 75000 },
        { "75", 75000 },
        { "1m", 60000 },
        { "500ms", 500 },
        { "0", 0 },
        { "1h", 3600000 },
        { "\"1m 30s\"", 90000 },
        { "1m30s", 90000 },
        { "1d", 86400000 },
        { "1s500ms", 1500 },
    };
    static const char  *bad[] = {
        "75x", "-1", "\"\"", "ms", "1s1m", "1m1m", "s", "1.5s", "\"1s \"",
        "99999999999999999999", "1ss",
    };
    static const char  *directives[] = {
        "keepalive_timeout", "client_header_timeout", "send_timeout",
    };

    char       conf[256], msg[256];
    pt_uint_t  i, d;

    for (i = 0; i < pt_nelems(good); i++) {
        snprintf(conf, sizeof(conf),
                 "events { }\nhttp {\n    keepalive_timeout %s;\n"
                 "    server { listen 127.0.0.1:8080; }\n}\n", good[i].value);
        parse(conf);
        assert_ok();
        assert_int_equal(server_loc_conf(0)->keepalive_timeout, good[i].msec);
        teardown(NULL);
    }

    /* the generic msec setter */
    parse("events { }\nhttp {\n    client_header_timeout 500ms;\n"
          "    server { listen 127.0.0.1:8080; }\n}\n");
    assert_ok();
    assert_int_equal(server_conf(0)->client_header_timeout, 500);
    teardown(NULL);

    parse("events { }\nhttp {\n    send_timeout 5;\n"
          "    server { listen 127.0.0.1:8080; }\n}\n");
    assert_ok();
    assert_int_equal(server_loc_conf(0)->send_timeout, 5000);
    teardown(NULL);

    for (d = 0; d < pt_nelems(directives); d++) {
        for (i = 0; i < pt_nelems(bad); i++) {
            snprintf(conf, sizeof(conf),
                     "events { }\nhttp {\n    %s %s;\n}\n", directives[d],
                     bad[i]);
            parse(conf);
            snprintf(msg, sizeof(msg),
                     "invalid time \"%.*s\" in \"%s\" directive",
                     bad[i][0] == '"' ? (int) strlen(bad[i]) - 2
                                      : (int) strlen(bad[i]),
                     bad[i][0] == '"' ? bad[i] + 1 : bad[i], directives[d]);
            assert_error(msg, 3);
            teardown(NULL);
        }
    }
}


static void
test_size_values(void **state)
{
    static const struct {
        const char  *value;
        size_t       size;
    } good[] = {
        { "1k", 1024 },
        { "1K", 1024 },
        { "64", 64 },
        { "2048", 2048 },
        { "1m", 1024 * 1024 },
    };
    static const char  *bad[] = {
        "1q", "k", "-1", "1.5k", "1kk", "1 k", "99999999999999999999",
        "9999999999999g",
    };

    char       conf[256], msg[256];
    pt_uint_t  i;

    for (i = 0; i < pt_nelems(good); i++) {
        snprintf(conf, sizeof(conf),
                 "events { }\nhttp {\n    client_header_buffer_size %s;\n"
                 "    large_client_header_buffers 4 1m;\n"
                 "    server { listen 127.0.0.1:8080; }\n}\n", good[i].value);
        parse(conf);
        assert_ok();
        assert_int_equal(server_conf(0)->client_header_buffer_size,
                         good[i].size);
        teardown(NULL);
    }

    for (i = 0; i < pt_nelems(bad); i++) {
        snprintf(conf, sizeof(conf),
                 "events { }\nhttp {\n    client_header_buffer_size \"%s\";\n"
                 "}\n", bad[i]);
        parse(conf);
        snprintf(msg, sizeof(msg), "invalid size \"%s\" in "
                 "\"client_header_buffer_size\" directive", bad[i]);
        assert_error(msg, 3);
        teardown(NULL);
    }

    /* checked when the server is merged, at the end of the http block */
    parse("events { }\nhttp {\n    client_header_buffer_size 10;\n"
          "    server { listen 127.0.0.1:8080; }\n}\n");
    assert_error("\"client_header_buffer_size\" must be at least 64 bytes",
                 5);
    teardown(NULL);

    parse("events { }\nhttp {\n    large_client_header_buffers 4 8k;\n"
          "    server { listen 127.0.0.1:8080; }\n}\n");
    assert_ok();
    assert_int_equal(server_conf(0)->large_client_header_buffers.num, 4);
    assert_int_equal(server_conf(0)->large_client_header_buffers.size, 8192);
    teardown(NULL);

    parse("events { }\nhttp {\n    large_client_header_buffers 0 8k;\n}\n");
    assert_error("invalid number \"0\" in \"large_client_header_buffers\" "
                 "directive", 3);
    teardown(NULL);

    parse("events { }\nhttp {\n    large_client_header_buffers 4 0;\n}\n");
    assert_error("invalid size \"0\" in \"large_client_header_buffers\" "
                 "directive", 3);
}


static void
test_enum(void **state)
{
    parse("events { }\nhttp {\n    server_tokens OFF;\n"
          "    server { listen 127.0.0.1:8080; }\n}\n");
    assert_ok();
    assert_int_equal(server_loc_conf(0)->server_tokens,
                     PT_HTTP_SERVER_TOKENS_OFF);
    teardown(NULL);

    parse("events { }\nhttp {\n    server_tokens build;\n}\n");
    assert_error("invalid value \"build\" in \"server_tokens\" directive", 3);
}


/* include */

static void
test_include_relative(void **state)
{
    char  conf[PATH_MAX + 64];

    write_file("sub/pid.conf", "pid /tmp/included.pid;\n");
    write_file("sub/events.conf", "worker_connections 12;\n");

    /* relative to the directory of the main configuration file */
    parse("events {\n    include sub/events.conf;\n}\n"
          "include sub/pid.conf;\n");
    assert_ok();
    assert_str(&core_conf()->pid, "/tmp/included.pid");
    assert_int_equal(event_conf()->connections, 12);

    /* an absolute path */
    teardown(NULL);
    write_file("sub/pid.conf", "pid /tmp/included.pid;\n");

    snprintf(conf, sizeof(conf), "events { }\ninclude \"%s/sub/pid.conf\";\n",
             tc.dir);
    parse(conf);
    assert_ok();
    assert_str(&core_conf()->pid, "/tmp/included.pid");
}


static void
test_include_errors_point_into_file(void **state)
{
    write_file("sub/bad.conf", "# one\n# two\nbogus;\n");

    parse("events { }\n\ninclude sub/bad.conf;\n");
    assert_error_at("unknown directive \"bogus\"", "sub/bad.conf", 3);

    /* after an include, lines in the parent are counted on */
    teardown(NULL);
    write_file("sub/ok.conf", "\n\n\n\n\n\n\n\n# nine lines\n");
    parse("events { }\ninclude sub/ok.conf;\nbogus;\n");
    assert_error("unknown directive \"bogus\"", 3);

    /* an included file cannot close the block it is included in */
    teardown(NULL);
    write_file("sub/brace.conf", "worker_connections 8;\n}\n");
    parse("events {\n    include sub/brace.conf;\n}\n");
    assert_error_at("unexpected \"}\"", "sub/brace.conf", 2);

    /* nor leave one open */
    teardown(NULL);
    write_file("sub/open.conf", "http {\n");
    parse("events { }\ninclude sub/open.conf;\n}\n");
    assert_error_at("unexpected end of file, expecting \"}\"",
                    "sub/open.conf", 2);

    /* a directive cannot run across the end of an included file */
    teardown(NULL);
    write_file("sub/half.conf", "pid");
    parse("events { }\ninclude sub/half.conf;\n/tmp/a.pid;\n");
    assert_error_at("unexpected end of file, expecting \";\" or \"}\"",
                    "sub/half.conf", 1);
}


static void
test_include_glob(void **state)
{
    pt_http_core_loc_conf_t  *clcf;

    /* created out of order: glob() sorts them */
    write_file("conf.d/c.conf", "location /c { }\n");
    write_file("conf.d/a.conf", "location /a { }\n");
    write_file("conf.d/b.conf", "location /b { keepalive_timeout 2s; }\n");
    write_file("conf.d/skip.txt", "bogus;\n");

    parse("events { }\nhttp {\n    server {\n"
          "        listen 127.0.0.1:8080;\n"
          "        include conf.d/*.conf;\n"
          "        location /d { }\n    }\n}\n");
    assert_ok();

    clcf = server_loc_conf(0);
    assert_int_equal(clcf->prefix_locations->nelts, 4);
    assert_str(&nth_location(clcf->prefix_locations, 0)->name, "/a");
    assert_str(&nth_location(clcf->prefix_locations, 1)->name, "/b");
    assert_str(&nth_location(clcf->prefix_locations, 2)->name, "/c");
    assert_str(&nth_location(clcf->prefix_locations, 3)->name, "/d");
    assert_int_equal(nth_location(clcf->prefix_locations, 1)
                     ->keepalive_timeout, 2000);

    /* the second file of a glob fails: its name and line are reported */
    teardown(NULL);
    write_file("conf.d/a.conf", "pid /tmp/a.pid;\n");
    write_file("conf.d/b.conf", "\npid /tmp/b.pid;\n");
    parse("events { }\ninclude conf.d/*.conf;\n");
    assert_error_at("\"pid\" directive is duplicate", "conf.d/b.conf", 2);

    /* a glob that matches nothing is fine */
    teardown(NULL);
    parse("events { }\ninclude nothing/*.conf;\ninclude none-*.conf;\n"
          "pid /tmp/after.pid;\n");
    assert_ok();
    assert_str(&core_conf()->pid, "/tmp/after.pid");
}


static void
test_include_missing(void **state)
{
    char  msg[PATH_MAX + 128];

    parse("events { }\n\ninclude missing.conf;\n");
    snprintf(msg, sizeof(msg),
             "open() \"%s/missing.conf\" failed (2: No such file or directory)",
             tc.dir);
    assert_error(msg, 3);

    /* a directory is not a configuration file */
    teardown(NULL);
    write_file("sub/x.conf", "\n");
    parse("events { }\ninclude sub;\n");
    snprintf(msg, sizeof(msg),
             "open() \"%s/sub\" failed (22: Invalid argument)", tc.dir);
    assert_error(msg, 2);

    /* nor is an empty name, which is the directory itself */
    teardown(NULL);
    parse("events { }\ninclude \"\";\n");
    snprintf(msg, sizeof(msg),
             "open() \"%s/\" failed (22: Invalid argument)", tc.dir);
    assert_error(msg, 2);
}


static void
test_include_self(void **state)
{
    parse("\ninclude portico.conf;\nevents { }\n");
    assert_error("too deeply nested includes or blocks", 2);

    /* two files including each other */
    teardown(NULL);
    write_file("a.conf", "include b.conf;\n");
    write_file("b.conf", "\ninclude a.conf;\n");
    parse("events { }\ninclude a.conf;\n");
    assert_null(tc.cycle);
    assert_non_null(strstr(tc.err, "too deeply nested includes or blocks"));
}


static void
test_deep_blocks(void **state)
{
    char       *conf, *p;
    pt_uint_t   i, n;

    /* nested locations are limited, as includes are: no stack overflow */
    n = 10000;
    conf = malloc(n * 16 + 256);
    assert_non_null(conf);

    p = conf + sprintf(conf, "events { }\nhttp {\n server {\n");

    for (i = 0; i < n; i++) {
        p += sprintf(p, "location /{\n");
    }

    *p = '\0';

    parse(conf);
    free(conf);

    /* file, http and server take three levels of PT_CONF_MAX_DEPTH */
    assert_error("too deeply nested includes or blocks",
                 4 + PT_CONF_MAX_DEPTH - 3);

    /* a reasonable nesting is fine */
    teardown(NULL);
    parse("events { }\nhttp {\n server {\n  listen 127.0.0.1:8080;\n"
          "  location /a {\n   location /a/b {\n    location /a/b/c {\n"
          "     keepalive_timeout 1s;\n    }\n   }\n  }\n }\n}\n");
    assert_ok();
    assert_int_equal(nth_location(nth_location(nth_location(
        server_loc_conf(0)->prefix_locations, 0)->prefix_locations, 0)
        ->prefix_locations, 0)->keepalive_timeout, 1000);
}


static void
test_dump(void **state)
{
    char             name[PATH_MAX];
    pt_conf_dump_t  *cd;

    write_file("sub/a.conf", "# nothing\n");

    pt_dump_config = 1;
    parse("events {\n    include sub/a.conf;\n    include sub/*.conf;\n}\n");
    pt_dump_config = 0;
    assert_ok();

    /* each file once, in the order first read */
    assert_int_equal(tc.cycle->config_dump.nelts, 2);
    cd = tc.cycle->config_dump.elts;

    snprintf(name, sizeof(name), "%s/portico.conf", tc.dir);
    assert_str(&cd[0].name, name);
    assert_str(&cd[0].buffer, "events {\n    include sub/a.conf;\n"
                              "    include sub/*.conf;\n}\n");

    snprintf(name, sizeof(name), "%s/sub/a.conf", tc.dir);
    assert_str(&cd[1].name, name);
    assert_str(&cd[1].buffer, "# nothing\n");
}


/* -g */

static void
test_command_line(void **state)
{
    write_file("portico.conf", "events { }\n");

    parse_file("portico.conf", "pid /tmp/g.pid;");
    assert_ok();
    assert_str(&tc.cycle->conf_param,
               "error_log stderr; pid /tmp/g.pid;");
    assert_str(&core_conf()->pid, "/tmp/g.pid");
    teardown(NULL);

    write_file("portico.conf", "events { }\n");
    parse_file("portico.conf", "bogus on;");
    assert_error_at("unknown directive \"bogus\"", NULL, 0);
    teardown(NULL);

    write_file("portico.conf", "events { }\n");
    parse_file("portico.conf", "http { }");
    assert_error_at("block directives are not supported in -g option",
                    NULL, 0);
    teardown(NULL);

    write_file("portico.conf", "events { }\n");
    parse_file("portico.conf", "pid /tmp/g.pid");
    assert_error_at("unexpected end of file, expecting \";\" or \"}\"",
                    NULL, 0);
    teardown(NULL);

    write_file("portico.conf", "events { }\n");
    parse_file("portico.conf", "}");
    assert_error_at("unexpected \"}\"", NULL, 0);
    teardown(NULL);

    write_file("portico.conf", "events { }\n");
    parse_file("portico.conf", "listen 80;");
    assert_error_at("\"listen\" directive is not allowed here", NULL, 0);
    teardown(NULL);

    /* -g is read first: the file's directive is the duplicate */
    write_file("portico.conf", "events { }\npid /tmp/f.pid;\n");
    parse_file("portico.conf", "pid /tmp/g.pid;");
    assert_error("\"pid\" directive is duplicate", 2);
    teardown(NULL);

    /* an include from -g */
    write_file("portico.conf", "events { }\n");
    write_file("g.conf", "pid /tmp/inc.pid;\n");
    parse_file("portico.conf", "include g.conf;");
    assert_ok();
    assert_str(&core_conf()->pid, "/tmp/inc.pid");
}


/* inheritance */

static void
test_inheritance(void **state)
{
    pt_http_core_loc_conf_t  *srv, *a, *b, *exact, *nested;

    parse("events { }\n"
          "http {\n"
          "    keepalive_timeout 10s;\n"
          "    default_type text/html;\n"
          "    server {\n"
          "        listen 127.0.0.1:8080;\n"
          "        location /a { }\n"
          "        location /b {\n"
          "            keepalive_timeout 5s;\n"
          "            location /b/c { }\n"
          "        }\n"
          "        location = /x { default_type a/b; }\n"
          "        location ~ \\.php$ { }\n"
          "    }\n"
          "    server {\n"
          "        listen 127.0.0.1:8081;\n"
          "        keepalive_timeout 1m;\n"
          "        location / { }\n"
          "    }\n"
          "    server {\n"
          "        listen 127.0.0.1:8082;\n"
          "    }\n"
          "}\n");
    assert_ok();
    assert_int_equal(http_main_conf()->servers.nelts, 3);

    srv = server_loc_conf(0);
    assert_int_equal(srv->keepalive_timeout, 10000);
    assert_str(&srv->default_type, "text/html");

    assert_int_equal(srv->prefix_locations->nelts, 2);
    a = nth_location(srv->prefix_locations, 0);
    b = nth_location(srv->prefix_locations, 1);
    assert_str(&a->name, "/a");
    assert_str(&b->name, "/b");
    assert_int_equal(a->keepalive_timeout, 10000);
    assert_int_equal(b->keepalive_timeout, 5000);
    assert_str(&a->default_type, "text/html");

    /* a nested location inherits from its parent location */
    nested = nth_location(b->prefix_locations, 0);
    assert_str(&nested->name, "/b/c");
    assert_int_equal(nested->keepalive_timeout, 5000);

    exact = nth_location(srv->exact_locations, 0);
    assert_true(exact->exact_match);
    assert_str(&exact->name, "/x");
    assert_str(&exact->default_type, "a/b");
    assert_int_equal(exact->keepalive_timeout, 10000);

    assert_int_equal(srv->regex_locations->nelts, 1);
    assert_non_null(nth_location(srv->regex_locations, 0)->regex);
    assert_int_equal(nth_location(srv->regex_locations, 0)
                     ->keepalive_timeout, 10000);

    /* set in the second server, inherited by its location */
    assert_int_equal(server_loc_conf(1)->keepalive_timeout, 60000);
    assert_int_equal(nth_location(server_loc_conf(1)->prefix_locations, 0)
                     ->keepalive_timeout, 60000);

    /* the third server inherits from http */
    assert_int_equal(server_loc_conf(2)->keepalive_timeout, 10000);

    /* the built-in default when nothing is set */
    teardown(NULL);
    parse("events { }\nhttp {\n    server {\n        listen 127.0.0.1:8080;\n"
          "        location / { }\n    }\n}\n");
    assert_ok();
    assert_int_equal(server_loc_conf(0)->keepalive_timeout, 75000);
    assert_int_equal(nth_location(server_loc_conf(0)->prefix_locations, 0)
                     ->keepalive_timeout, 75000);
    assert_str(&server_loc_conf(0)->default_type, "text/plain");
}


static void
test_locations(void **state)
{
    parse("events { }\nhttp {\n    server {\n"
          "        location / { }\n        location / { }\n    }\n}\n");
    assert_error("duplicate location \"/\"", 5);
    teardown(NULL);

    parse("events { }\nhttp {\n    server {\n"
          "        location /a {\n            location /b { }\n"
          "        }\n    }\n}\n");
    assert_error("location \"/b\" is outside location \"/a\"", 5);
    teardown(NULL);

    parse("events { }\nhttp {\n    server {\n"
          "        location ~ ( { }\n    }\n}\n");
    assert_null(tc.cycle);
    assert_non_null(strstr(tc.err, "[emerg] "));
    assert_non_null(strstr(tc.err, "portico.conf:4\n"));
    teardown(NULL);

    parse("events { }\nhttp {\n    server {\n"
          "        location ! /a { }\n    }\n}\n");
    assert_error("invalid location modifier \"!\"", 4);
}


/* the generic setters, called directly as the dispatcher calls them */

typedef struct {
    pt_flag_t     flag;
    pt_str_t      str;
    pt_array_t   *strs;
    pt_array_t   *kvs;
    pt_int_t      num;
    pt_int_t      bounded;
    size_t        size;
    off_t         off;
    pt_msec_t     msec;
    time_t        sec;
    pt_bufs_t     bufs;
    pt_uint_t     e;
    pt_uint_t     mask;
} test_conf_t;


static pt_conf_enum_t  test_enum_values[] = {
    { pt_string("a"), 1 },
    { pt_string("b"), 2 },
    { pt_null_string, 0 }
};

static pt_conf_bitmask_t  test_mask_values[] = {
    { pt_string("a"), 0x02 },
    { pt_string("b"), 0x04 },
    { pt_null_string, 0 }
};

static pt_conf_num_bounds_t  test_bounds = {
    pt_conf_check_num_bounds, 1, 10
};


static pt_command_t  test_commands[] = {
    { pt_string("t_flag"), 0, pt_conf_set_flag_slot, 0,
      offsetof(test_conf_t, flag), NULL },
    { pt_string("t_str"), 0, pt_conf_set_str_slot, 0,
      offsetof(test_conf_t, str), NULL },
    { pt_string("t_strs"), 0, pt_conf_set_str_array_slot, 0,
      offsetof(test_conf_t, strs), NULL },
    { pt_string("t_kv"), 0, pt_conf_set_keyval_slot, 0,
      offsetof(test_conf_t, kvs), NULL },
    { pt_string("t_num"), 0, pt_conf_set_num_slot, 0,
      offsetof(test_conf_t, num), NULL },
    { pt_string("t_bounded"), 0, pt_conf_set_num_slot, 0,
      offsetof(test_conf_t, bounded), &test_bounds },
    { pt_string("t_size"), 0, pt_conf_set_size_slot, 0,
      offsetof(test_conf_t, size), NULL },
    { pt_string("t_off"), 0, pt_conf_set_off_slot, 0,
      offsetof(test_conf_t, off), NULL },
    { pt_string("t_msec"), 0, pt_conf_set_msec_slot, 0,
      offsetof(test_conf_t, msec), NULL },
    { pt_string("t_sec"), 0, pt_conf_set_sec_slot, 0,
      offsetof(test_conf_t, sec), NULL },
    { pt_string("t_bufs"), 0, pt_conf_set_bufs_slot, 0,
      offsetof(test_conf_t, bufs), NULL },
    { pt_string("t_enum"), 0, pt_conf_set_enum_slot, 0,
      offsetof(test_conf_t, e), test_enum_values },
    { pt_string("t_mask"), 0, pt_conf_set_bitmask_slot, 0,
      offsetof(test_conf_t, mask), test_mask_values },
    pt_null_command
};


/* Runs the setter of the command named args[0] with the other args. */
static char *
run_setter(pt_conf_t *cf, test_conf_t *conf, const char **args)
{
    char          *rv;
    pt_str_t      *w;
    pt_uint_t      i;
    pt_command_t  *cmd;

    for (cmd = test_commands; cmd->name.len; cmd++) {
        if (strcmp((char *) cmd->name.data, args[0]) == 0) {
            break;
        }
    }

    assert_true(cmd->name.len != 0);

    cf->args->nelts = 0;

    for (i = 0; args[i]; i++) {
        w = pt_array_push(cf->args);
        assert_non_null(w);
        w->len = strlen(args[i]);
        w->data = (u_char *) pt_pstrdup(cf->pool,
                                        &(pt_str_t) { w->len,
                                                      (u_char *) args[i] });
        assert_non_null(w->data);
    }

    capture_begin();
    rv = cmd->set(cf, cmd, conf);
    capture_end();

    return rv;
}


#define set_ok(...)                                                          \
    assert_ptr_equal(run_setter(&cf, &conf,                                  \
                                (const char *[]) { __VA_ARGS__, NULL }),     \
                     PT_CONF_OK)

#define set_fails(msg, ...)                                                  \
    do {                                                                     \
        assert_ptr_equal(run_setter(&cf, &conf,                              \
                                    (const char *[]) { __VA_ARGS__, NULL }), \
                         PT_CONF_ERROR);                                     \
        assert_non_null(strstr(tc.err, "[emerg] " msg "\n"));                \
    } while (0)

#define set_returns(msg, ...)                                                \
    do {                                                                     \
        char  *rv_;                                                          \
                                                                             \
        rv_ = run_setter(&cf, &conf, (const char *[]) { __VA_ARGS__, NULL }); \
        assert_true(rv_ != PT_CONF_OK && rv_ != PT_CONF_ERROR);              \
        assert_string_equal(rv_, msg);                                       \
    } while (0)


static void
test_generic_setters(void **state)
{
    pt_conf_t     cf;
    pt_keyval_t  *kv;
    pt_str_t     *strs;
    test_conf_t   conf;

    pt_memzero(&cf, sizeof(pt_conf_t));
    cf.log = tc.log;
    cf.pool = pt_create_pool(1024, tc.log);
    assert_non_null(cf.pool);
    cf.args = pt_array_create(cf.pool, 4, sizeof(pt_str_t));
    assert_non_null(cf.args);

    pt_memzero(&conf, sizeof(test_conf_t));
    conf.flag = PT_CONF_UNSET;
    conf.strs = PT_CONF_UNSET_PTR;
    conf.kvs = NULL;
    conf.num = PT_CONF_UNSET;
    conf.bounded = PT_CONF_UNSET;
    conf.size = PT_CONF_UNSET_SIZE;
    conf.off = PT_CONF_UNSET;
    conf.msec = PT_CONF_UNSET_MSEC;
    conf.sec = PT_CONF_UNSET;
    conf.e = PT_CONF_UNSET_UINT;

    set_fails("invalid value \"yes\" in \"t_flag\" directive, it must be "
              "\"on\" or \"off\"", "t_flag", "yes");
    set_ok("t_flag", "On");
    assert_int_equal(conf.flag, 1);
    set_returns("is duplicate", "t_flag", "off");

    set_ok("t_str", "value");
    assert_str(&conf.str, "value");
    set_returns("is duplicate", "t_str", "other");

    set_ok("t_strs", "one");
    set_ok("t_strs", "two");
    assert_int_equal(conf.strs->nelts, 2);
    strs = conf.strs->elts;
    assert_str(&strs[0], "one");
    assert_str(&strs[1], "two");

    set_ok("t_kv", "k1", "v1");
    set_ok("t_kv", "k2", "");
    assert_int_equal(conf.kvs->nelts, 2);
    kv = conf.kvs->elts;
    assert_str(&kv[0].key, "k1");
    assert_str(&kv[0].value, "v1");
    assert_str(&kv[1].key, "k2");
    assert_str(&kv[1].value, "");

    set_fails("invalid number \"4x\" in \"t_num\" directive", "t_num", "4x");
    conf.num = PT_CONF_UNSET;
    set_fails("invalid number \"\" in \"t_num\" directive", "t_num", "");
    conf.num = PT_CONF_UNSET;
    set_ok("t_num", "42");
    assert_int_equal(conf.num, 42);
    set_returns("is duplicate", "t_num", "43");

    set_fails("value must be between 1 and 10", "t_bounded", "11");
    conf.bounded = PT_CONF_UNSET;
    set_fails("value must be between 1 and 10", "t_bounded", "0");
    conf.bounded = PT_CONF_UNSET;
    set_ok("t_bounded", "10");
    assert_int_equal(conf.bounded, 10);

    set_fails("invalid size \"2x\" in \"t_size\" directive", "t_size", "2x");
    set_ok("t_size", "2k");
    assert_int_equal(conf.size, 2048);
    set_returns("is duplicate", "t_size", "1");

    set_fails("invalid size \"1t\" in \"t_off\" directive", "t_off", "1t");
    conf.off = PT_CONF_UNSET;
    set_ok("t_off", "3g");
    assert_int_equal(conf.off, 3LL * 1024 * 1024 * 1024);
    set_returns("is duplicate", "t_off", "1");

    set_fails("invalid time \"1x\" in \"t_msec\" directive", "t_msec", "1x");
    set_ok("t_msec", "1s 250ms");
    assert_int_equal(conf.msec, 1250);
    set_returns("is duplicate", "t_msec", "1");

    /* seconds: milliseconds are refused */
    set_fails("invalid time \"500ms\" in \"t_sec\" directive", "t_sec",
              "500ms");
    conf.sec = PT_CONF_UNSET;
    set_ok("t_sec", "1h");
    assert_int_equal(conf.sec, 3600);
    set_returns("is duplicate", "t_sec", "1");

    set_fails("invalid number \"0\" in \"t_bufs\" directive", "t_bufs", "0",
              "8k");
    set_fails("invalid size \"8x\" in \"t_bufs\" directive", "t_bufs", "4",
              "8x");
    set_ok("t_bufs", "4", "8k");
    assert_int_equal(conf.bufs.num, 4);
    assert_int_equal(conf.bufs.size, 8192);
    set_returns("is duplicate", "t_bufs", "1", "1k");

    set_fails("invalid value \"c\" in \"t_enum\" directive", "t_enum", "c");
    set_ok("t_enum", "B");
    assert_int_equal(conf.e, 2);
    set_returns("is duplicate", "t_enum", "a");

    set_fails("invalid value \"c\" in \"t_mask\" directive", "t_mask", "a",
              "c");
    conf.mask = 0;
    set_ok("t_mask", "a", "B", "a");
    assert_non_null(strstr(tc.err, "[warn] duplicate value \"a\"\n"));
    assert_int_equal(conf.mask, 0x02 | 0x04 | PT_CONF_BITMASK_SET);
    set_returns("is duplicate", "t_mask", "b");

    pt_destroy_pool(cf.pool);
}


/* the parser's state after errors: nothing leaks, a new parse works */

static void
test_error_then_success(void **state)
{
    static const char  *bad[] = {
        "events { }\nhttp { server { location / { bogus; } } }\n",
        "events { }\nhttp { server { listen 127.0.0.1:8080; } }\n}",
        "events { }\nhttp { server { location /",
        "events { }\nhttp { keepalive_timeout x; }\n",
        "events { }\nhttp { server { server_name \"a/b\"; } }\n",
        "events { worker_connections 1; }\n",
        "events { }\nhttp { server { listen nowhere.invalid:x; } }\n",
    };

    pt_uint_t  i;

    for (i = 0; i < pt_nelems(bad); i++) {
        parse(bad[i]);
        assert_null(tc.cycle);
        assert_non_null(strstr(tc.err, "[emerg]"));
        teardown(NULL);
    }

    parse("events { }\nhttp { server { listen 127.0.0.1:8080; } }\n");
    assert_ok();
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_setup_teardown(test_minimal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_and_blank, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_crlf_and_spacing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unexpected_semicolon, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unexpected_open_brace, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unexpected_close_brace, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_eof_in_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eof_in_directive, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unterminated_quote, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_quote_then_letter, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_nul_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unterminated_variable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_variables_in_words, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_comments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_directive, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_not_allowed_here, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_block_and_terminator, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_argument_counts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_time_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enum, setup, teardown),
        cmocka_unit_test_setup_teardown(test_include_relative, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_include_errors_point_into_file,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_include_glob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_include_missing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_include_self, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deep_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inheritance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generic_setters, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_error_then_success, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
