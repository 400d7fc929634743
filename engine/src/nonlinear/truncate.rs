//! Secure truncation by `s` bits with at most 1 ulp error (Cheetah's one-bit-error variant,
//! using a known most significant bit).
//!
//! The input `x` is a signed ℓ-bit value with `|x| < 2^{ℓ−2}` (more precisely
//! `x ∈ [−2^{ℓ−2}, 2^{ℓ−2})`). The server adds the public bias `B = 2^{ℓ−2}`, so
//! `y = x + B ∈ [0, 2^{ℓ−1})` has most significant bit 0. With shares `y = y_s + y_c − w·2^ℓ`:
//!
//! - `y >> s = (y_s >> s) + (y_c >> s) + c − w·2^{ℓ−s}`, where `c ∈ {0, 1}` is the carry out
//!   of the low `s` bits. The protocol drops `c`, hence the error of at most one ulp.
//! - Since `msb(y) = 0`, the wrap bit is `w = msb(y_s) ∨ msb(y_c) = a + b − a·b` for the
//!   parties' own top bits `a`, `b`. The product `a·b` takes one correlated OT over
//!   Z_{2^s}: the server offers `Δ = a`, the client chooses with `b` and learns `r + a·b`
//!   (the server keeps `−r`). Only `w mod 2^s` matters, because it is multiplied by `2^{ℓ−s}`.
//!
//! The output is `floor(x / 2^s) − c`, i.e. the reference [`super::reference::truncate`] or
//! one less: `0 ≤ reference − secure ≤ 1`. Cost: one s-bit correlated OT per element, one
//! round trip (the client sends the IKNP columns, the server the corrections).

use super::fixed::{check_ring, ring_mask};
use crate::channel::Channel;
use crate::ot::{OtError, OtReceiver, OtSender, Role};

/// Additive shares of `floor(x / 2^shift)` (or one less) from shares of a signed `x` with
/// `x ∈ [−2^{ℓ−2}, 2^{ℓ−2})`; `1 ≤ shift ≤ ℓ − 3`. The server is the OT sender.
pub fn truncate(
    role: Role,
    sender: &mut dyn OtSender,
    receiver: &mut dyn OtReceiver,
    ch: &mut dyn Channel,
    shares: &[u64],
    shift: u32,
    ell: u32,
) -> Result<Vec<u64>, OtError> {
    check_ring(ell)?;
    if !(1..=ell - 3).contains(&shift) {
        return Err(OtError::InvalidInput(format!(
            "truncation by {shift} bits in a {ell}-bit ring (needs 1 to {})",
            ell - 3
        )));
    }
    if shares.is_empty() {
        return Ok(Vec::new());
    }
    let mask = ring_mask(ell);
    let bias = 1u64 << (ell - 2);
    let server = role == Role::Server;
    let ys: Vec<u64> = shares
        .iter()
        .map(|&x| if server { x.wrapping_add(bias) } else { x } & mask)
        .collect();
    let top: Vec<bool> = ys.iter().map(|&y| (y >> (ell - 1)) & 1 == 1).collect();
    // Shares of w = a + b − a·b over Z_{2^shift}.
    let wrap: Vec<u64> = match role {
        Role::Server => {
            let deltas: Vec<u64> = top.iter().map(|&a| a as u64).collect();
            let r = sender.send_correlated(ch, &deltas, shift)?;
            top.iter()
                .zip(r)
                .map(|(&a, r)| (a as u64).wrapping_add(r))
                .collect()
        }
        Role::Client => {
            let got = receiver.recv_correlated(ch, &top, shift)?;
            top.iter()
                .zip(got)
                .map(|(&b, g)| (b as u64).wrapping_sub(g))
                .collect()
        }
    };
    let unbias = if server { bias >> shift } else { 0 };
    Ok(ys
        .iter()
        .zip(wrap)
        .map(|(&y, w)| {
            (y >> shift)
                .wrapping_sub(w << (ell - shift))
                .wrapping_sub(unbias)
                & mask
        })
        .collect())
}
