//! [`TableReader`]: the one way a stored table's columns are read, applying each column's
//! declared policy — its type, what a null means ([`Nulls`]) and what a table without it
//! gives ([`Absent`]) — so that every consumer of a table reads it alike.

use polars::prelude::{DataFrame, DataType, Series};
use thiserror::Error;

use super::column::{Absent, ColumnDef, Nulls};

/// Why a column could not be read.
#[derive(Debug, Error)]
pub enum SchemaError {
    /// The table lacks a column every table of its kind has.
    #[error("`{table}`: no column `{column}`")]
    Missing {
        /// The table (output name).
        table: String,
        /// The column.
        column: &'static str,
    },
    /// The column is stored with another type.
    #[error("`{table}`: column `{column}` is {found}, not {expected}")]
    Type {
        /// The table.
        table: String,
        /// The column.
        column: &'static str,
        /// The type the schema declares.
        expected: &'static str,
        /// The type found.
        found: String,
    },
    /// A column that never holds a null has one.
    #[error("`{table}`: column `{column}` has a null in row {row}")]
    Null {
        /// The table.
        table: String,
        /// The column.
        column: &'static str,
        /// The first row with a null.
        row: usize,
    },
}

/// Reads the columns of one stored table by their [`ColumnDef`]s.
pub struct TableReader<'a> {
    table: &'a str,
    frame: &'a DataFrame,
}

