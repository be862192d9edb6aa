/*
 * The one reader of secret files; see secretfile.h.
 */
#include "identityd/core/secretfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"

/* Reads until end of file or cap bytes; *more is 1 when the file goes on past cap. */
static int read_up_to(int fd, char *buf, size_t cap, size_t *len, int *more)
{
    *len = 0;
    *more = 0;
    for (;;) {
        char extra = 0;
        char *into = *len < cap ? buf + *len : &extra;
        size_t want = *len < cap ? cap - *len : 1;
        ssize_t n = read(fd, into, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return IDD_EIO;
        if (n == 0)
            return 0;
        if (into == &extra) {
            *more = 1;
            return 0;
        }
        *len += (size_t)n;
    }
}

int idd_secretfile_read(const char *path, size_t max, char **out, size_t *len, char *err,
                        size_t errlen)
{
    struct stat st;
    char *buf = NULL;
    size_t n = 0;
    int more = 0, fd = -1, rc = IDD_EINVAL;

    *out = NULL;
    *len = 0;
    idd_errorf(err, errlen, "%s", "");
    if (path == NULL || path[0] == '\0') {
        idd_errorf(err, errlen, "no file given");
        return IDD_EINVAL;
    }
    /* Links are followed (secret mounts are links); every check below is made on what was
     * opened. O_NONBLOCK: opening a FIFO must not hang the start; it is refused below as not
     * a regular file. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        idd_errorf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return IDD_EIO;
    }
    if (fstat(fd, &st) != 0) {
        rc = IDD_EIO;
        idd_errorf(err, errlen, "cannot stat %s: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        idd_errorf(err, errlen, "%s is not a regular file", path);
        goto done;
    }
    if ((st.st_mode & 077) != 0) {
        idd_errorf(err, errlen,
                   "%s is accessible by group or others (mode %04o); restrict it with chmod 600",
                   path, (unsigned)(st.st_mode & 07777));
        goto done;
    }
    if (st.st_size < 0 || (unsigned long long)st.st_size > max) {
        idd_errorf(err, errlen, "%s is larger than %zu bytes", path, max);
        goto done;
    }
    /* The size may change between fstat and read: the read is bounded by max all the same. */
    buf = idd_xmalloc(max + 1);
    if (read_up_to(fd, buf, max, &n, &more) != 0) {
        rc = IDD_EIO;
        idd_errorf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        goto done;
    }
    if (more) {
        idd_errorf(err, errlen, "%s is larger than %zu bytes", path, max);
        goto done;
    }
    if (n == 0) {
        idd_errorf(err, errlen, "%s is empty", path);
        goto done;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
    rc = 0;
done:
    if (buf != NULL) {
        idd_wipe(buf, max + 1);
        free(buf);
    }
    close(fd);
    return rc;
}

size_t idd_secretfile_trim(const char *text, size_t len)
{
    while (len > 0 && strchr(" \t\r\n\v\f", text[len - 1]) != NULL && text[len - 1] != '\0')
        len--;
    return len;
}
