//! The training data of the learning stages: the dataset's views with the split's sides,
//! and the groups a model is fitted to (one layer type × party × setting).

use std::collections::{BTreeMap, HashMap};

use snni_artifacts::BlobSource;

use super::frame::{self, RunKey, Side, ViewRows};
use crate::{StageError, UpstreamStage, VIEW_NAMES};

/// One model's rows: a layer type, a party and a setting.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Group {
    /// The dataset view (layer type).
    pub view: String,
    /// `server` or `client`.
    pub party: String,
    /// The setting's name.
    pub setting: String,
}

impl Group {
    /// `view.party.setting`.
    pub fn key(&self) -> String {
        format!("{}.{}.{}", self.view, self.party, self.setting)
    }

    /// Parses [`Group::key`] (a trailing `.tNN` or other suffix is not part of it).
    pub fn parse(key: &str) -> Option<Group> {
        let mut parts = key.splitn(3, '.');
        let view = parts.next()?;
        let party = parts.next()?;
        let setting = parts.next()?;
        VIEW_NAMES.contains(&view).then(|| Group {
            view: view.to_string(),
            party: party.to_string(),
            setting: setting.to_string(),
        })
    }
}

/// The views a stage reads, with the split's sides (and times scaled by the split's speed
/// factors, when it has them).
pub struct Data {
    /// Rows by view name.
    pub views: BTreeMap<String, ViewRows>,
    /// The split's factor on each run's times (`speed: probe`), if any.
    pub speed: Option<HashMap<RunKey, f64>>,
}

impl Data {
    /// Loads `views` from the upstream `dataset` stage and the sides from the `split` stage.
    pub fn load(
        store: &dyn BlobSource,
        upstream: &[UpstreamStage],
        views: &[String],
    ) -> Result<Data, StageError> {
        let split = frame::upstream_table(store, upstream, "split", "split/rows")?;
        let frame::SplitRows { sides, speed } = frame::split_rows(&split)?;
        let mut loaded = BTreeMap::new();
        for view in views {
            let name = format!("tables/{view}");
            let table = frame::upstream_table(store, upstream, "dataset", &name)?;
            let mut rows = frame::view_rows(&name, &table, &sides)?;
            if let Some(factors) = &speed {
                rows.scale_times(factors)?;
            }
            loaded.insert(view.clone(), rows);
        }
        Ok(Data {
            views: loaded,
            speed,
        })
    }

    /// [`Data::load`] of `group`'s view and the `layers` table (every kind), which the
    /// per-layer fits need for Ferret's shared prices.
    pub fn load_group(
        store: &dyn BlobSource,
        upstream: &[UpstreamStage],
        group: &Group,
    ) -> Result<Data, StageError> {
        Data::load(
            store,
            upstream,
            &[group.view.clone(), super::pairs::LAYERS.to_string()],
        )
    }

    /// Scales the times of rows read outside [`Data::load`] (the per-network totals) by the
    /// split's speed factors, as the views were.
    pub fn scale(&self, rows: &mut ViewRows) -> Result<(), StageError> {
        match &self.speed {
            Some(factors) => rows.scale_times(factors),
            None => Ok(()),
        }
    }

    /// The dataset's `layers` table (every kind), when it was loaded.
    pub fn layers(&self) -> Result<&ViewRows, StageError> {
        self.views
            .get(super::pairs::LAYERS)
            .ok_or_else(|| StageError::Learn {
                message: "the dataset's `layers` table was not loaded".to_string(),
            })
    }

    /// The rows of `group`.
    pub fn view(&self, group: &Group) -> Result<&ViewRows, StageError> {
        self.views
            .get(&group.view)
            .ok_or_else(|| StageError::Learn {
                message: format!("view `{}` was not loaded", group.view),
            })
    }

