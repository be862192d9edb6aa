/*
 * Reading a secret from a file (the pepper, PEM private keys, machine keys, the OIDC client
 * secret), with the same rules for all of them: the file must be a regular file (not a
 * directory, a FIFO or a device), readable by its owner only (mode 0600 or 0400: no group or
 * other bits at all), not empty and not larger than a bound. A symbolic link is followed, as
 * container secret mounts (Kubernetes, systemd credentials) present files through links;
 * what is checked is the file it leads to, on the open descriptor, so the file checked is
 * the file read.
 */
#ifndef IDENTITYD_CORE_SECRETFILE_H
#define IDENTITYD_CORE_SECRETFILE_H

#include <stddef.h>

/* Reads path whole. On success *out is a new NUL-terminated buffer of *len bytes (the file's
 * bytes as they are, which may contain NULs) that the caller wipes and frees. On failure
 * *out is NULL and err receives "PATH ..." saying what is wrong, never any of the content;
 * returns IDD_EIO when the file cannot be opened or read, IDD_EINVAL when it is refused
 * (not a regular file, group or other permission bits, empty, larger than
 * max bytes). */
int idd_secretfile_read(const char *path, size_t max, char **out, size_t *len, char *err,
                        size_t errlen);

/* The length of the first len bytes of text without trailing whitespace (space, tab, CR,
 * LF, VT, FF): editors and `echo` add a final newline that is not part of a secret. */
size_t idd_secretfile_trim(const char *text, size_t len);

#endif
