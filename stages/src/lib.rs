//! The stage kinds of an snni study.
//!
//! A stage kind turns typed parameters (and the outputs of the stages it needs) into
//! outputs stored in the artifact store. Each kind says how its work splits into shards,
//! so that the pipeline can run shards in parallel, commit each one as it finishes and
//! resume an interrupted stage. The registry in [`registry`] is the single list of kinds
//! the manifest may name.

pub mod cancel;
mod dataset;
mod error;
mod evaluate;
mod kind;
mod learn;
mod networks;
pub mod onnx;
mod params;
pub mod predict;
pub mod profile;
mod reference;
mod registry;
mod rows;
pub mod schema;
mod search;
mod seed;
mod sequence_search;
mod setting;
pub mod shaping;
mod split;
pub mod synthesize;
mod train;
mod whole;

pub use dataset::DatasetKind;
pub use error::{error_chain, StageError};
pub use evaluate::EvaluateKind;
pub use kind::{
    CheckContext, Kind, NetworkFileError, NetworkFiles, OutputData, PlanContext, Reservation,
    ShardContext, ShardOutputs, StageKind, UpstreamStage,
};
pub use learn::{LoadedRnn, Method, PartyModels, RnnMeta, UnknownMethod};
pub use networks::{NetworksKind, NETWORK_EXTENSIONS};
pub use params::{
    decode_params, decode_params_all, decode_params_lenient, plain_words, ParamIssue,
};
pub use profile::ProfileKind;
pub use profile::SpeedProbe;
pub use reference::ReferenceKind;
pub use registry::{kind_by_name, kind_names, KINDS};
pub use rows::{
    view, view_label, view_of_kind, view_position, PlannedLink, View, VIEWS, VIEW_NAMES,
};
pub use search::SearchKind;
pub use sequence_search::SequenceSearchKind;
pub use setting::Setting;
pub use split::SplitKind;
pub use synthesize::SynthesizeKind;
pub use train::TrainKind;
pub use whole::{
    predict_network, speeds_of_split_summary, NetworkPrediction, PartyResult, PlannedLayer,
    Prediction, Predictor, Rescaled, SpeedScale, WholeKind, WholeModels,
};
