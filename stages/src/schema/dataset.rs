//! The dataset's tables: `layers` (and its per-type views, the same columns over fewer
//! rows) and `networks`. Every column is declared once here, with its type and what a null
//! in it means; the dataset stage writes them (`stages/src/rows/columns.rs`, checked
//! against these lists by its tests) and every reader reads them through
//! [`TableReader`](super::TableReader).
//!
//! Nulls: a raw layer parameter a kind does not have (the kernel of a ReLU) and the link
//! terms of an unshaped link are null, and read as 0 ("does not apply"). Every other column
//! is never null.
//!
//! Missing columns: `ot` came with dataset version 3; an older table has none and every
//! row reads as `iknp`, the only backend there was. Every other column is in every table.

use super::column::{Absent, ColumnDef, Nulls};

// Keys and names.
/// The network's id in the study.
pub const NETWORK: ColumnDef = ColumnDef::text("network");
/// The setting's name.
pub const SETTING: ColumnDef = ColumnDef::text("setting");
/// The run number (from 1; 0 for a planned network).
pub const RUN: ColumnDef = ColumnDef::count("run");
/// `server` or `client`.
pub const PARTY: ColumnDef = ColumnDef::text("party");
/// The layer's index in the network.
pub const LAYER: ColumnDef = ColumnDef::count("layer");
/// The network's own name.
pub const NETWORK_NAME: ColumnDef = ColumnDef::text("network_name");
/// The network's family (`reference` for reference networks).
pub const FAMILY: ColumnDef = ColumnDef::text("family");
/// The stage that produced the network.
pub const SOURCE_STAGE: ColumnDef = ColumnDef::text("source_stage");
/// The layer's name.
pub const LAYER_NAME: ColumnDef = ColumnDef::text("layer_name");
/// The layer's kind (`conv`, `relu`, …).
pub const KIND: ColumnDef = ColumnDef::text("kind");

// The study's raw layer parameters (null where a kind has none).
/// The `in_h` column.
pub const IN_H: ColumnDef = ColumnDef::count("in_h");
/// The `in_w` column.
pub const IN_W: ColumnDef = ColumnDef::count("in_w");
/// The `in_c` column.
pub const IN_C: ColumnDef = ColumnDef::count("in_c");
/// The `out_h` column.
pub const OUT_H: ColumnDef = ColumnDef::count("out_h");
/// The `out_w` column.
pub const OUT_W: ColumnDef = ColumnDef::count("out_w");
/// The `out_c` column.
pub const OUT_C: ColumnDef = ColumnDef::count("out_c");
/// The `kernel_h` column.
pub const KERNEL_H: ColumnDef = ColumnDef::count("kernel_h").nulls(Nulls::AsZero);
/// The `kernel_w` column.
pub const KERNEL_W: ColumnDef = ColumnDef::count("kernel_w").nulls(Nulls::AsZero);
/// The `stride` column.
pub const STRIDE: ColumnDef = ColumnDef::count("stride").nulls(Nulls::AsZero);
/// The `padding` column.
pub const PADDING: ColumnDef = ColumnDef::count("padding").nulls(Nulls::AsZero);
/// The `filters` column.
pub const FILTERS: ColumnDef = ColumnDef::count("filters").nulls(Nulls::AsZero);
/// The `units` column.
pub const UNITS: ColumnDef = ColumnDef::count("units").nulls(Nulls::AsZero);
/// The `inputs` column.
pub const INPUTS: ColumnDef = ColumnDef::count("inputs").nulls(Nulls::AsZero);
/// The `elements` column.
pub const ELEMENTS: ColumnDef = ColumnDef::count("elements");
/// The `relu_fraction` column.
pub const RELU_FRACTION: ColumnDef = ColumnDef::real("relu_fraction").nulls(Nulls::AsZero);
/// The `degree` column.
pub const DEGREE: ColumnDef = ColumnDef::count("degree").nulls(Nulls::AsZero);
/// The `relu_channels` column.
pub const RELU_CHANNELS: ColumnDef = ColumnDef::count("relu_channels").nulls(Nulls::AsZero);

