/*
 * Time zones and DocSpace's date strings. A zone is read once, when the configuration is
 * loaded, from the system's zoneinfo (a TZif file, RFC 8536, parsed here with bounds on
 * every count) into an immutable table of transitions plus the file's POSIX TZ rule for
 * the instants past its last transition. Finding an offset is a binary search or a little
 * arithmetic: no lock, no allocation, no setenv("TZ")/tzset, so any thread may format.
 */
#ifndef IDENTITYD_TZ_H
#define IDENTITYD_TZ_H

#include <stddef.h>
#include <stdint.h>

typedef struct idd_tz idd_tz_t;

/* Where zones are read from. */
#define IDD_TZ_DIR "/usr/share/zoneinfo"
#define IDD_TZ_NAME_MAX 64
#define IDD_TZ_FILE_MAX (64 * 1024)

/* 0001-01-01T00:00:00Z, .NET's DateTime.MinValue, as Unix time. */
#define IDD_DATETIME_MIN (-62135596800LL)
/* 9999-12-31T23:59:59Z: later instants are written as this one. */
#define IDD_DATETIME_MAX 253402300799LL

/* "2025-06-30T12:13:11.1234567+02:00" and its terminator. */
#define IDD_DATETIME_LEN 34
/* "2025-06-30T10:13:11.1234567Z" and its terminator. */
#define IDD_DATETIME_UTC_LEN 29

/* Loads the IANA zone called name ("Europe/Berlin") from IDD_TZ_DIR. "UTC" is built in and
 * needs no file. Names are letters, digits and "_+-./" in components that do not start
 * with a dot. Returns 0, or IDD_EINVAL / IDD_ENOTFOUND / IDD_EIO with a message in err. */
int idd_tz_load(const char *name, idd_tz_t **out, char *err, size_t errlen);

/* Parses a TZif image (versions 1 to 4; leap-second files are refused). */
int idd_tz_parse(const unsigned char *data, size_t len, const char *name, idd_tz_t **out, char *err,
                 size_t errlen);

void idd_tz_free(idd_tz_t *tz);

/* The zone's name as loaded. */
const char *idd_tz_name(const idd_tz_t *tz);

/* Seconds east of UTC at instant t (Unix time). tz NULL is UTC. */
int32_t idd_tz_offset(const idd_tz_t *tz, int64_t t);

/* DocSpace's ApiDateTime: the wall-clock time in tz at t plus ticks (100 ns units, below
 * 10^7), seven fraction digits, then "Z" when the offset is zero, else "+hh:mm"/"-hh:mm".
 * t at or below IDD_DATETIME_MIN is "0001-01-01T00:00:00.0000000Z". Returns the length. */
size_t idd_format_datetime(int64_t t, uint32_t ticks, const idd_tz_t *tz,
                           char out[IDD_DATETIME_LEN]);

/* .NET's plain DateTime in UTC: "2025-06-30T10:13:11.1234567Z" with trailing zeros of the
 * fraction trimmed (no fraction at all when zero): "2026-12-02T17:58:12Z". Returns the
 * length. */
size_t idd_format_datetime_utc(int64_t t, uint32_t ticks, char out[IDD_DATETIME_UTC_LEN]);

/* A TimeSpan as .NET writes it: "00:00:00", "-05:00:00", "05:30:00" (out: 11 bytes). */
size_t idd_format_timespan(int32_t seconds, char out[11]);

#endif
