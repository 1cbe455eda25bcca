/* rp_error: messages say where, then what. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/error.h"

/* rp_fail_prefix puts where before what; a message that no longer fits is cut at its end, marked
 * "...", and keeps its prefix. */
Test(error, prefix_kept_and_overflow_marked) {
    rp_error err;
    rp_fail(&err, "bad value %d", 7);
    rp_fail_prefix(&err, "recipe.yaml:%d", 3);
    cr_assert_str_eq(err.msg, "recipe.yaml:3: bad value 7");
    char longmsg[RP_ERROR_MSG_MAX];
    memset(longmsg, 'x', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = '\0';
    rp_fail(&err, "%s", longmsg);
    rp_fail_prefix(&err, "where");
    cr_assert_eq(strncmp(err.msg, "where: xxx", 10), 0);
    size_t n = strlen(err.msg);
    cr_assert_eq(n, sizeof err.msg - 1);
    cr_assert_str_eq(err.msg + n - 3, "...");
}

/* Bytes a binary file would put in a message come out as \xNN; valid UTF-8 and newlines stay;
 * escaping is idempotent (rp_fail_prefix escapes the joined message again). */
Test(error, nonprintable_bytes_escaped) {
    rp_error err;
    rp_fail(&err, "value '%s'", "a\x01\x1b[2J\x7f\xff\xc3(b");
    cr_assert_str_eq(err.msg, "value 'a\\x01\\x1b[2J\\x7f\\xff\\xc3(b'");
    rp_fail(&err, "t\xc3\xa9mp \xe2\x82\xac\nnext");
    cr_assert_str_eq(err.msg, "t\xc3\xa9mp \xe2\x82\xac\nnext");
    rp_fail(&err, "x\x02");
    rp_fail_prefix(&err, "f\x03");
    cr_assert_str_eq(err.msg, "f\\x03: x\\x02");
}
