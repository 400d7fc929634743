//! Network shaping: the backends that make a link between client and server look like a
//! study's network setting (bandwidth, round-trip time, loss).

pub mod link;
pub mod measure;
pub mod relay;
pub mod tc;

pub use link::LinkSpec;
