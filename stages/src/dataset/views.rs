//! The per-layer-type views of the layer table: the same columns, the rows of some kinds.
//!
//! Every view is always written (possibly with zero rows) so that downstream stages can
//! rely on its presence. `flatten` layers have no view: they move no data.

use snni_engine::network::OpKind;

/// The views: output name and the kinds whose rows it holds. No kind is in two views.
pub const VIEWS: &[(&str, &[OpKind])] = &[
    ("conv", &[OpKind::Conv]),
    ("fc", &[OpKind::Fc]),
    ("batch_norm", &[OpKind::BatchNorm]),
    ("relu", &[OpKind::Relu]),
    ("max_pool", &[OpKind::MaxPool]),
    ("avg_pool", &[OpKind::AvgPool, OpKind::GlobalAvgPool]),
    ("poly_act", &[OpKind::PolyAct]),
    ("add_concat", &[OpKind::Add, OpKind::Concat]),
];

/// The view holding layers of `kind` (none for `flatten`).
pub fn view_of_kind(kind: &str) -> Option<&'static str> {
    VIEWS
        .iter()
        .find(|(_, kinds)| kinds.iter().any(|k| k.as_str() == kind))
        .map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_their_view() {
        assert_eq!(view_of_kind("global_avg_pool"), Some("avg_pool"));
        assert_eq!(view_of_kind("concat"), Some("add_concat"));
        assert_eq!(view_of_kind("conv"), Some("conv"));
        assert_eq!(view_of_kind("flatten"), None);
    }

    #[test]
    fn every_kind_but_flatten_is_in_exactly_one_view() {
        for kind in OpKind::ALL {
            let views = VIEWS
                .iter()
                .filter(|(_, kinds)| kinds.contains(&kind))
                .count();
            let expected = usize::from(kind != OpKind::Flatten);
            assert_eq!(views, expected, "{kind}");
        }
    }
}
