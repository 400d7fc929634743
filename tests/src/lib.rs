//! End-to-end tests of the `snni` binary live in `tests/`.
