/*
 * Unit tests of src/http/framing.c's HTTP/1 head scan: which heads frame a request one way
 * only, and the reason given for each that does not. tests/integration/check_framing.c
 * sends the same shapes on the wire.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/http/framing.h"

static const char *check(const char *head)
{
    return idd_framing_check_http1(head, strlen(head), false);
}

static void assert_ok(const char *head)
{
    const char *reason = check(head);
    ck_assert_msg(reason == NULL, "refused (%s): %s", reason, head);
}

static void assert_refused(const char *head, const char *reason)
{
    const char *got = check(head);
    ck_assert_msg(got != NULL, "accepted: %s", head);
    ck_assert_str_eq(got, reason);
}

#define GET "GET / HTTP/1.1\r\n"
#define POST "POST / HTTP/1.1\r\n"

START_TEST(sound_heads_pass)
{
    assert_ok(GET "Host: localhost\r\n\r\n");
    assert_ok(GET "\r\n");
    assert_ok(POST "Host: a\r\nContent-Length: 2\r\n\r\n{}");
    assert_ok(POST "Host: a\r\nContent-Length: 0\r\n\r\n");
    /* 1*DIGIT allows leading zeros in a single field. */
    assert_ok(POST "Host: a\r\nContent-Length: 002\r\n\r\n{}");
    assert_ok(POST "Host: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    assert_ok(POST "host: a\r\ntransfer-encoding: Chunked  \r\n\r\n");
    /* Bare LF line ends, as h2o's parser accepts them, and empty lines before the request. */
    assert_ok("\r\n" GET "Host: a\nContent-Length: 1\n\nx");
    /* Names that only contain the special ones are other headers. */
    assert_ok(GET "Host: a\r\nX-Host: b\r\nHost-Name: c\r\nX-Content-Length: 5\r\n\r\n");
    /* What follows the head (a pipelined request) is not this request's. */
    assert_ok(GET "Host: a\r\n\r\nGET / HTTP/1.1\r\nHost: b\r\nHost: c\r\n\r\n");
}
END_TEST

START_TEST(host_once)
{
    assert_refused(GET "Host: a\r\nHost: b\r\n\r\n", "More than one Host header");
    assert_refused(GET "Host: a\r\nHost: a\r\n\r\n", "More than one Host header");
    assert_refused(GET "HOST: a\r\nX: y\r\nhost: a\r\n\r\n", "More than one Host header");
}
END_TEST

START_TEST(content_length_once_and_decimal)
{
    const char *twice = "More than one Content-Length header";
    assert_refused(POST "Content-Length: 2\r\nContent-Length: 30\r\n\r\n", twice);
    /* Equal duplicates are refused too: one length, read one way. */
    assert_refused(POST "Content-Length: 2\r\nContent-Length: 2\r\n\r\n", twice);
    assert_refused(POST "Content-Length: 2\r\nContent-Length: 02\r\n\r\n", twice);
    const char *invalid = "Invalid Content-Length";
    assert_refused(POST "Content-Length: +2\r\n\r\n", invalid);
    assert_refused(POST "Content-Length: -1\r\n\r\n", invalid);
    assert_refused(POST "Content-Length: 1 2\r\n\r\n", invalid);
    assert_refused(POST "Content-Length: 2, 2\r\n\r\n", invalid);
    assert_refused(POST "Content-Length: \r\n\r\n", invalid);
    assert_refused(POST "Content-Length: 0x10\r\n\r\n", invalid);
    /* The second field's syntax is checked even though h2o reads only the first. */
    assert_refused(POST "Content-Length: 2\r\nContent-Length: +2\r\n\r\n", invalid);
}
END_TEST

START_TEST(transfer_encoding_alone_and_chunked)
{
    const char *both = "Transfer-Encoding and Content-Length together";
    assert_refused(POST "Content-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n", both);
    assert_refused(POST "Transfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n", both);
    const char *unsupported = "Unsupported Transfer-Encoding";
    assert_refused(POST "Transfer-Encoding: chunked, identity\r\n\r\n", unsupported);
    assert_refused(POST "Transfer-Encoding: xchunked\r\n\r\n", unsupported);
    assert_refused(POST "Transfer-Encoding: gzip, chunked\r\n\r\n", unsupported);
    assert_refused(POST "Transfer-Encoding: \r\n\r\n", unsupported);
    /* h2o uses the last field, so an earlier one must not slip through. */
    assert_refused(POST "Transfer-Encoding: xchunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                   unsupported);
    assert_refused(POST "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                   "More than one Transfer-Encoding header");
    const char *http10 = "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
    ck_assert_str_eq(idd_framing_check_http1(http10, strlen(http10), true),
                     "Transfer-Encoding in an HTTP/1.0 request");
}
END_TEST

START_TEST(folded_and_malformed_heads)
{
    assert_refused(GET "Host: a\r\n b.test\r\n\r\n", "Folded header lines are not accepted");
    assert_refused(GET "X: y\r\n\tTransfer-Encoding: chunked\r\n\r\n",
                   "Folded header lines are not accepted");
    assert_refused(GET "Host: a\r\n", "Malformed request head");
    assert_refused(GET "Host a\r\n\r\n", "Malformed request head");
    assert_refused("GET / HTTP/1.1", "Malformed request head");
    ck_assert_str_eq(idd_framing_check_http1("", 0, false), "Malformed request head");
}
END_TEST

static Suite *framing_suite(void)
{
    Suite *s = suite_create("framing");
    TCase *tc = tcase_create("http1");
    tcase_add_test(tc, sound_heads_pass);
    tcase_add_test(tc, host_once);
    tcase_add_test(tc, content_length_once_and_decimal);
    tcase_add_test(tc, transfer_encoding_alone_and_chunked);
    tcase_add_test(tc, folded_and_malformed_heads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(framing_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