// Engineered features.
/// The `flops` column.
pub const FLOPS: ColumnDef = ColumnDef::count("flops");
/// The `input_size` column.
pub const INPUT_SIZE: ColumnDef = ColumnDef::count("input_size");
/// The `weight_size` column.
pub const WEIGHT_SIZE: ColumnDef = ColumnDef::count("weight_size");
/// The `output_size` column.
pub const OUTPUT_SIZE: ColumnDef = ColumnDef::count("output_size");

// The engine's planned protocol counts.
/// The `output_elements` column.
pub const OUTPUT_ELEMENTS: ColumnDef = ColumnDef::count("output_elements");
/// The `comparisons` column.
pub const COMPARISONS: ColumnDef = ColumnDef::count("comparisons");
/// The `truncations` column.
pub const TRUNCATIONS: ColumnDef = ColumnDef::count("truncations");
/// The `multiplications` column.
pub const MULTIPLICATIONS: ColumnDef = ColumnDef::count("multiplications");
/// The `ots` column.
pub const OTS: ColumnDef = ColumnDef::count("ots");
/// The `ot_refills` column: Ferret main iterations (COT pool refills, both directions) the
/// layer runs, as planned; 0 with IKNP. A refill's LPN and GGM work falls on whichever layer
/// empties a pool, so it is a cost of its own, not one proportional to the layer's OTs.
pub const OT_REFILLS: ColumnDef = ColumnDef::count("ot_refills");
/// The `ot_pool_growth` column: COTs by which the layer's refills grow the Ferret pools'
/// buffers past any earlier size (both directions), as planned; 0 with IKNP. Each new
/// entry is allocated and zero-filled at both parties: the first refill of a direction
/// costs ~0.05 s more than later ones on the mid study's machine, which `ot_refills` alone
/// cannot say.
pub const OT_POOL_GROWTH: ColumnDef = ColumnDef::count("ot_pool_growth");
/// The `ot_bytes_server` column.
pub const OT_BYTES_SERVER: ColumnDef = ColumnDef::count("ot_bytes_server");
/// The `ot_bytes_client` column.
pub const OT_BYTES_CLIENT: ColumnDef = ColumnDef::count("ot_bytes_client");
/// The `input_cts` column.
pub const INPUT_CTS: ColumnDef = ColumnDef::count("input_cts");
/// The `output_cts` column.
pub const OUTPUT_CTS: ColumnDef = ColumnDef::count("output_cts");
/// The `ct_pt_products` column.
pub const CT_PT_PRODUCTS: ColumnDef = ColumnDef::count("ct_pt_products");
/// The `weight_polys` column.
pub const WEIGHT_POLYS: ColumnDef = ColumnDef::count("weight_polys");
/// The `he_bytes_client_to_server` column.
pub const HE_BYTES_CLIENT_TO_SERVER: ColumnDef = ColumnDef::count("he_bytes_client_to_server");
/// The `he_bytes_server_to_client` column.
pub const HE_BYTES_SERVER_TO_CLIENT: ColumnDef = ColumnDef::count("he_bytes_server_to_client");
/// The `planned_bytes` column.
pub const PLANNED_BYTES: ColumnDef = ColumnDef::count("planned_bytes");
/// The `planned_rounds` column.
pub const PLANNED_ROUNDS: ColumnDef = ColumnDef::count("planned_rounds");

// Measured.
/// The `wall_s` column.
pub const WALL_S: ColumnDef = ColumnDef::real("wall_s");
/// The `cpu_s` column.
pub const CPU_S: ColumnDef = ColumnDef::real("cpu_s");
/// The `bytes_sent` column.
pub const BYTES_SENT: ColumnDef = ColumnDef::count("bytes_sent");
/// The `bytes_received` column.
pub const BYTES_RECEIVED: ColumnDef = ColumnDef::count("bytes_received");
/// The `messages_sent` column.
pub const MESSAGES_SENT: ColumnDef = ColumnDef::count("messages_sent");
/// The `messages_received` column.
pub const MESSAGES_RECEIVED: ColumnDef = ColumnDef::count("messages_received");
/// The `rounds` column.
pub const ROUNDS: ColumnDef = ColumnDef::count("rounds");