impl<'a> TableReader<'a> {
    /// A reader of `frame`, named `table` in errors.
    pub fn new(table: &'a str, frame: &'a DataFrame) -> TableReader<'a> {
        TableReader { table, frame }
    }

    /// The number of rows.
    pub fn height(&self) -> usize {
        self.frame.height()
    }

    /// Whether the table has `column`.
    pub fn has(&self, column: ColumnDef) -> bool {
        self.frame.column(column.name).is_ok()
    }

    fn series(&self, column: ColumnDef) -> Result<Option<Series>, SchemaError> {
        match self.frame.column(column.name) {
            Ok(found) => Ok(Some(found.as_materialized_series().clone())),
            Err(_) => match column.absent {
                Absent::Error => Err(SchemaError::Missing {
                    table: self.table.to_string(),
                    column: column.name,
                }),
                Absent::Text(_) | Absent::Optional => Ok(None),
            },
        }
    }

    fn wrong_type(
        &self,
        column: ColumnDef,
        expected: &'static str,
        found: &DataType,
    ) -> SchemaError {
        SchemaError::Type {
            table: self.table.to_string(),
            column: column.name,
            expected,
            found: found.to_string(),
        }
    }

    fn null(&self, column: ColumnDef, row: usize) -> SchemaError {
        SchemaError::Null {
            table: self.table.to_string(),
            column: column.name,
            row,
        }
    }

    /// A text column; a table without it reads as its [`Absent::Text`] value.
    pub fn text(&self, column: ColumnDef) -> Result<Vec<String>, SchemaError> {
        let Some(series) = self.series(column)? else {
            let fill = match column.absent {
                Absent::Text(fill) => fill,
                _ => "",
            };
            return Ok(vec![fill.to_string(); self.height()]);
        };
        let values = series
            .str()
            .map_err(|_| self.wrong_type(column, "text", series.dtype()))?;
        values
            .iter()
            .enumerate()
            .map(|(row, value)| match (value, column.nulls) {
                (Some(value), _) => Ok(value.to_string()),
                (None, Nulls::Never) => Err(self.null(column, row)),
                (None, _) => Ok(String::new()),
            })
            .collect()
    }

    /// A count column with its nulls kept (`None`).
    pub fn optional_counts(&self, column: ColumnDef) -> Result<Vec<Option<u64>>, SchemaError> {
        let Some(series) = self.series(column)? else {
            return Ok(vec![None; self.height()]);
        };
        let cast = series
            .strict_cast(&DataType::UInt64)
            .map_err(|_| self.wrong_type(column, "unsigned", series.dtype()))?;
        let values = cast
            .u64()
            .map_err(|_| self.wrong_type(column, "unsigned", cast.dtype()))?;
        Ok(values.iter().collect())
    }

    /// A count column; a null is 0 where it means "does not apply", else an error.
    pub fn counts(&self, column: ColumnDef) -> Result<Vec<u64>, SchemaError> {
        self.optional_counts(column)?
            .into_iter()
            .enumerate()
            .map(|(row, value)| match (value, column.nulls) {
                (Some(value), _) => Ok(value),
                (None, Nulls::AsZero) => Ok(0),
                (None, _) => Err(self.null(column, row)),
            })
            .collect()
    }

    /// A numeric column as floats, nulls read as the column's [`Nulls`] says.
    pub fn numbers(&self, column: ColumnDef) -> Result<Vec<f64>, SchemaError> {
        let Some(series) = self.series(column)? else {
            return Err(SchemaError::Missing {
                table: self.table.to_string(),
                column: column.name,
            });
        };
        let cast = series
            .cast(&DataType::Float64)
            .map_err(|_| self.wrong_type(column, "numeric", series.dtype()))?;
        let values = cast
            .f64()
            .map_err(|_| self.wrong_type(column, "numeric", series.dtype()))?;
        values
            .iter()
            .enumerate()
            .map(|(row, value)| match (value, column.nulls) {
                (Some(value), _) => Ok(value),
                (None, Nulls::AsZero) => Ok(0.0),
                (None, Nulls::AsNan) => Ok(f64::NAN),
                (None, Nulls::Never) => Err(self.null(column, row)),
            })
            .collect()
    }

    /// A numeric column older tables lack ([`Absent::Optional`]): `None` when this one does.
    pub fn optional_numbers(&self, column: ColumnDef) -> Result<Option<Vec<f64>>, SchemaError> {
        if self.has(column) {
            self.numbers(column).map(Some)
        } else {
            self.series(column).map(|_| None)
        }
    }

    /// A column as comparable values: counts as they are, floats by their bits (`-0.0` as
    /// `0.0`), nulls as `None`. Two rows are equal in the column when these are.
    pub fn comparable(&self, column: ColumnDef) -> Result<Vec<Option<u64>>, SchemaError> {
        let Some(series) = self.series(column)? else {
            return Ok(vec![None; self.height()]);
        };
        if !series.dtype().is_float() {
            return self.optional_counts(column);
        }
        let cast = series
            .cast(&DataType::Float64)
            .map_err(|_| self.wrong_type(column, "numeric", series.dtype()))?;
        let values = cast
            .f64()
            .map_err(|_| self.wrong_type(column, "numeric", series.dtype()))?;
        Ok(values
            .iter()
            .map(|value| value.map(|v| (v + 0.0).to_bits()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use polars::prelude::Column;

    use super::*;
    use crate::schema::ColumnDef;

    const NAME: ColumnDef = ColumnDef::text("name");
    const LEGACY: ColumnDef = ColumnDef::text("legacy").absent(Absent::Text("old"));
    const SIZE: ColumnDef = ColumnDef::count("size");
    const KERNEL: ColumnDef = ColumnDef::count("kernel").nulls(Nulls::AsZero);
    const SCORE: ColumnDef = ColumnDef::real("score").nulls(Nulls::AsNan);
    const LATER: ColumnDef = ColumnDef::real("later").absent(Absent::Optional);

    fn frame() -> DataFrame {
        DataFrame::new(
            2,
            vec![
                Column::new("name".into(), ["a", "b"]),
                Column::new("size".into(), [1u64, 2]),
                Column::new("kernel".into(), [Some(3u64), None]),
                Column::new("score".into(), [Some(0.5f64), None]),
                Column::new("bits".into(), [-0.0f64, 0.0]),
            ],
        )
        .unwrap()
    }

    #[test]
    fn columns_read_with_their_policies() {
        let frame = frame();
        let reader = TableReader::new("t", &frame);
        assert_eq!(reader.text(NAME).unwrap(), ["a", "b"]);
        assert_eq!(reader.text(LEGACY).unwrap(), ["old", "old"]);
        assert_eq!(reader.counts(SIZE).unwrap(), [1, 2]);
        assert_eq!(reader.counts(KERNEL).unwrap(), [3, 0]);
        assert_eq!(reader.optional_counts(KERNEL).unwrap(), [Some(3), None]);
        assert_eq!(reader.numbers(KERNEL).unwrap(), [3.0, 0.0]);
        let score = reader.numbers(SCORE).unwrap();
        assert_eq!(score[0], 0.5);
        assert!(score[1].is_nan());
        assert_eq!(reader.optional_numbers(LATER).unwrap(), None);
        let bits = reader.comparable(ColumnDef::real("bits")).unwrap();
        assert_eq!(bits[0], bits[1], "-0.0 and 0.0 compare equal");
    }

    #[test]
    fn errors_name_the_table_and_column() {
        let frame = frame();
        let reader = TableReader::new("layers", &frame);
        let missing = reader.text(ColumnDef::text("side")).unwrap_err();
        assert_eq!(missing.to_string(), "`layers`: no column `side`");
        let null = reader.counts(ColumnDef::count("kernel")).unwrap_err();
        assert_eq!(
            null.to_string(),
            "`layers`: column `kernel` has a null in row 1"
        );
        let wrong = reader.counts(ColumnDef::count("name")).unwrap_err();
        assert!(
            wrong.to_string().contains("is str, not unsigned"),
            "{wrong}"
        );
        let wrong = reader.text(ColumnDef::text("size")).unwrap_err();
        assert!(wrong.to_string().contains("not text"), "{wrong}");
    }
}
