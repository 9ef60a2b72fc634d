// A helper loaded with an absolute META script path (from the WPT root).
function absoluteHelper() { return "abs"; }
