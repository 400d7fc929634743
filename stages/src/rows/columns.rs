//! Writing the dataset's tables: [`layers_table`] and [`networks_table`] turn rows into
//! polars DataFrames, one typed column at a time (named and typed as the schema,
//! `stages/src/schema/dataset.rs`, declares them), so an empty table still has every
//! column with its type.
//!
//! The layer table's columns are listed once ([`layer_columns`]) for any [`ColumnSink`]:
//! the DataFrame builder here, and the plain vectors `snni predict` reads a planned network
//! into (`learn/frame.rs`), so a prediction sees exactly the columns training did.

use polars::prelude::{Column, DataFrame};

use super::row::{LayerRow, NetworkRow, RunId};
use crate::schema::dataset::{
    BACKEND, BANDWIDTH_BPS, BYTES_RECEIVED, BYTES_SENT, COMPARISONS, CORES, CPU_MODEL, CPU_S,
    CT_PT_PRODUCTS, DEGREE, ELEMENTS, ELL, ENGINE_VERSION, FAMILY, FILTERS, FLOPS,
    HE_BYTES_CLIENT_TO_SERVER, HE_BYTES_SERVER_TO_CLIENT, HE_DEGREE, INFERENCE_S, INPUTS,
    INPUT_CTS, INPUT_SIZE, IN_C, IN_H, IN_W, KERNEL_H, KERNEL_W, KIND, LAYER, LAYERS, LAYER_NAME,
    LOAD_AVG, LOSS_PERCENT, MESSAGES_RECEIVED, MESSAGES_SENT, MULTIPLICATIONS, NETWORK,
    NETWORK_NAME, OT, OTS, OT_BYTES_CLIENT, OT_BYTES_SERVER, OT_POOL_GROWTH, OT_REFILLS,
    OUTPUT_CTS, OUTPUT_ELEMENTS, OUTPUT_SIZE, OUT_C, OUT_H, OUT_W, PADDING, PARTY, PINNED_CPUS,
    PLANNED_BYTES, PLANNED_ROUNDS, PROBE_DEVIATION, PROBE_HE_PER_S, PROBE_OT_PER_S, RELU_CHANNELS,
    RELU_FRACTION, ROUNDS, RTT_US, RUN, SCALE, SETTING, SETUP_S, SOURCE_STAGE, STEAL_FRACTION,
    STRIDE, THREADS, TOTAL_S, TRUNCATIONS, UNITS, WALL_S, WEIGHT_POLYS, WEIGHT_SIZE,
};
use crate::schema::ColumnDef;
use crate::StageError;

/// Where one table's columns go, one typed column per call, each value read from a row of
/// type `R` by a closure.
pub(crate) trait ColumnSink<R> {
    /// A text column.
    fn str(&mut self, column: ColumnDef, value: impl Fn(&R) -> &str) -> &mut Self;
    /// A text column of owned values.
    fn string(&mut self, column: ColumnDef, value: impl Fn(&R) -> String) -> &mut Self;
    /// A count column.
    fn u64(&mut self, column: ColumnDef, value: impl Fn(&R) -> u64) -> &mut Self;
    /// A count column with nulls.
    fn opt_u64(&mut self, column: ColumnDef, value: impl Fn(&R) -> Option<u64>) -> &mut Self;
    /// A real column.
    fn f64(&mut self, column: ColumnDef, value: impl Fn(&R) -> f64) -> &mut Self;
    /// A real column with nulls.
    fn opt_f64(&mut self, column: ColumnDef, value: impl Fn(&R) -> Option<f64>) -> &mut Self;

    /// The context columns (link, backend, engine, machine, noise), read through `id`.
    fn context(&mut self, id: impl Fn(&R) -> &RunId) -> &mut Self
    where
        Self: Sized,
    {
        self.str(BACKEND, |r| &id(r).context.backend)
            .str(OT, |r| id(r).context.ot.as_str())
            .opt_u64(BANDWIDTH_BPS, |r| id(r).context.link.bandwidth_bps)
            .opt_f64(RTT_US, |r| id(r).context.link.rtt_us)
            .opt_f64(LOSS_PERCENT, |r| id(r).context.link.loss_percent)
            .u64(ELL, |r| id(r).context.ell)
            .u64(SCALE, |r| id(r).context.scale)
            .u64(HE_DEGREE, |r| id(r).context.he_degree)
            .u64(THREADS, |r| id(r).context.threads)
            .string(PINNED_CPUS, |r| id(r).context.pinned_cpus())
            .str(CPU_MODEL, |r| &id(r).context.machine.cpu_model)
            .u64(CORES, |r| id(r).context.machine.cores)
            .str(ENGINE_VERSION, |r| &id(r).context.engine.version)
            .opt_f64(PROBE_HE_PER_S, |r| id(r).noise.map(|n| n.probe_he_per_s))
            .opt_f64(PROBE_OT_PER_S, |r| id(r).noise.map(|n| n.probe_ot_per_s))
            .opt_f64(PROBE_DEVIATION, |r| id(r).noise.map(|n| n.probe_deviation))
            .opt_f64(LOAD_AVG, |r| id(r).noise.map(|n| n.load_avg))
            .opt_f64(STEAL_FRACTION, |r| id(r).noise.map(|n| n.steal_fraction))
    }
}

