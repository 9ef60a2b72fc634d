/* http_client.c: placeholder, filled in by the fetch/TLS work (issue 17). */
