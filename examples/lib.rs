//! Runnable examples of moltbot-rs; see `examples/README.md`. This library is empty: the examples
//! are `[[example]]` targets and tests of this package.
