# Joins the prelude's JS files into one C++ raw string literal: the body of
# `(function (native) { ... })`, compiled into worker.cc.
# cmake -DOUT=<file> -DSRCS="a.js|b.js" -P embed_prelude.cmake
string(REPLACE "|" ";" SRCS "${SRCS}")
set(body "")
foreach(src ${SRCS})
  file(READ ${src} text)
  string(APPEND body "${text}\n")
endforeach()
string(FIND "${body}" ")IC_PRELUDE\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "the prelude contains the raw string delimiter")
endif()
file(WRITE ${OUT}.tmp "R\"IC_PRELUDE((function (native) {\n${body}\n}))IC_PRELUDE\"\n")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
