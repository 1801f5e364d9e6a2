/*
 * Unit tests for modules/pt_http_static_module.c: the dot-segment check of
 * mapped paths, and opening files under "disable_symlinks", both through
 * openat2() and through the component walk used where openat2() is
 * missing (which the integration tests cannot reach on a new kernel).
 */
#include "../../modules/pt_http_static_module.c"

#include <setjmp.h>
#include <cmocka.h>


static char  test_dir[64];


static void
make_file(const char *rel, const char *data)
{
    int   fd;
    char  path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", test_dir, rel);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd != -1);
    assert_int_equal(write(fd, data, strlen(data)), (ssize_t) strlen(data));
    close(fd);
}


static void
make_link(const char *target, const char *rel)
{
    char  path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", test_dir, rel);
    assert_int_equal(symlink(target, path), 0);
}


static int
setup_tree(void **state)
{
    char  path[PATH_MAX];

    snprintf(test_dir, sizeof(test_dir), "/tmp/pt-static-XXXXXX");
    if (mkdtemp(test_dir) == NULL) {
        return -1;
    }

    snprintf(path, sizeof(path), "%s/root", test_dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/root/dir", test_dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/outside", test_dir);
    mkdir(path, 0755);

    make_file("root/file.txt", "file");
    make_file("root/dir/inner.txt", "inner");
    make_file("outside/secret.txt", "secret");
    make_link("../outside/secret.txt", "root/link.txt");
    make_link("../outside", "root/linkdir");
    make_link("root", "rootlink");

    return 0;
}


static int
teardown_tree(void **state)
{
    char  cmd[PATH_MAX + 16];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", test_dir);

    return system(cmd) == 0 ? 0 : -1;
}


static pt_uint_t
dot(const char *s)
{
    return pt_http_static_dot_segment((const u_char *) s,
                                      (const u_char *) s + strlen(s));
}


static void
test_dot_segments(void **state)
{
    assert_true(dot("/."));
    assert_true(dot("/.."));
    assert_true(dot("/./x"));
    assert_true(dot("/../x"));
    assert_true(dot("/a/../b"));
    assert_true(dot("/a/.."));
    assert_true(dot("/a//./b"));

    assert_false(dot(""));
    assert_false(dot("/"));
    assert_false(dot("/a/b"));
    assert_false(dot("/..a"));
    assert_false(dot("/a.."));
    assert_false(dot("/.hidden"));
    assert_false(dot("/a/...b"));
    assert_false(dot("/..."));
}


/* Opens rel under the test directory with a policy; returns errno or 0. */
static int
try_open(pt_uint_t symlinks, const char *root, const char *rel,
    const char *expect)
{
    int                         fd, err;
    char                        buf[16];
    ssize_t                     n;
    u_char                      path[PATH_MAX];
    size_t                      root_len;
    pt_http_static_loc_conf_t   slcf;

    pt_memzero(&slcf, sizeof(slcf));
    slcf.symlinks = symlinks;

    root_len = snprintf((char *) path, sizeof(path), "%s/%s", test_dir, root);
    snprintf((char *) path + root_len, sizeof(path) - root_len, "%s", rel);

    fd = pt_http_static_open(&slcf, path, root_len, O_RDONLY | O_NONBLOCK);
    err = errno;

    /* the path is given back as it was */
    assert_true(strncmp((char *) path + root_len, rel, strlen(rel)) == 0);

    if (fd == -1) {
        return err;
    }

    if (expect) {
        n = read(fd, buf, sizeof(buf) - 1);
        assert_true(n >= 0);
        buf[n] = '\0';
        assert_string_equal(buf, expect);
    }

    close(fd);

    return 0;
}


static void
check_policies(void)
{
    /* off: links are followed */
    assert_int_equal(try_open(PT_HTTP_SYMLINKS_OFF, "root", "/file.txt",
                              "file"), 0);
    assert_int_equal(try_open(PT_HTTP_SYMLINKS_OFF, "root", "/link.txt",
                              "secret"), 0);
    assert_int_equal(try_open(PT_HTTP_SYMLINKS_OFF, "root",
                              "/linkdir/secret.txt", "secret"), 0);

    /* on: no link anywhere */
    assert_int_equal(try_open(PT_HTTP_SYMLINKS_ON, "root", "/file.txt",
                              "file"), 0);
    assert_int_equal(try_open(PT_HTTP_SYMLINKS_ON, "root",
                              "/dir/inner.txt", "inner"), 0);
    assert_int_equal(try_open(PT_HTTP_SYMLINKS_ON, "root", "/link.txt",
                              NULL), ELOOP);
    assert_int_equal(try_open(PT_HTTP_SYMLINKS_ON, "root",
                              "/linkdir/secret.txt", NULL), ELOOP);
    assert_int_equal(try_open(PT_HTTP_SYMLINKS_ON, "root", "/missing",
                              NULL), ENOENT);
    assert_int_equal(try_open(PT_HTTP_SYMLINKS_ON, "root", "/file.txt/x",
                              NULL), ENOTDIR);
    assert_int_equal(try_open(PT_HTTP_SYMLINKS_ON, "rootlink", "/file.txt",
                              NULL), ELOOP);

    /* on from the root: the root may be a link, nothing below it */
    assert_int_equal(try_open(PT_HTTP_SYMLINKS_FROM_ROOT, "rootlink",
                              "/file.txt", "file"), 0);
    assert_int_equal(try_open(PT_HTTP_SYMLINKS_FROM_ROOT, "rootlink",
                              "/dir/inner.txt", "inner"), 0);
    assert_int_equal(try_open(PT_HTTP_SYMLINKS_FROM_ROOT, "rootlink",
                              "/link.txt", NULL), ELOOP);
    assert_int_equal(try_open(PT_HTTP_SYMLINKS_FROM_ROOT, "rootlink",
                              "/linkdir/secret.txt", NULL), ELOOP);
    assert_int_equal(try_open(PT_HTTP_SYMLINKS_FROM_ROOT, "rootlink",
                              "/missing", NULL), ENOENT);

    /* the root itself, and a directory with its slash */
    assert_int_equal(try_open(PT_HTTP_SYMLINKS_FROM_ROOT, "root", "", NULL),
                     0);
    assert_int_equal(try_open(PT_HTTP_SYMLINKS_ON, "root", "/dir/", NULL), 0);
}


static void
test_open_with_openat2(void **state)
{
    pt_http_static_no_openat2 = 0;
    check_policies();
}


static void
test_open_by_walking(void **state)
{
    pt_http_static_no_openat2 = 1;
    check_policies();
    pt_http_static_no_openat2 = 0;
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_dot_segments),
        cmocka_unit_test(test_open_with_openat2),
        cmocka_unit_test(test_open_by_walking),
    };

    return cmocka_run_group_tests(tests, setup_tree, teardown_tree);
}