/// Builds a DataFrame from rows of type `R`, one column per call.
struct TableBuilder<'a, R> {
    name: &'static str,
    rows: &'a [R],
    columns: Vec<Column>,
}

impl<'a, R> TableBuilder<'a, R> {
    fn new(name: &'static str, rows: &'a [R]) -> Self {
        Self {
            name,
            rows,
            columns: Vec::new(),
        }
    }
}

impl<R> ColumnSink<R> for TableBuilder<'_, R> {
    fn str(&mut self, column: ColumnDef, value: impl Fn(&R) -> &str) -> &mut Self {
        let values: Vec<String> = self.rows.iter().map(|r| value(r).to_string()).collect();
        self.columns.push(Column::new(column.name.into(), values));
        self
    }

    fn string(&mut self, column: ColumnDef, value: impl Fn(&R) -> String) -> &mut Self {
        let values: Vec<String> = self.rows.iter().map(value).collect();
        self.columns.push(Column::new(column.name.into(), values));
        self
    }

    fn u64(&mut self, column: ColumnDef, value: impl Fn(&R) -> u64) -> &mut Self {
        let values: Vec<u64> = self.rows.iter().map(value).collect();
        self.columns.push(Column::new(column.name.into(), values));
        self
    }

    fn opt_u64(&mut self, column: ColumnDef, value: impl Fn(&R) -> Option<u64>) -> &mut Self {
        let values: Vec<Option<u64>> = self.rows.iter().map(value).collect();
        self.columns.push(Column::new(column.name.into(), values));
        self
    }

    fn f64(&mut self, column: ColumnDef, value: impl Fn(&R) -> f64) -> &mut Self {
        let values: Vec<f64> = self.rows.iter().map(value).collect();
        self.columns.push(Column::new(column.name.into(), values));
        self
    }

    fn opt_f64(&mut self, column: ColumnDef, value: impl Fn(&R) -> Option<f64>) -> &mut Self {
        let values: Vec<Option<f64>> = self.rows.iter().map(value).collect();
        self.columns.push(Column::new(column.name.into(), values));
        self
    }
}

impl<R> TableBuilder<'_, R> {
    fn build(&mut self) -> Result<DataFrame, StageError> {
        let columns = std::mem::take(&mut self.columns);
        DataFrame::new(self.rows.len(), columns).map_err(|err| StageError::Serialize {
            name: self.name.to_string(),
            message: err.to_string(),
        })
    }
}

/// The layer table (and its views, which are the same columns over fewer rows).
pub fn layers_table(name: &'static str, rows: &[&LayerRow]) -> Result<DataFrame, StageError> {
    let mut table = TableBuilder::new(name, rows);
    layer_columns(&mut table);
    table.build()
}

