// A helper loaded with a relative META script path.
const helperValue = 42;
