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

#[cfg(test)]
mod tests {
    use super::*;

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
