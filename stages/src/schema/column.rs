//! One column of a stored table as the schema declares it: its name, its type, what a
//! null in it means and what a reader gets when an older table lacks it.

/// The type a column is stored with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// UTF-8 text.
    Text,
    /// Unsigned 64-bit integers (counts, indices, sizes).
    Count,
    /// 64-bit floats (seconds, ratios, metrics).
    Real,
}

/// What a null in a column means to a reader of numbers ([`TableReader::numbers`]).
///
/// [`TableReader::numbers`]: super::TableReader::numbers
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nulls {
    /// The column never holds a null; one is an error naming the column.
    Never,
    /// A null means "does not apply to this row" (a kernel of a ReLU, the bandwidth of an
    /// unshaped link) and reads as 0.
    AsZero,
    /// A null means "not computed" (a metric of too few rows) and reads as NaN, which the
    /// report shows as "–".
    AsNan,
}

/// What a reader gets when a table has no such column at all.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Absent {
    /// Every table has it; its absence is an error naming the table and the column.
    Error,
    /// Tables written before the column existed lack it; every row reads as this text.
    Text(&'static str),
    /// Tables written before the column existed lack it; the reader gets `None` for the
    /// whole column ([`TableReader::optional_numbers`]).
    ///
    /// [`TableReader::optional_numbers`]: super::TableReader::optional_numbers
    Optional,
}

/// A column of a stored table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColumnDef {
    /// The name it is stored under.
    pub name: &'static str,
    /// Its type.
    pub ty: ColumnType,
    /// What a null in it means.
    pub nulls: Nulls,
    /// What a reader gets when a table lacks it.
    pub absent: Absent,
}

impl ColumnDef {
    /// A text column every table has, without nulls.
    pub const fn text(name: &'static str) -> ColumnDef {
        ColumnDef {
            name,
            ty: ColumnType::Text,
            nulls: Nulls::Never,
            absent: Absent::Error,
        }
    }

    /// A count column every table has, without nulls.
    pub const fn count(name: &'static str) -> ColumnDef {
        ColumnDef {
            name,
            ty: ColumnType::Count,
            nulls: Nulls::Never,
            absent: Absent::Error,
        }
    }

    /// A float column every table has, without nulls.
    pub const fn real(name: &'static str) -> ColumnDef {
        ColumnDef {
            name,
            ty: ColumnType::Real,
            nulls: Nulls::Never,
            absent: Absent::Error,
        }
    }

    /// The same column, with nulls meaning `nulls`.
    pub const fn nulls(self, nulls: Nulls) -> ColumnDef {
        ColumnDef { nulls, ..self }
    }

    /// The same column, read as `absent` from tables that lack it.
    pub const fn absent(self, absent: Absent) -> ColumnDef {
        ColumnDef { absent, ..self }
    }
}

impl std::fmt::Display for ColumnDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}
