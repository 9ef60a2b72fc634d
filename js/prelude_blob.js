// prelude_blob.js: Blob and File (W3C File API), FormData (XHR standard),
// multipart/form-data and urlencoded parsing and serialisation. Part of the prelude.
{
}
