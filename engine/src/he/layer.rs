//! The linear layers the HE protocol evaluates, with their shapes and tensor layouts
//! (activations HWC, kernels `[kh][kw][c][m]`, matrices `[n_out][n_in]`).

use serde::{Deserialize, Serialize};

use super::HeError;

/// Zero padding around the input, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Padding {
    /// Rows above.
    pub top: usize,
    /// Rows below.
    pub bottom: usize,
    /// Columns on the left.
    pub left: usize,
    /// Columns on the right.
    pub right: usize,
}

impl Padding {
    /// The same padding `p` on every side.
    pub const fn same(p: usize) -> Self {
        Self {
            top: p,
            bottom: p,
            left: p,
            right: p,
        }
    }
}

/// A convolution: HWC input `h×w×c`, kernel `kh×kw×c×m` (layout `[kh][kw][c][m]`), output
/// HWC `out_h×out_w×m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvShape {
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Input channels.
    pub c: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Output channels (filters).
    pub m: usize,
    /// Stride (both directions).
    pub stride: usize,
    /// Zero padding.
    pub pad: Padding,
}

impl ConvShape {
    /// Padded input height.
    pub fn padded_h(&self) -> usize {
        self.h + self.pad.top + self.pad.bottom
    }

    /// Padded input width.
    pub fn padded_w(&self) -> usize {
        self.w + self.pad.left + self.pad.right
    }

    /// Output height.
    pub fn out_h(&self) -> usize {
        (self.padded_h() - self.kh) / self.stride + 1
    }

    /// Output width.
    pub fn out_w(&self) -> usize {
        (self.padded_w() - self.kw) / self.stride + 1
    }

    /// The stride-1 convolution this one is packed as. Unstrided: itself. Strided by s:
    /// the padded input split into its s×s phases (only the phases the kernel touches), each
    /// phase a block of channels, with the kernel taps of that phase:
    /// `⌈Hp/s⌉ × ⌈Wp/s⌉ × C·min(s,kh)·min(s,kw)` input, `⌈kh/s⌉ × ⌈kw/s⌉` kernel, no padding.
    /// Its first `out_h × out_w` outputs are this convolution's outputs.
    pub fn effective(&self) -> ConvShape {
        if self.stride == 1 {
            return *self;
        }
        let s = self.stride;
        ConvShape {
            h: self.padded_h().div_ceil(s),
            w: self.padded_w().div_ceil(s),
            c: self.c * self.kh.min(s) * self.kw.min(s),
            kh: self.kh.div_ceil(s),
            kw: self.kw.div_ceil(s),
            m: self.m,
            stride: 1,
            pad: Padding::default(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), HeError> {
        if [
            self.h,
            self.w,
            self.c,
            self.kh,
            self.kw,
            self.m,
            self.stride,
        ]
        .contains(&0)
        {
            return Err(HeError::Shape(format!(
                "convolution {self:?} has a zero size"
            )));
        }
        if self.kh > self.padded_h() || self.kw > self.padded_w() {
            return Err(HeError::Shape(format!(
                "kernel {}x{} is larger than the padded input {}x{}",
                self.kh,
                self.kw,
                self.padded_h(),
                self.padded_w()
            )));
        }
        Ok(())
    }
}

/// A fully connected layer `y = W·x`, `W` of `n_out × n_in` (row-major).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FcShape {
    /// Input length.
    pub n_in: usize,
    /// Output length.
    pub n_out: usize,
}

/// A batch normalization's multiplicative part: HWC input, one scale γ_c per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BnShape {
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Channels.
    pub c: usize,
}

/// A linear layer the HE protocol evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinearLayer {
    /// Convolution.
    Conv(ConvShape),
    /// Fully connected.
    Fc(FcShape),
    /// Batch normalization (γ only; β is added to the server's share).
    Bn(BnShape),
}

impl LinearLayer {
    /// Number of input elements.
    pub fn input_len(&self) -> usize {
        match self {
            Self::Conv(s) => s.h * s.w * s.c,
            Self::Fc(s) => s.n_in,
            Self::Bn(s) => s.h * s.w * s.c,
        }
    }

    /// Number of output elements.
    pub fn output_len(&self) -> usize {
        match self {
            Self::Conv(s) => s.out_h() * s.out_w() * s.m,
            Self::Fc(s) => s.n_out,
            Self::Bn(s) => s.h * s.w * s.c,
        }
    }

    /// Number of weights (kernel `[kh][kw][c][m]`, matrix `[n_out][n_in]`, or γ per channel).
    pub fn weight_len(&self) -> usize {
        match self {
            Self::Conv(s) => s.kh * s.kw * s.c * s.m,
            Self::Fc(s) => s.n_in * s.n_out,
            Self::Bn(s) => s.c,
        }
    }
}