// The context: link, backend, engine, machine (link terms null when unshaped).
/// The `backend` column.
pub const BACKEND: ColumnDef = ColumnDef::text("backend");
/// The `ot` column.
pub const OT: ColumnDef = ColumnDef::text("ot").absent(Absent::Text("iknp"));
/// The `bandwidth_bps` column.
pub const BANDWIDTH_BPS: ColumnDef = ColumnDef::count("bandwidth_bps").nulls(Nulls::AsZero);
/// The `rtt_us` column.
pub const RTT_US: ColumnDef = ColumnDef::real("rtt_us").nulls(Nulls::AsZero);
/// The `loss_percent` column.
pub const LOSS_PERCENT: ColumnDef = ColumnDef::real("loss_percent").nulls(Nulls::AsZero);
/// The `ell` column.
pub const ELL: ColumnDef = ColumnDef::count("ell");
/// The `scale` column.
pub const SCALE: ColumnDef = ColumnDef::count("scale");
/// The `he_degree` column.
pub const HE_DEGREE: ColumnDef = ColumnDef::count("he_degree");
/// The `threads` column.
pub const THREADS: ColumnDef = ColumnDef::count("threads");
/// The `pinned_cpus` column.
pub const PINNED_CPUS: ColumnDef = ColumnDef::text("pinned_cpus");
/// The `cpu_model` column.
pub const CPU_MODEL: ColumnDef = ColumnDef::text("cpu_model");
/// The `cores` column.
pub const CORES: ColumnDef = ColumnDef::count("cores");
/// The `engine_version` column.
pub const ENGINE_VERSION: ColumnDef = ColumnDef::text("engine_version");

// The machine's speed and load around the run (null: not recorded, as for shards measured
// before the probe existed or with it off).
/// The `probe_he_per_s` column: the speed probe's HE layers per second.
pub const PROBE_HE_PER_S: ColumnDef = ColumnDef::real("probe_he_per_s")
    .nulls(Nulls::AsNan)
    .absent(Absent::Optional);
/// The `probe_ot_per_s` column: the speed probe's random OTs per second.
pub const PROBE_OT_PER_S: ColumnDef = ColumnDef::real("probe_ot_per_s")
    .nulls(Nulls::AsNan)
    .absent(Absent::Optional);
/// The `probe_deviation` column: how far the probe after the run is from the one before.
pub const PROBE_DEVIATION: ColumnDef = ColumnDef::real("probe_deviation")
    .nulls(Nulls::AsNan)
    .absent(Absent::Optional);
/// The `load_avg` column: the 1-minute load average over the run.
pub const LOAD_AVG: ColumnDef = ColumnDef::real("load_avg")
    .nulls(Nulls::AsNan)
    .absent(Absent::Optional);
/// The `steal_fraction` column: the share of CPU time the hypervisor stole.
pub const STEAL_FRACTION: ColumnDef = ColumnDef::real("steal_fraction")
    .nulls(Nulls::AsNan)
    .absent(Absent::Optional);

// The run totals of the `networks` table.
/// The `layers` column.
pub const LAYERS: ColumnDef = ColumnDef::count("layers");
/// The `setup_s` column.
pub const SETUP_S: ColumnDef = ColumnDef::real("setup_s");
/// The `inference_s` column.
pub const INFERENCE_S: ColumnDef = ColumnDef::real("inference_s");
/// The `total_s` column.
pub const TOTAL_S: ColumnDef = ColumnDef::real("total_s");

