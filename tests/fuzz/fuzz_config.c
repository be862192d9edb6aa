/*
 * The YAML configuration loader (config/: libyaml, the typed and bounded key table, the
 * cross-key rules). idd_config_load reads a path; the input is handed to it as an anonymous
 * memory file (memfd) through /proc/self/fd, so nothing is written to disk per run. Paths
 * the configuration names resolve against /proc/self/fd and are not there.
 *
 * Input: the configuration file.
 *
 * Promises checked: success gives a configuration and an empty error, failure gives no
 * configuration and a NUL-terminated "FILE..." message naming the file.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "identityd/config/config.h"
#include "identityd/core/log.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("identityd-fuzz.yaml", 0);
        FUZZ_CHECK(fd >= 0);
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    }
    FUZZ_CHECK(ftruncate(fd, 0) == 0);
    FUZZ_CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);

    idd_config_t *cfg = (idd_config_t *)1;
    char err[512];
    memset(err, 'x', sizeof(err));
    int rc = idd_config_load(path, &cfg, err, sizeof(err));
    FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
    if (rc == 0) {
        FUZZ_CHECK(cfg != NULL && err[0] == '\0');
        idd_config_free(cfg);
    } else {
        FUZZ_CHECK(cfg == NULL && strncmp(err, path, strlen(path)) == 0);
    }
    return 0;
}
