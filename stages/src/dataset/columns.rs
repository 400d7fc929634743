//! The columns of the dataset's tables: [`layers_table`] and [`networks_table`] turn rows
//! into polars DataFrames, one typed column at a time, so an empty table still has every
//! column with its type.

use polars::prelude::{Column, DataFrame};

use super::rows::{LayerRow, NetworkRow, RunId};
use crate::StageError;

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

    fn str(&mut self, name: &str, value: impl Fn(&R) -> &str) -> &mut Self {
        let values: Vec<String> = self.rows.iter().map(|r| value(r).to_string()).collect();
        self.columns.push(Column::new(name.into(), values));
        self
    }

    fn string(&mut self, name: &str, value: impl Fn(&R) -> String) -> &mut Self {
        let values: Vec<String> = self.rows.iter().map(value).collect();
        self.columns.push(Column::new(name.into(), values));
        self
    }

    fn u64(&mut self, name: &str, value: impl Fn(&R) -> u64) -> &mut Self {
        let values: Vec<u64> = self.rows.iter().map(value).collect();
        self.columns.push(Column::new(name.into(), values));
        self
    }

    fn opt_u64(&mut self, name: &str, value: impl Fn(&R) -> Option<u64>) -> &mut Self {
        let values: Vec<Option<u64>> = self.rows.iter().map(value).collect();
        self.columns.push(Column::new(name.into(), values));
        self
    }

    fn f64(&mut self, name: &str, value: impl Fn(&R) -> f64) -> &mut Self {
        let values: Vec<f64> = self.rows.iter().map(value).collect();
        self.columns.push(Column::new(name.into(), values));
        self
    }

    fn opt_f64(&mut self, name: &str, value: impl Fn(&R) -> Option<f64>) -> &mut Self {
        let values: Vec<Option<f64>> = self.rows.iter().map(value).collect();
        self.columns.push(Column::new(name.into(), values));
        self
    }

    /// The context columns (link, backend, engine, machine), read through `id`.
    fn context(&mut self, id: impl Fn(&R) -> &RunId) -> &mut Self {
        self.str("backend", |r| &id(r).context.backend)
            .str("ot", |r| id(r).context.ot.as_str())
            .opt_u64("bandwidth_bps", |r| id(r).context.link.bandwidth_bps)
            .opt_f64("rtt_us", |r| id(r).context.link.rtt_us)
            .opt_f64("loss_percent", |r| id(r).context.link.loss_percent)
            .u64("ell", |r| id(r).context.ell)
            .u64("scale", |r| id(r).context.scale)
            .u64("he_degree", |r| id(r).context.he_degree)
            .u64("threads", |r| id(r).context.threads)
            .string("pinned_cpus", |r| id(r).context.pinned_cpus())
            .str("cpu_model", |r| &id(r).context.machine.cpu_model)
            .u64("cores", |r| id(r).context.machine.cores)
            .str("engine_version", |r| &id(r).context.engine.version)
    }

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
    table
        .str("network", |r| &r.id.network)
        .str("setting", |r| &r.id.setting)
        .u64("run", |r| r.id.run)
        .str("party", |r| r.party)
        .u64("layer", |r| r.layer)
        .str("network_name", |r| &r.id.network_name)
        .str("family", |r| &r.id.family)
        .str("source_stage", |r| &r.id.source_stage)
        .str("layer_name", |r| &r.layer_name)
        .str("kind", |r| r.kind.as_str());
    // The study's raw layer parameters.
    table
        .u64("in_h", |r| r.features.in_h)
        .u64("in_w", |r| r.features.in_w)
        .u64("in_c", |r| r.features.in_c)
        .u64("out_h", |r| r.features.out_h)
        .u64("out_w", |r| r.features.out_w)
        .u64("out_c", |r| r.features.out_c)
        .opt_u64("kernel_h", |r| r.features.kernel_h)
        .opt_u64("kernel_w", |r| r.features.kernel_w)
        .opt_u64("stride", |r| r.features.stride)
        .opt_u64("padding", |r| r.features.padding)
        .opt_u64("filters", |r| r.features.filters)
        .opt_u64("units", |r| r.features.units)
        .opt_u64("inputs", |r| r.features.inputs)
        .u64("elements", |r| r.features.elements)
        .opt_f64("relu_fraction", |r| r.features.relu_fraction)
        .opt_u64("degree", |r| r.features.degree)
        .opt_u64("relu_channels", |r| r.features.relu_channels);
    // Engineered features.
    table
        .u64("flops", |r| r.features.flops)
        .u64("input_size", |r| r.features.input_size)
        .u64("weight_size", |r| r.features.weight_size)
        .u64("output_size", |r| r.features.output_size);
    // The engine's planned protocol counts.
    table
        .u64("output_elements", |r| r.counts.output_elements)
        .u64("comparisons", |r| r.counts.comparisons)
        .u64("truncations", |r| r.counts.truncations)
        .u64("multiplications", |r| r.counts.multiplications)
        .u64("ots", |r| r.counts.ots)
        .u64("ot_bytes_server", |r| r.counts.ot_bytes_server)
        .u64("ot_bytes_client", |r| r.counts.ot_bytes_client)
        .u64("input_cts", |r| r.linear.input_cts)
        .u64("output_cts", |r| r.linear.output_cts)
        .u64("ct_pt_products", |r| r.linear.ct_pt_products)
        .u64("weight_polys", |r| r.linear.weight_polys)
        .u64("he_bytes_client_to_server", |r| {
            r.linear.bytes_client_to_server
        })
        .u64("he_bytes_server_to_client", |r| {
            r.linear.bytes_server_to_client
        })
        .u64("planned_bytes", |r| r.planned_bytes())
        .u64("planned_rounds", |r| r.planned_rounds);
    // Measured.
    table
        .f64("wall_s", |r| r.measured.wall_s)
        .f64("cpu_s", |r| r.measured.cpu_s)
        .u64("bytes_sent", |r| r.measured.bytes_sent)
        .u64("bytes_received", |r| r.measured.bytes_received)
        .u64("messages_sent", |r| r.measured.messages_sent)
        .u64("messages_received", |r| r.measured.messages_received)
        .u64("rounds", |r| r.measured.rounds);
    table.context(|r| &r.id).build()
}

/// The networks table: one party's run totals per row.
pub fn networks_table(rows: &[&NetworkRow]) -> Result<DataFrame, StageError> {
    TableBuilder::new("networks", rows)
        .str("network", |r| &r.id.network)
        .str("family", |r| &r.id.family)
        .str("source_stage", |r| &r.id.source_stage)
        .str("setting", |r| &r.id.setting)
        .str("party", |r| r.party)
        .u64("run", |r| r.id.run)
        .str("network_name", |r| &r.id.network_name)
        .u64("layers", |r| r.layers)
        .f64("setup_s", |r| r.setup.wall_s)
        .f64("inference_s", |r| r.inference.wall_s)
        .f64("total_s", |r| r.total.wall_s)
        .f64("cpu_s", |r| r.total.cpu_s)
        .u64("bytes_sent", |r| r.total.bytes_sent)
        .u64("bytes_received", |r| r.total.bytes_received)
        .u64("rounds", |r| r.total.rounds)
        .u64("messages_sent", |r| r.total.messages_sent)
        .u64("messages_received", |r| r.total.messages_received)
        .context(|r| &r.id)
        .build()
}
