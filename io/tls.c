/* tls.c: placeholder, filled in by the fetch/TLS work (issue 17). */
