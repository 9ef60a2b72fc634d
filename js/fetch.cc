/* fetch.cc: placeholder, filled in by the fetch work (issue 17). */
