//! The per-layer-type views of the layer table: the same columns, the rows of some kinds.
//! This is the one list of layer types: the dataset writes a view per entry, the learning
//! stages fit a model per view, and the report lists and labels them in this order.
//!
//! Every view is always written (possibly with zero rows) so that downstream stages can
//! rely on its presence. `flatten` layers have no view: they move no data.

use snni_engine::network::OpKind;

/// One view: a layer type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    /// Its output name and the name models and tables key it by.
    pub name: &'static str,
    /// The report's label for it.
    pub label: &'static str,
    /// The kinds whose rows it holds.
    pub kinds: &'static [OpKind],
}

/// The views, in the order tables list them. No kind is in two views.
pub const VIEWS: [View; 8] = [
    View {
        name: "conv",
        label: "CONV",
        kinds: &[OpKind::Conv],
    },
    View {
        name: "fc",
        label: "FC",
        kinds: &[OpKind::Fc],
    },
    View {
        name: "batch_norm",
        label: "BN",
        kinds: &[OpKind::BatchNorm],
    },
    View {
        name: "relu",
        label: "ReLU",
        kinds: &[OpKind::Relu],
    },
    View {
        name: "max_pool",
        label: "MaxPool",
        kinds: &[OpKind::MaxPool],
    },
    View {
        name: "avg_pool",
        label: "AvgPool",
        kinds: &[OpKind::AvgPool, OpKind::GlobalAvgPool],
    },
    View {
        name: "poly_act",
        label: "PolyAct",
        kinds: &[OpKind::PolyAct],
    },
    View {
        name: "add_concat",
        label: "Add/Concat",
        kinds: &[OpKind::Add, OpKind::Concat],
    },
];

/// The names of [`VIEWS`], in their order.
pub const VIEW_NAMES: [&str; VIEWS.len()] = {
    let mut names = [""; VIEWS.len()];
    let mut i = 0;
    while i < VIEWS.len() {
        names[i] = VIEWS[i].name;
        i += 1;
    }
    names
};

/// The view holding layers of `kind` (none for `flatten`).
pub fn view_of_kind(kind: &str) -> Option<&'static str> {
    VIEWS
        .iter()
        .find(|view| view.kinds.iter().any(|k| k.as_str() == kind))
        .map(|view| view.name)
}

/// The view called `name`.
pub fn view(name: &str) -> Option<&'static View> {
    VIEWS.iter().find(|view| view.name == name)
}

/// The report's label of the view `name` (the name itself for an unknown view).
pub fn view_label(name: &str) -> &str {
    view(name).map_or(name, |view| view.label)
}

/// The position of the view `name` in [`VIEWS`] (after every view when unknown).
pub fn view_position(name: &str) -> usize {
    VIEWS
        .iter()
        .position(|view| view.name == name)
        .unwrap_or(VIEWS.len())
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
                .filter(|view| view.kinds.contains(&kind))
                .count();
            let expected = usize::from(kind != OpKind::Flatten);
            assert_eq!(views, expected, "{kind}");
        }
    }

    #[test]
    fn views_are_listed_labelled_and_ordered_by_one_list() {
        assert_eq!(
            VIEW_NAMES,
            [
                "conv",
                "fc",
                "batch_norm",
                "relu",
                "max_pool",
                "avg_pool",
                "poly_act",
                "add_concat"
            ]
        );
        assert_eq!(view_label("batch_norm"), "BN");
        assert_eq!(view_label("add_concat"), "Add/Concat");
        assert_eq!(view_label("other"), "other");
        assert_eq!(view_position("fc"), 1);
        assert_eq!(view_position("other"), VIEWS.len());
    }
}