/// The columns of `layers` and of every view, in table order.
pub const LAYER_TABLE: [ColumnDef; 73] = [
    NETWORK,
    SETTING,
    RUN,
    PARTY,
    LAYER,
    NETWORK_NAME,
    FAMILY,
    SOURCE_STAGE,
    LAYER_NAME,
    KIND,
    IN_H,
    IN_W,
    IN_C,
    OUT_H,
    OUT_W,
    OUT_C,
    KERNEL_H,
    KERNEL_W,
    STRIDE,
    PADDING,
    FILTERS,
    UNITS,
    INPUTS,
    ELEMENTS,
    RELU_FRACTION,
    DEGREE,
    RELU_CHANNELS,
    FLOPS,
    INPUT_SIZE,
    WEIGHT_SIZE,
    OUTPUT_SIZE,
    OUTPUT_ELEMENTS,
    COMPARISONS,
    TRUNCATIONS,
    MULTIPLICATIONS,
    OTS,
    OT_REFILLS,
    OT_POOL_GROWTH,
    OT_BYTES_SERVER,
    OT_BYTES_CLIENT,
    INPUT_CTS,
    OUTPUT_CTS,
    CT_PT_PRODUCTS,
    WEIGHT_POLYS,
    HE_BYTES_CLIENT_TO_SERVER,
    HE_BYTES_SERVER_TO_CLIENT,
    PLANNED_BYTES,
    PLANNED_ROUNDS,
    WALL_S,
    CPU_S,
    BYTES_SENT,
    BYTES_RECEIVED,
    MESSAGES_SENT,
    MESSAGES_RECEIVED,
    ROUNDS,
    BACKEND,
    OT,
    BANDWIDTH_BPS,
    RTT_US,
    LOSS_PERCENT,
    ELL,
    SCALE,
    HE_DEGREE,
    THREADS,
    PINNED_CPUS,
    CPU_MODEL,
    CORES,
    ENGINE_VERSION,
    PROBE_HE_PER_S,
    PROBE_OT_PER_S,
    PROBE_DEVIATION,
    LOAD_AVG,
    STEAL_FRACTION,
];

/// The columns of `networks`, in table order.
pub const NETWORK_TABLE: [ColumnDef; 35] = [
    NETWORK,
    FAMILY,
    SOURCE_STAGE,
    SETTING,
    PARTY,
    RUN,
    NETWORK_NAME,
    LAYERS,
    SETUP_S,
    INFERENCE_S,
    TOTAL_S,
    CPU_S,
    BYTES_SENT,
    BYTES_RECEIVED,
    ROUNDS,
    MESSAGES_SENT,
    MESSAGES_RECEIVED,
    BACKEND,
    OT,
    BANDWIDTH_BPS,
    RTT_US,
    LOSS_PERCENT,
    ELL,
    SCALE,
    HE_DEGREE,
    THREADS,
    PINNED_CPUS,
    CPU_MODEL,
    CORES,
    ENGINE_VERSION,
    PROBE_HE_PER_S,
    PROBE_OT_PER_S,
    PROBE_DEVIATION,
    LOAD_AVG,
    STEAL_FRACTION,
];

/// The columns a feature twin must match (besides `kind`, `party` and `setting`): the raw
/// layer parameters but `relu_channels`, and the engineered features.
pub const FEATURE_COLUMNS: [ColumnDef; 20] = [
    IN_H,
    IN_W,
    IN_C,
    OUT_H,
    OUT_W,
    OUT_C,
    KERNEL_H,
    KERNEL_W,
    STRIDE,
    PADDING,
    FILTERS,
    UNITS,
    INPUTS,
    ELEMENTS,
    RELU_FRACTION,
    DEGREE,
    FLOPS,
    INPUT_SIZE,
    WEIGHT_SIZE,
    OUTPUT_SIZE,
];

/// The dataset column called `name`, if there is one.
pub fn column(name: &str) -> Option<ColumnDef> {
    LAYER_TABLE
        .iter()
        .chain(&NETWORK_TABLE)
        .find(|c| c.name == name)
        .copied()
}
