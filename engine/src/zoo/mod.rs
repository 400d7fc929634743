//! The reference architectures the study evaluates whole-network prediction on.
//!
//! [`squeezenet`] (SqueezeNet 1.1), [`resnet50`] and [`densenet121`] follow torchvision layer
//! for layer, so parameter counts match torchvision exactly and layer names follow its module
//! paths. Each takes the input shape: the study uses 224×224×3, quick studies use smaller
//! inputs. The networks are never part of the synthesized training data.

mod densenet;
mod resnet;
mod squeezenet;

pub use densenet::densenet121;
pub use resnet::resnet50;
pub use squeezenet::squeezenet;

use crate::network::{Network, Shape};

/// The names [`by_name`] accepts.
pub const NAMES: [&str; 3] = ["squeezenet", "resnet50", "densenet121"];

/// The reference network called `name` (one of [`NAMES`]) on `input`, or `None`.
pub fn by_name(name: &str, input: Shape) -> Option<Network> {
    match name {
        "squeezenet" => Some(squeezenet(input)),
        "resnet50" => Some(resnet50(input)),
        "densenet121" => Some(densenet121(input)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::OpKind;

    const IMAGENET: Shape = Shape::new(224, 224, 3);

    #[test]
    fn by_name_knows_every_name() {
        for name in NAMES {
            let network = by_name(name, IMAGENET).unwrap();
            assert_eq!(network.name, name);
        }
        assert!(by_name("vgg16", IMAGENET).is_none());
    }

    #[test]
    fn match_torchvision_parameter_counts() {
        let count = |network: Network| network.param_count().unwrap();
        assert_eq!(count(resnet50(IMAGENET)), 25_557_032);
        assert_eq!(count(densenet121(IMAGENET)), 7_978_856);
        assert_eq!(count(squeezenet(IMAGENET)), 1_235_496);
    }

    #[test]
    fn end_in_a_thousand_classes_at_every_size() {
        for side in [224, 64, 32] {
            for name in NAMES {
                let network = by_name(name, Shape::new(side, side, 3)).unwrap();
                let shapes = network
                    .validate()
                    .unwrap_or_else(|err| panic!("{name} at {side}: {err}"));
                assert_eq!(shapes.output(), Shape::flat(1000), "{name} at {side}");
                assert!(shapes.iter().all(|layer| !layer.output.has_zero()));
            }
        }
    }

    #[test]
    fn families_and_kinds() {
        let kinds = |network: &Network| {
            let mut kinds: Vec<OpKind> = network.layers.iter().map(|l| l.op.kind()).collect();
            kinds.sort();
            kinds.dedup();
            kinds
        };
        let resnet = resnet50(IMAGENET);
        assert_eq!(resnet.family, "resnet");
        assert!(kinds(&resnet).contains(&OpKind::Add));
        let densenet = densenet121(IMAGENET);
        assert_eq!(densenet.family, "densenet");
        assert!(kinds(&densenet).contains(&OpKind::AvgPool));
        let squeezenet = squeezenet(IMAGENET);
        assert_eq!(squeezenet.family, "squeezenet");
        assert!(!kinds(&squeezenet).contains(&OpKind::BatchNorm));
    }

    /// The smallest square input each network accepts, as stated in the builders' docs.
    #[test]
    fn smallest_inputs_fail_clearly_below() {
        for (name, smallest) in [("squeezenet", 17), ("resnet50", 1), ("densenet121", 29)] {
            let at = |side| by_name(name, Shape::new(side, side, 3)).unwrap().validate();
            assert!(at(smallest).is_ok(), "{name} at {smallest}");
            if smallest > 1 {
                let err = at(smallest - 1).unwrap_err().to_string();
                assert!(err.contains("the input is too small"), "{name}: {err}");
            }
        }
    }

    #[test]
    fn round_trip_through_yaml() {
        for name in NAMES {
            let network = by_name(name, IMAGENET).unwrap();
            let back = Network::from_yaml_str(&network.to_yaml_string().unwrap()).unwrap();
            assert_eq!(back, network);
        }
    }
}