    /// [`Data::groups`], or — when no group has enough rows — an error naming the minimum
    /// and the best group there is, instead of a stage of 0 shards that succeeds and
    /// leaves nothing to predict with.
    pub fn groups_or_explain(&self, min_rows: usize) -> Result<Vec<Group>, StageError> {
        let groups = self.groups(min_rows);
        if !groups.is_empty() {
            return Ok(groups);
        }
        let best = self
            .counts()
            .into_iter()
            .max_by_key(|(_, (train, validation))| (*train, *validation));
        let best = match best {
            Some((group, (train, validation))) => format!(
                "the most any has is {train} training and {validation} validation rows ({})",
                group.key()
            ),
            None => "the dataset has no rows of these layer types".to_string(),
        };
        Err(StageError::Learn {
            message: format!(
                "too little data: a layer model needs at least {min_rows} training rows \
                 (`min_rows`) and 1 validation row, and {best}; add networks (raise `count` \
                 of the synthesize stage, or `runs` of the profile stage) or lower `min_rows`"
            ),
        })
    }

    /// Every group with at least `min_rows` training rows and one validation row, in view,
    /// party, setting order.
    pub fn groups(&self, min_rows: usize) -> Vec<Group> {
        self.counts()
            .into_iter()
            .filter(|(_, (train, validation))| *train >= min_rows && *validation > 0)
            .map(|(group, _)| group)
            .collect()
    }

    /// Training and validation rows of every group, in view, party, setting order.
    fn counts(&self) -> Vec<(Group, (usize, usize))> {
        let mut groups = Vec::new();
        for (view, rows) in &self.views {
            let mut counts: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
            for i in 0..rows.len() {
                let entry = counts
                    .entry((rows.party[i].clone(), rows.setting[i].clone()))
                    .or_default();
                match rows.side[i] {
                    Side::Train => entry.0 += 1,
                    Side::Validation => entry.1 += 1,
                    _ => {}
                }
            }
            for ((party, setting), sides) in counts {
                let group = Group {
                    view: view.clone(),
                    party,
                    setting,
                };
                groups.push((group, sides));
            }
        }
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_keys_round_trip_and_reject_unknown_views() {
        let group = Group {
            view: "max_pool".into(),
            party: "client".into(),
            setting: "wan".into(),
        };
        assert_eq!(group.key(), "max_pool.client.wan");
        assert_eq!(Group::parse(&group.key()), Some(group));
        assert_eq!(Group::parse("pool.client.wan"), None);
        assert_eq!(Group::parse("conv.client"), None);
    }

    /// A `conv` view with `train` training and `validation` validation rows of the server
    /// in `local`.
    fn conv_rows(train: usize, validation: usize) -> Data {
        let mut rows = ViewRows::default();
        for i in 0..train + validation {
            rows.network.push(format!("n{i}"));
            rows.setting.push("local".into());
            rows.party.push("server".into());
            rows.run.push(0);
            rows.layer.push(0);
            rows.kind.push("conv".into());
            rows.side.push(if i < train {
                Side::Train
            } else {
                Side::Validation
            });
        }
        Data {
            views: BTreeMap::from([("conv".to_string(), rows)]),
            speed: None,
        }
    }

    #[test]
    fn too_little_data_is_an_error_naming_the_minimum_and_the_best_group() {
        let data = conv_rows(3, 1);
        let error = data.groups_or_explain(20).unwrap_err().to_string();
        assert!(
            error.contains("at least 20 training rows (`min_rows`)"),
            "{error}"
        );
        assert!(
            error.contains("3 training and 1 validation rows (conv.server.local)"),
            "{error}"
        );
        assert!(error.contains("lower `min_rows`"), "{error}");
        let groups = data.groups_or_explain(3).unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].key(), "conv.server.local");
        // Enough training rows but no validation row is too little as well.
        assert!(conv_rows(30, 0).groups_or_explain(20).is_err());
        let empty = Data {
            views: BTreeMap::new(),
            speed: None,
        };
        let error = empty.groups_or_explain(1).unwrap_err().to_string();
        assert!(error.contains("no rows of these layer types"), "{error}");
    }
}
