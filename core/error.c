/*
 * error.c: messages for the project's error codes (see isocore/error.h).
 */
#include <string.h>

#include "isocore/error.h"

static const char *const messages[] = {
#define IC__ERROR_MSG(name, msg) msg,
    IC_ERRORS(IC__ERROR_MSG)
#undef IC__ERROR_MSG
};

/* This function can't fail: unknown codes get a generic message. */
const char *ic_strerror(int err)
{
    int code = -err;
    if (code >= IC_ERROR_BASE && code < IC_ERROR_BASE + (int)(sizeof(messages) / sizeof(messages[0])))
        return messages[code - IC_ERROR_BASE];
    if (code > 0) {
        /* strerrordesc_np is the thread-safe, static-string form of strerror. */
        const char *s = strerrordesc_np(code);
        if (s)
            return s;
    }
    return err >= 0 ? "success" : "unknown error";
}
