//! The features of one layer that do not depend on a run: the study's raw layer parameters
//! (BRIEF §5) and the engineered counts (FLOPs; input, weight and output sizes), computed
//! from the network description and its validated shapes.

use snni_engine::network::{poly_relu_channels, LayerInfo, Op};

/// Raw parameters and engineered features of one layer. `None` where a parameter does not
/// apply to the layer's kind (a relu has no kernel).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerFeatures {
    /// Height of the first input.
    pub in_h: u64,
    /// Width of the first input.
    pub in_w: u64,
    /// Channels of the first input.
    pub in_c: u64,
    /// Output height.
    pub out_h: u64,
    /// Output width.
    pub out_w: u64,
    /// Output channels.
    pub out_c: u64,
    /// Kernel height (conv, pools; a global average pool's window is its whole input).
    pub kernel_h: Option<u64>,
    /// Kernel width (as `kernel_h`).
    pub kernel_w: Option<u64>,
    /// Stride (conv, pools; 1 for a global average pool).
    pub stride: Option<u64>,
    /// Padding on each side (conv, pools; 0 for a global average pool).
    pub padding: Option<u64>,
    /// Output channels of a conv (C_out).
    pub filters: Option<u64>,
    /// Outputs of an fc layer (C_out).
    pub units: Option<u64>,
    /// Number of inputs of an add or concat.
    pub inputs: Option<u64>,
    /// Output element count.
    pub elements: u64,
    /// Fraction of channels that stay ReLU (poly_act).
    pub relu_fraction: Option<f64>,
    /// Polynomial degree (poly_act).
    pub degree: Option<u64>,
    /// Channels that stay ReLU, `⌈relu_fraction·C⌉` (poly_act).
    pub relu_channels: Option<u64>,
    /// Floating-point operations in the clear, counting a multiply-add as two:
    ///
    /// - conv: `2·out_h·out_w·C_out·k_h·k_w·C_in`;
    /// - fc: `2·C_in·C_out` (C_in is the input element count);
    /// - batch_norm: `2·elements` (a multiply and an add per element);
    /// - relu, poly_act and add: `elements`;
    /// - max_pool and avg_pool: `elements·k_h·k_w`; global_avg_pool: `elements·in_h·in_w`;
    /// - concat and flatten: 0 (data movement only).
    pub flops: u64,
    /// Elements read, summed over all inputs.
    pub input_size: u64,
    /// Multiplicative weights: conv kernel, fc matrix, batch-norm γ (biases excluded).
    pub weight_size: u64,
    /// Elements written (equal to `elements`).
    pub output_size: u64,
}

impl LayerFeatures {
    /// The features of the layer `op` with validated shapes `info`.
    ///
    /// Validation bounds every shape and count (`snni_engine::network::MAX_COUNT`: at most
    /// 2^53 multiply-accumulates, 2^32 elements or window taps), so the products below fit
    /// in a `u64`.
    pub fn of(op: &Op, info: &LayerInfo) -> LayerFeatures {
        let input = info.inputs.first().copied().unwrap_or(info.output);
        let output = info.output;
        let elements = output.elements();
        let mut features = LayerFeatures {
            in_h: input.h as u64,
            in_w: input.w as u64,
            in_c: input.c as u64,
            out_h: output.h as u64,
            out_w: output.w as u64,
            out_c: output.c as u64,
            kernel_h: None,
            kernel_w: None,
            stride: None,
            padding: None,
            filters: None,
            units: None,
            inputs: None,
            elements,
            relu_fraction: None,
            degree: None,
            relu_channels: None,
            flops: 0,
            input_size: info.input_elements(),
            weight_size: info.weight_elements(),
            output_size: elements,
        };
        let mut window = |kh: usize, kw: usize, stride: usize, padding: usize| {
            features.kernel_h = Some(kh as u64);
            features.kernel_w = Some(kw as u64);
            features.stride = Some(stride as u64);
            features.padding = Some(padding as u64);
            (kh * kw) as u64
        };
        match *op {
            Op::Conv {
                filters,
                kernel,
                stride,
                padding,
                ..
            } => {
                window(kernel.h, kernel.w, stride, padding);
                features.filters = Some(filters as u64);
                // MACs: output positions × filters × kernel area × input channels.
                features.flops = 2 * info.costs.macs;
            }
            Op::Fc { units, .. } => {
                features.units = Some(units as u64);
                // MACs: input elements × units.
                features.flops = 2 * info.costs.macs;
            }
            Op::BatchNorm {} => features.flops = 2 * elements,
            Op::Relu {} | Op::Add {} => features.flops = elements,
            Op::MaxPool {
                kernel,
                stride,
                padding,
            }
            | Op::AvgPool {
                kernel,
                stride,
                padding,
            } => {
                let area = window(kernel.h, kernel.w, stride, padding);
                features.flops = elements * area;
            }
            Op::GlobalAvgPool {} => {
                let area = window(input.h, input.w, 1, 0);
                features.flops = elements * area;
            }
            Op::Concat {} | Op::Flatten {} => {}
            Op::PolyAct {
                degree,
                relu_fraction,
            } => {
                features.degree = Some(u64::from(degree));
                features.relu_fraction = Some(relu_fraction);
                features.relu_channels = Some(poly_relu_channels(input.c, relu_fraction) as u64);
                features.flops = elements;
            }
        }
        if matches!(op, Op::Add {} | Op::Concat {}) {
            features.inputs = Some(info.inputs.len() as u64);
        }
        features
    }
}

#[cfg(test)]
mod tests {
    use snni_engine::network::Network;

    use super::*;

    #[test]
    fn conv_and_fc_flops_follow_the_formulas() {
        let network = Network::from_yaml_str(include_str!("fixtures/mini.yaml")).unwrap();
        let shapes = network.validate().unwrap();
        let conv = LayerFeatures::of(&network.layers[0].op, &shapes.layers[0]);
        // 4x4x1 → 4x4x2 with a 3x3 kernel.
        assert_eq!(conv.flops, 2 * 4 * 4 * 2 * 3 * 3);
        assert_eq!(conv.kernel_h, Some(3));
        assert_eq!(conv.filters, Some(2));
        assert_eq!(conv.weight_size, 18);
        let relu = LayerFeatures::of(&network.layers[1].op, &shapes.layers[1]);
        assert_eq!((relu.flops, relu.kernel_h, relu.inputs), (32, None, None));
        let fc = LayerFeatures::of(&network.layers[3].op, &shapes.layers[3]);
        assert_eq!(
            (fc.flops, fc.units, fc.input_size),
            (2 * 32 * 2, Some(2), 32)
        );
    }
}
