/*
 * test_blob.c: Blob, File, FileReader, FormData and form bodies in a worker
 * (tests/js/workers/blob.js): the suite, then incoming request bodies read
 * with request.formData() (multipart from the wire, urlencoded, malformed).
 */
#include <stdio.h>
#include <stdlib.h>

#include "t_js.h"

Test(blob, suite, .timeout = 60)
{
    static const struct tj_req reqs[] = {{"GET", "/suite", NULL, NULL, 0}};
    tj_run("blob", "blob.js", reqs, 1);
    cr_log_info("blob suite: %s", TJ.r[0].body);
    tj_assert_suite(&TJ.r[0], 20);
}

#define MP "Content-Type: multipart/form-data; boundary=----b0undary\r\n"

Test(blob, incoming_bodies_as_form_data, .timeout = 60)
{
    static const struct tj_req reqs[] = {
        /* 0: a browser-style multipart body with a field and a file */
        {"POST", "/echo-form", MP,
         "------b0undary\r\n"
         "Content-Disposition: form-data; name=\"title\"\r\n\r\n"
         "h\xc3\xa9llo\r\n"
         "------b0undary\r\n"
         "Content-Disposition: form-data; name=\"upload\"; filename=\"notes.txt\"\r\n"
         "Content-Type: text/markdown\r\n\r\n"
         "# notes\r\n\r\nline\r\n"
         "------b0undary--\r\n",
         0},
        /* 1: urlencoded */
        {"POST", "/echo-form", "Content-Type: application/x-www-form-urlencoded\r\n", "a=1&b=two+words&c=%E2%9C%93", 0},
        /* 2: the closing boundary is missing */
        {"POST", "/echo-form", MP, "------b0undary\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n", 0},
        /* 3: a multipart type without a boundary */
        {"POST", "/echo-form", "Content-Type: multipart/form-data\r\n", "------b0undary--\r\n", 0},
        /* 4: not a form type */
        {"POST", "/echo-form", "Content-Type: application/json\r\n", "{}", 0},
        /* 5: a part without a name */
        {"POST", "/echo-form", MP, "------b0undary\r\nContent-Disposition: form-data\r\n\r\nv\r\n------b0undary--\r\n", 0},
    };
    tj_run("blob", "blob.js", reqs, 6);
    cr_assert_eq(TJ.r[0].status, 200, "%d %s", TJ.r[0].status, TJ.r[0].body);
    cr_assert_str_eq(TJ.r[0].body, "title=h\xc3\xa9llo\nupload=<notes.txt|text/markdown|15|# notes\r\n\r\nline>");
    cr_assert_eq(TJ.r[1].status, 200, "%d %s", TJ.r[1].status, TJ.r[1].body);
    cr_assert_str_eq(TJ.r[1].body, "a=1\nb=two words\nc=\xe2\x9c\x93");
    for (int i = 2; i < 6; i++) {
        cr_assert_eq(TJ.r[i].status, 400, "request %d: %d %s", i, TJ.r[i].status, TJ.r[i].body);
        cr_assert(strncmp(TJ.r[i].body, "TypeError: ", 11) == 0, "request %d: %s", i, TJ.r[i].body);
    }
    cr_assert(strstr(TJ.r[2].body, "closing boundary") != NULL, "%s", TJ.r[2].body);
    cr_assert(strstr(TJ.r[3].body, "boundary") != NULL, "%s", TJ.r[3].body);
    cr_assert(strstr(TJ.r[4].body, "application/json") != NULL, "%s", TJ.r[4].body);
    cr_assert(strstr(TJ.r[5].body, "name") != NULL, "%s", TJ.r[5].body);
}