/// Every column of the layer table, in the schema's order, into `table`.
pub(crate) fn layer_columns<'r, S: ColumnSink<&'r LayerRow>>(table: &mut S) {
    table
        .str(NETWORK, |r| &r.id.network)
        .str(SETTING, |r| &r.id.setting)
        .u64(RUN, |r| r.id.run)
        .str(PARTY, |r| r.party)
        .u64(LAYER, |r| r.layer)
        .str(NETWORK_NAME, |r| &r.id.network_name)
        .str(FAMILY, |r| &r.id.family)
        .str(SOURCE_STAGE, |r| &r.id.source_stage)
        .str(LAYER_NAME, |r| &r.layer_name)
        .str(KIND, |r| r.kind.as_str());
    // The study's raw layer parameters.
    table
        .u64(IN_H, |r| r.features.in_h)
        .u64(IN_W, |r| r.features.in_w)
        .u64(IN_C, |r| r.features.in_c)
        .u64(OUT_H, |r| r.features.out_h)
        .u64(OUT_W, |r| r.features.out_w)
        .u64(OUT_C, |r| r.features.out_c)
        .opt_u64(KERNEL_H, |r| r.features.kernel_h)
        .opt_u64(KERNEL_W, |r| r.features.kernel_w)
        .opt_u64(STRIDE, |r| r.features.stride)
        .opt_u64(PADDING, |r| r.features.padding)
        .opt_u64(FILTERS, |r| r.features.filters)
        .opt_u64(UNITS, |r| r.features.units)
        .opt_u64(INPUTS, |r| r.features.inputs)
        .u64(ELEMENTS, |r| r.features.elements)
        .opt_f64(RELU_FRACTION, |r| r.features.relu_fraction)
        .opt_u64(DEGREE, |r| r.features.degree)
        .opt_u64(RELU_CHANNELS, |r| r.features.relu_channels);
    // Engineered features.
    table
        .u64(FLOPS, |r| r.features.flops)
        .u64(INPUT_SIZE, |r| r.features.input_size)
        .u64(WEIGHT_SIZE, |r| r.features.weight_size)
        .u64(OUTPUT_SIZE, |r| r.features.output_size);
    // The engine's planned protocol counts.
    table
        .u64(OUTPUT_ELEMENTS, |r| r.counts.output_elements)
        .u64(COMPARISONS, |r| r.counts.comparisons)
        .u64(TRUNCATIONS, |r| r.counts.truncations)
        .u64(MULTIPLICATIONS, |r| r.counts.multiplications)
        .u64(OTS, |r| r.counts.ots)
        .u64(OT_REFILLS, |r| r.counts.ot_refills)
        .u64(OT_POOL_GROWTH, |r| r.pool_growth)
        .u64(OT_BYTES_SERVER, |r| r.counts.ot_bytes_server)
        .u64(OT_BYTES_CLIENT, |r| r.counts.ot_bytes_client)
        .u64(INPUT_CTS, |r| r.linear.input_cts)
        .u64(OUTPUT_CTS, |r| r.linear.output_cts)
        .u64(CT_PT_PRODUCTS, |r| r.linear.ct_pt_products)
        .u64(WEIGHT_POLYS, |r| r.linear.weight_polys)
        .u64(HE_BYTES_CLIENT_TO_SERVER, |r| {
            r.linear.bytes_client_to_server
        })
        .u64(HE_BYTES_SERVER_TO_CLIENT, |r| {
            r.linear.bytes_server_to_client
        })
        .u64(PLANNED_BYTES, |r| r.planned_bytes())
        .u64(PLANNED_ROUNDS, |r| r.planned_rounds);
    // Measured.
    table
        .f64(WALL_S, |r| r.measured.wall_s)
        .f64(CPU_S, |r| r.measured.cpu_s)
        .u64(BYTES_SENT, |r| r.measured.bytes_sent)
        .u64(BYTES_RECEIVED, |r| r.measured.bytes_received)
        .u64(MESSAGES_SENT, |r| r.measured.messages_sent)
        .u64(MESSAGES_RECEIVED, |r| r.measured.messages_received)
        .u64(ROUNDS, |r| r.measured.rounds);
    table.context(|r| &r.id);
}

/// The networks table: one party's run totals per row.
pub fn networks_table(rows: &[&NetworkRow]) -> Result<DataFrame, StageError> {
    TableBuilder::new("networks", rows)
        .str(NETWORK, |r| &r.id.network)
        .str(FAMILY, |r| &r.id.family)
        .str(SOURCE_STAGE, |r| &r.id.source_stage)
        .str(SETTING, |r| &r.id.setting)
        .str(PARTY, |r| r.party)
        .u64(RUN, |r| r.id.run)
        .str(NETWORK_NAME, |r| &r.id.network_name)
        .u64(LAYERS, |r| r.layers)
        .f64(SETUP_S, |r| r.setup.wall_s)
        .f64(INFERENCE_S, |r| r.inference.wall_s)
        .f64(TOTAL_S, |r| r.total.wall_s)
        .f64(CPU_S, |r| r.total.cpu_s)
        .u64(BYTES_SENT, |r| r.total.bytes_sent)
        .u64(BYTES_RECEIVED, |r| r.total.bytes_received)
        .u64(ROUNDS, |r| r.total.rounds)
        .u64(MESSAGES_SENT, |r| r.total.messages_sent)
        .u64(MESSAGES_RECEIVED, |r| r.total.messages_received)
        .context(|r| &r.id)
        .build()
}
