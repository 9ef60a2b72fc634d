// prelude_events.js: DOM events and abort (WHATWG DOM): EventTarget, Event,
// CustomEvent, AbortController, AbortSignal. Part of the prelude.
{
}
