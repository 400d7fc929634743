//! One HE linear layer (conv, fc, batch_norm) between the parties, over tagged frames: the
//! client's ciphertexts, the server's answers, and the checks that keep the peer's bytes
//! from reaching the `fhe` crates unchecked.

use crate::he::{
    answer_order, answer_positions, output_share, HeClient, HeError, HeParamsDesc, HeServer,
    LinearPlan,
};
use crate::nonlinear::fixed::ring_mask;

use super::error::StepError;
use super::frame::TaggedChannel;
use super::weights::LayerParams;
use crate::channel::Channel;

/// This party's half of the HE protocol.
pub(crate) enum HeSide {
    /// The server: holds the client's public key.
    Server(HeServer),
    /// The client: holds the secret key.
    Client(HeClient),
}

/// The error and its causes on one line.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// One HE linear layer: shares of `W·x` at scale 2s, with the bias (β) added by the server
/// at scale 2s.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    he: &mut HeSide,
    ch: &mut TaggedChannel<'_>,
    desc: &HeParamsDesc,
    plan: &LinearPlan,
    x: &[u64],
    params: Option<&LayerParams>,
    scale: u32,
    ell: u32,
) -> Result<Vec<u64>, StepError> {
    match he {
        HeSide::Client(client) => {
            let cts = client.encrypt_input(plan, x).map_err(StepError::He)?;
            send_frames(ch, &cts)?;
            let largest = plan.answer_bytes(desc, plan.layer.output_len().min(desc.degree));
            let order = answer_order(plan);
            let positions = answer_positions(plan);
            expect_count(ch, "answer", plan.output_cts)?;
            let mut values = vec![Vec::new(); plan.output_cts];
            if client.threads() > 1 {
                // Several workers decrypt the whole batch at once.
                let mut answers = vec![Vec::new(); plan.output_cts];
                for &output in &order {
                    answers[output] = recv_frame(ch, largest)?;
                }
                return guarded("answer", || client.decrypt_output(plan, &answers));
            }
            // One thread: each answer is decrypted as it arrives, while the server computes
            // the next.
            for &output in &order {
                let bytes = recv_frame(ch, largest)?;
                values[output] = guarded("answer", || {
                    client.decrypt_answer(plan, &bytes, &positions[output])
                })?;
            }
            Ok(output_share(plan, &values))
        }
        HeSide::Server(server) => {
            let params = params.expect("the server holds weights");
            let cts = recv_frames(ch, "ciphertext", plan.input_cts, plan.upload_bytes(desc))?;
            let count = (plan.output_cts as u32).to_le_bytes();
            ch.send(&count).map_err(|e| ch.step_error(e))?;
            // Each answer leaves as soon as it is computed (flushed, so the client decrypts
            // it while the next one is computed).
            let share = server
                .evaluate_streaming(plan, &params.weights, x, &cts, |_, bytes| {
                    ch.send(&bytes).map_err(|e| Sent(ch.step_error(e)))?;
                    ch.flush().map_err(|e| Sent(ch.step_error(e)))
                })
                .map_err(|e| match e {
                    Sent(err) => err,
                    Evaluated(err) => malformed_he("ciphertext", err),
                })?;
            let mask = ring_mask(ell);
            let mut y = share;
            if !params.bias.is_empty() {
                let n = params.bias.len();
                for (i, v) in y.iter_mut().enumerate() {
                    *v = v.wrapping_add(params.bias[i % n] << scale) & mask;
                }
            }
            Ok(y)
        }
    }
}

/// Runs an HE step on the peer's bytes, its errors mapped by [`malformed_he`]. No panic is
/// caught: [`crate::he`] checks every ciphertext from the peer (structure, degree,
/// representation, every residue below its modulus) before the `fhe` crates see it.
pub(crate) fn guarded<T>(
    what: &'static str,
    step: impl FnOnce() -> Result<T, HeError>,
) -> Result<T, StepError> {
    step().map_err(|e| malformed_he(what, e))
}

/// Why a streamed evaluation stopped: sending an answer failed, or the evaluation did.
enum StreamError {
    Sent(StepError),
    Evaluated(HeError),
}
use StreamError::{Evaluated, Sent};

impl From<HeError> for StreamError {
    fn from(err: HeError) -> Self {
        Evaluated(err)
    }
}

fn malformed_he(what: &'static str, err: HeError) -> StepError {
    match err {
        HeError::Fhe(_) | HeError::Math(_) | HeError::Shape(_) | HeError::Wire(_) => {
            StepError::Malformed {
                what,
                detail: error_chain(&err),
            }
        }
        other => StepError::He(other),
    }
}

/// Sends a count frame, then one frame per item.
fn send_frames(ch: &mut TaggedChannel<'_>, items: &[Vec<u8>]) -> Result<(), StepError> {
    let count = (items.len() as u32).to_le_bytes();
    ch.send(&count).map_err(|e| ch.step_error(e))?;
    for item in items {
        ch.send(item).map_err(|e| ch.step_error(e))?;
    }
    Ok(())
}

/// Receives a count frame, checks it, then the items, each refused on its header when it
/// is larger than `largest` bytes (the plan's bound for one ciphertext).
fn recv_frames(
    ch: &mut TaggedChannel<'_>,
    what: &'static str,
    expected: usize,
    largest: u64,
) -> Result<Vec<Vec<u8>>, StepError> {
    expect_count(ch, what, expected)?;
    (0..expected).map(|_| recv_frame(ch, largest)).collect()
}

/// Receives the count frame that opens a batch of ciphertexts and checks it against the
/// plan.
fn expect_count(
    ch: &mut TaggedChannel<'_>,
    what: &'static str,
    expected: usize,
) -> Result<(), StepError> {
    let count = ch.recv_limited(4).map_err(|e| ch.step_error(e))?;
    let count: [u8; 4] = count
        .as_slice()
        .try_into()
        .map_err(|_| StepError::Malformed {
            what,
            detail: format!("a count frame of {} bytes, expected 4", count.len()),
        })?;
    let count = u32::from_le_bytes(count) as usize;
    if count != expected {
        return Err(StepError::Malformed {
            what,
            detail: format!("the peer announced {count} ciphertexts, the plan has {expected}"),
        });
    }
    Ok(())
}

/// Receives one ciphertext frame of at most `largest` bytes.
fn recv_frame(ch: &mut TaggedChannel<'_>, largest: u64) -> Result<Vec<u8>, StepError> {
    let largest = usize::try_from(largest).unwrap_or(usize::MAX);
    ch.recv_limited(largest).map_err(|e| ch.step_error(e))
}
