//! The schema of every stored table: each column's name, type, what a null in it means and
//! what a reader gets from a table without it ([`ColumnDef`]), the columns of each table
//! ([`dataset`], [`results`]), and the one reader that applies those policies
//! ([`TableReader`]). Writers name columns by these constants and readers read them
//! through [`TableReader`], so a column's name is written in one place.

mod column;
pub mod dataset;
mod reader;
pub mod results;

pub use column::{Absent, ColumnDef, ColumnType, Nulls};
pub use reader::{SchemaError, TableReader};
