/*
 * isocore.h: the umbrella header of the embedding API. Each module has its
 * own header under isocore/; this one includes them all.
 */
#ifndef ISOCORE_H
#define ISOCORE_H

#define ISOCORE_VERSION "0.1.0"

#include "isocore/error.h"
#include "isocore/core.h"
#include "isocore/dns.h"
#include "isocore/http.h"
#include "isocore/js.h"
#include "isocore/router.h"
#include "isocore/tcp.h"

#endif
