/*
 * Thin wrappers over the file system calls: close-on-exec opens, reads and
 * writes that survive EINTR, and whole-file reads for configuration.
 */
#include "pt_core.h"


/* open(2) with O_CLOEXEC added; returns the fd or PT_INVALID_FILE. */
pt_fd_t
pt_open_file(const u_char *name, int mode, int access)
{
    return open((const char *) name, mode | O_CLOEXEC, access);
}


/*
 * Reads up to size bytes at offset; returns the count (0 at the end of the
 * file) and adds it to file->offset, or PT_ERROR, logged to file->log.
 */
ssize_t
pt_read_file(pt_file_t *file, u_char *buf, size_t size, off_t offset)
{
    ssize_t  n;

    for (;;) {
        n = pread(file->fd, buf, size, offset);

        if (n != -1) {
            break;
        }

        if (errno == EINTR) {
            continue;
        }

        if (file->log) {
            pt_log_error(PT_LOG_CRIT, file->log, errno,
                         "pread() \"%.*s\" failed", PT_STR_ARG(file->name));
        }

        return PT_ERROR;
    }

    file->offset += n;

    return n;
}


/*
 * Writes all n bytes, retrying after EINTR and short writes. Returns n, or
 * PT_ERROR with errno set (some bytes may have been written by then).
 */
ssize_t
pt_write_fd(pt_fd_t fd, const void *buf, size_t n)
{
    size_t         written;
    ssize_t        w;
    const u_char  *p;

    p = buf;
    written = 0;

    while (written < n) {
        w = write(fd, p + written, n - written);

        if (w == -1) {
            if (errno == EINTR) {
                continue;
            }

            return PT_ERROR;
        }

        written += (size_t) w;
    }

    return (ssize_t) written;
}


/*
 * The file is read up to the size fstat() reported (it may have shrunk
 * meanwhile; the bytes found are kept). out->data is NUL-terminated and
 * out->len excludes the NUL. Nothing is logged: errno tells the caller.
 */
pt_int_t
pt_read_whole_file(pt_pool_t *pool, const char *name, size_t max,
    pt_str_t *out)
{
    int          err;
    size_t       size, got;
    u_char      *data;
    ssize_t      n;
    pt_fd_t      fd;
    struct stat  st;

    fd = pt_open_file((const u_char *) name, PT_FILE_RDONLY, 0);
    if (fd == PT_INVALID_FILE) {
        return PT_ERROR;
    }

    if (fstat(fd, &st) == -1) {
        goto failed;
    }

    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        goto failed;
    }

    if (st.st_size < 0 || (uintmax_t) st.st_size > max
        || (uintmax_t) st.st_size >= SIZE_MAX)
    {
        errno = EFBIG;
        goto failed;
    }

    size = (size_t) st.st_size;

    data = pt_pnalloc(pool, size + 1);
    if (data == NULL) {
        errno = ENOMEM;
        goto failed;
    }

    got = 0;

    while (got < size) {
        n = read(fd, data + got, size - got);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            goto failed;
        }

        if (n == 0) {
            break;
        }

        got += (size_t) n;
    }

    data[got] = '\0';

    (void) close(fd);

    out->len = got;
    out->data = data;

    return PT_OK;

failed:

    err = errno;
    (void) close(fd);
    errno = err;

    return PT_ERROR;
}


/*
 * An absolute name is kept where it is when it is NUL-terminated already
 * (name->data[name->len] must then be readable, as it is for strings from
 * the configuration parser and literals), else copied. A relative name
 * becomes prefix + name; a "/" is put between them if prefix lacks it.
 */
pt_int_t
pt_get_full_name(pt_pool_t *pool, const pt_str_t *prefix, pt_str_t *name)
{
    size_t   len, slash;
    u_char  *p, *n;

    if (name->len && name->data[0] == '/') {
        if (name->data[name->len] == '\0') {
            return PT_OK;
        }

        n = (u_char *) pt_str_to_cstr(pool, name);
        if (n == NULL) {
            return PT_ERROR;
        }

        name->data = n;

        return PT_OK;
    }

    slash = (prefix->len && prefix->data[prefix->len - 1] != '/') ? 1 : 0;

    len = prefix->len + slash + name->len;

    n = pt_pnalloc(pool, len + 1);
    if (n == NULL) {
        return PT_ERROR;
    }

    p = n;

    if (prefix->len) {
        p = pt_cpymem(p, prefix->data, prefix->len);
    }

    if (slash) {
        *p++ = '/';
    }

    if (name->len) {
        p = pt_cpymem(p, name->data, name->len);
    }

    *p = '\0';

    name->len = len;
    name->data = n;

    return PT_OK;
}
