//! The dataset's rows: one per (network, setting, run, party, layer) and one per
//! (network, setting, run, party), built from a profile stage's measured shards or from a
//! network the engine only plans, and the columns they are written to.
//!
//! Two users share them, so they live here rather than in either: the `dataset` stage kind
//! (`stages/src/dataset/`) writes the measured rows as its tables, and the predictors
//! (`stages/src/learn/frame.rs`, for `whole` and `snni predict`) read a planned network's
//! rows straight into their columns, from the same list of columns ([`layer_columns`]).
//!
//! - [`row`]: the row types and how a measured shard becomes rows;
//! - [`planned`]: the rows of a network that was planned, not run;
//! - [`columns`]: the one list of layer columns, and the tables written from it;
//! - [`features`]: a layer's engineered features; [`lines`] and [`meta`]: what a profile
//!   shard recorded (the parties' metering lines, the link, engine and machine);
//! - [`profile`]: reading the profile stages' shards from the store;
//! - [`views`]: the per-layer-type views (CONV, FC, …), named once.

pub mod columns;
mod features;
mod lines;
mod meta;
pub mod planned;
pub mod profile;
pub mod row;
pub mod views;

pub(crate) use columns::{layer_columns, ColumnSink};
pub(crate) use planned::planned_layer_rows;
pub use planned::PlannedLink;
pub(crate) use row::LayerRow;
pub use views::{view, view_label, view_of_kind, view_position, View, VIEWS, VIEW_NAMES};
