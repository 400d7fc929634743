//! Tests of the public API of `snni-artifacts`, one module per capability, in one test
//! binary so polars is linked once.

mod archive;
mod durability;
mod gc;
mod index;
mod lock;
mod store;
mod support;
mod tables;
