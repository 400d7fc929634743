//! Tests of the split kind.
