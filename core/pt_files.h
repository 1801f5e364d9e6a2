#ifndef PT_FILES_H
#define PT_FILES_H

/* An open file with the name it was opened by, and its log for errors. */
struct pt_file_s {
    pt_fd_t      fd;
    pt_str_t     name;
    struct stat  info;
    off_t        offset;        /* for sequential writes */
    pt_log_t    *log;
};

/* A file many parts of the config share (logs): opened once, reopened on USR1. */
struct pt_open_file_s {
    pt_fd_t      fd;
    pt_str_t     name;          /* absolute path, NUL-terminated */

    /* writes out what a module buffers for the file, before a reopen */
    void       (*flush)(pt_open_file_t *file, pt_log_t *log);
    void        *data;          /* for flush */
};

#define PT_FILE_RDONLY     O_RDONLY
#define PT_FILE_APPEND     (O_WRONLY | O_APPEND | O_CREAT)

pt_fd_t pt_open_file(const u_char *name, int mode, int access);
ssize_t pt_read_file(pt_file_t *file, u_char *buf, size_t size, off_t offset);
ssize_t pt_write_fd(pt_fd_t fd, const void *buf, size_t n);
/*
 * Reads a whole regular file into pool memory, up to max bytes; PT_ERROR with
 * errno set on failure (EFBIG when larger than max).
 */
pt_int_t pt_read_whole_file(pt_pool_t *pool, const char *name, size_t max,
    pt_str_t *out);

/*
 * Makes name absolute against prefix (which ends with "/") unless it already
 * is; the result is NUL-terminated and allocated from pool.
 */
pt_int_t pt_get_full_name(pt_pool_t *pool, const pt_str_t *prefix,
    pt_str_t *name);

#endif /* PT_FILES_H */
