/*
 * Unit tests for core/pt_files.c: opens with O_CLOEXEC, pread with offset
 * accounting, full writes, whole-file reads and their refusals, and
 * absolute names built from a prefix.
 */
#include "pt_core.h"

#include <setjmp.h>
#include <cmocka.h>


typedef struct {
    pt_pool_t  *pool;
    char        dir[64];
    char        path[128];
} test_ctx_t;


static int
setup(void **state)
{
    test_ctx_t  *ctx;

    ctx = calloc(1, sizeof(test_ctx_t));
    if (ctx == NULL) {
        return -1;
    }

    ctx->pool = pt_create_pool(1024, NULL);
    strcpy(ctx->dir, "/tmp/pt_test_files.XXXXXX");

    if (ctx->pool == NULL || mkdtemp(ctx->dir) == NULL) {
        return -1;
    }

    snprintf(ctx->path, sizeof(ctx->path), "%s/f", ctx->dir);
    *state = ctx;

    return 0;
}


static int
teardown(void **state)
{
    test_ctx_t  *ctx = *state;

    (void) unlink(ctx->path);
    (void) rmdir(ctx->dir);
    pt_destroy_pool(ctx->pool);
    free(ctx);

    return 0;
}


static void
test_open_write_read(void **state)
{
    u_char       buf[16];
    pt_fd_t      fd;
    ssize_t      n;
    pt_file_t    file;
    test_ctx_t  *ctx = *state;

    fd = pt_open_file((u_char *) ctx->path, PT_FILE_APPEND, 0644);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(pt_write_fd(fd, "hello, world", 12), 12);
    assert_int_equal(pt_write_fd(fd, "", 0), 0);
    close(fd);

    memset(&file, 0, sizeof(file));
    file.fd = pt_open_file((u_char *) ctx->path, PT_FILE_RDONLY, 0);
    assert_true(file.fd >= 0);
    file.name.len = strlen(ctx->path);
    file.name.data = (u_char *) ctx->path;

    n = pt_read_file(&file, buf, 5, 7);
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "world", 5);
    assert_int_equal(file.offset, 5);

    n = pt_read_file(&file, buf, 16, 0);
    assert_int_equal(n, 12);
    assert_int_equal(file.offset, 17);

    n = pt_read_file(&file, buf, 16, 12);
    assert_int_equal(n, 0);
    assert_int_equal(file.offset, 17);
    close(file.fd);

    file.fd = -1;
    assert_int_equal(pt_read_file(&file, buf, 1, 0), PT_ERROR);
    assert_int_equal(pt_write_fd(-1, "x", 1), PT_ERROR);
    assert_int_equal(errno, EBADF);

    assert_int_equal(pt_open_file((u_char *) "/nonexistent/x",
                                  PT_FILE_RDONLY, 0), PT_INVALID_FILE);
}


static void
test_read_whole_file(void **state)
{
    pt_fd_t      fd;
    pt_str_t     out;
    test_ctx_t  *ctx = *state;

    fd = pt_open_file((u_char *) ctx->path, PT_FILE_APPEND, 0644);
    assert_true(fd >= 0);
    assert_int_equal(pt_write_fd(fd, "line1\nline2\n", 12), 12);
    close(fd);

    assert_int_equal(pt_read_whole_file(ctx->pool, ctx->path, 12, &out),
                     PT_OK);
    assert_int_equal(out.len, 12);
    assert_memory_equal(out.data, "line1\nline2\n", 12);
    assert_int_equal(out.data[12], '\0');

    errno = 0;
    assert_int_equal(pt_read_whole_file(ctx->pool, ctx->path, 11, &out),
                     PT_ERROR);
    assert_int_equal(errno, EFBIG);

    errno = 0;
    assert_int_equal(pt_read_whole_file(ctx->pool, ctx->dir, 1000, &out),
                     PT_ERROR);
    assert_int_equal(errno, EINVAL);

    errno = 0;
    assert_int_equal(pt_read_whole_file(ctx->pool, "/nonexistent/x", 1000,
                                        &out), PT_ERROR);
    assert_int_equal(errno, ENOENT);

    /* empty file */
    fd = open(ctx->path, O_WRONLY | O_TRUNC);
    close(fd);
    assert_int_equal(pt_read_whole_file(ctx->pool, ctx->path, 0, &out),
                     PT_OK);
    assert_int_equal(out.len, 0);
    assert_int_equal(out.data[0], '\0');
}


static void
test_full_name(void **state)
{
    u_char      *orig;
    u_char       abs[] = "/etc/portico/x.conf and more";
    test_ctx_t  *ctx = *state;
    pt_str_t     prefix = pt_string("/usr/local/portico/");
    pt_str_t     noslash = pt_string("/srv");
    pt_str_t     empty = pt_null_string;
    pt_str_t     name;

    pt_str_set(&name, "conf/portico.conf");
    assert_int_equal(pt_get_full_name(ctx->pool, &prefix, &name), PT_OK);
    assert_int_equal(name.len, sizeof("/usr/local/portico/conf/portico.conf")
                               - 1);
    assert_string_equal((char *) name.data,
                        "/usr/local/portico/conf/portico.conf");

    pt_str_set(&name, "logs/error.log");
    assert_int_equal(pt_get_full_name(ctx->pool, &noslash, &name), PT_OK);
    assert_string_equal((char *) name.data, "/srv/logs/error.log");

    pt_str_set(&name, "rel");
    assert_int_equal(pt_get_full_name(ctx->pool, &empty, &name), PT_OK);
    assert_string_equal((char *) name.data, "rel");

    /* absolute and NUL-terminated: left where it is */
    pt_str_set(&name, "/var/log/portico.log");
    orig = name.data;
    assert_int_equal(pt_get_full_name(ctx->pool, &prefix, &name), PT_OK);
    assert_ptr_equal(name.data, orig);
    assert_int_equal(name.len, 20);

    /* absolute but a slice: copied and terminated */
    name.data = abs;
    name.len = sizeof("/etc/portico/x.conf") - 1;
    assert_int_equal(pt_get_full_name(ctx->pool, &prefix, &name), PT_OK);
    assert_ptr_not_equal(name.data, abs);
    assert_string_equal((char *) name.data, "/etc/portico/x.conf");
}


#define T(f)  cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        T(test_open_write_read),
        T(test_read_whole_file),
        T(test_full_name),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
