//! Stage kinds for tests only: they panic on purpose, so the executors' handling of a
//! panicking stage can be tested. Compiled only into unit tests and never listed in the
//! registry, so no manifest (and no release build) can reach them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use snni_stages::{
    CheckContext, Kind, ParamIssue, PlanContext, ShardContext, ShardOutputs, StageError,
};

/// No parameters.
#[derive(Serialize, Deserialize)]
pub(crate) struct Nothing {}

/// A kind whose stage task panics while it plans its shards.
pub(crate) struct PanicsWhilePlanning;

impl Kind for PanicsWhilePlanning {
    type Params = Nothing;
    const NAME: &'static str = "panics_while_planning";
    const VERSION: u32 = 1;
    const SUMMARY: &'static str = "test only: panics in plan";

    fn check(&self, _: &Value, _: &CheckContext<'_>) -> Result<Nothing, Vec<ParamIssue>> {
        Ok(Nothing {})
    }

    fn plan(&self, _: &Nothing, _: &PlanContext<'_>) -> Result<Vec<String>, StageError> {
        panic!("planning went wrong on purpose")
    }

    fn run(&self, _: &Nothing, ctx: &ShardContext<'_>) -> Result<ShardOutputs, StageError> {
        // A stage that cannot plan runs no shard.
        Err(StageError::UnknownShard {
            kind: Self::NAME,
            shard: ctx.shard.to_string(),
        })
    }
}

/// A kind with one shard, `bad`, that panics while it runs.
pub(crate) struct PanicsInAShard;

impl Kind for PanicsInAShard {
    type Params = Nothing;
    const NAME: &'static str = "panics_in_a_shard";
    const VERSION: u32 = 1;
    const SUMMARY: &'static str = "test only: shard `bad` panics";

    fn check(&self, _: &Value, _: &CheckContext<'_>) -> Result<Nothing, Vec<ParamIssue>> {
        Ok(Nothing {})
    }

    fn plan(&self, _: &Nothing, _: &PlanContext<'_>) -> Result<Vec<String>, StageError> {
        Ok(vec!["bad".to_string()])
    }

    fn run(&self, _: &Nothing, ctx: &ShardContext<'_>) -> Result<ShardOutputs, StageError> {
        panic!("shard `{}` went wrong on purpose", ctx.shard)
    }
}

/// [`PanicsWhilePlanning`], for a `&'static dyn StageKind`.
pub(crate) static PLANNING: PanicsWhilePlanning = PanicsWhilePlanning;
/// [`PanicsInAShard`], for a `&'static dyn StageKind`.
pub(crate) static SHARD: PanicsInAShard = PanicsInAShard;
