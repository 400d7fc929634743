//! The two-party runtime: a server holding a network's weights and a client holding an
//! input run the whole network over one TCP connection, and each measures every layer.
//!
//! - [`EngineConfig`], [`WeightSource`], [`InputSource`]: what a party runs with (`config.rs`);
//! - [`Weights`], [`Input`]: seeded random values or JSON files (`weights.rs`);
//! - [`ExecPlan`]: the validated graph with HE packings and protocol counts (`plan.rs`);
//! - `handshake.rs`: version, network digest, ℓ, scale and HE parameters checked first;
//! - `frame.rs`: every later frame tagged with its layer, so a desync is an error;
//! - `session.rs`: setup (HE public key, base OTs) and the walk over the layers;
//! - `linear.rs`: one HE linear layer over tagged frames, peer bytes checked;
//! - [`LayerRecord`], [`RunRecord`], [`RunReport`]: the measurements as JSON lines
//!   (`record.rs`);
//! - [`reference`](mod@reference): the plaintext fixed-point reference and its error bound.
//!
//! Per layer: conv, fc and batch_norm by HE (the client encrypts its share, the server
//! evaluates with its share and weights and keeps a mask, the client decrypts; shares at
//! scale 2s), the server adds bias/β at scale 2s, then a secure truncation back to scale s;
//! ReLU by [`crate::ot::relu`]; pools and poly_act by [`crate::nonlinear`]; add, concat and
//! flatten locally. At the end the server sends its output share and the client
//! reconstructs the output.

mod config;
mod error;
mod flooding;
mod frame;
mod handshake;
mod linear;
mod plan;
mod record;
pub mod reference;
mod session;
mod weights;

#[cfg(test)]
mod tests;

use std::io;
use std::net::{TcpListener, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::channel::{ChannelConfig, ChannelError, TcpChannel};
use crate::network::Network;

pub use config::{EngineConfig, InputSource, Party, WeightSource};
pub use error::{Result, RuntimeError, StepError};
pub use flooding::{he_params_for_inference_margin, revealed_coefficients, FloodingSummary};
pub use handshake::{Hello, PROTOCOL_VERSION};
pub use plan::{
    linear_layer, planned_pool_growth, planned_rounds, ExecPlan, FrameLimits, PlannedRounds,
};
pub use record::{
    thread_cpu_ns, HeSummary, LayerRecord, Measured, ProtocolCounts, RunRecord, RunReport,
    RECORD_VERSION,
};
pub use session::{run_on_channel, Secret};
pub use weights::{param_lens, Input, LayerParams, Weights};

/// The channel settings of a configuration: its timeout on every read and write.
pub fn channel_config(config: &EngineConfig) -> ChannelConfig {
    ChannelConfig {
        max_frame_len: config.max_frame_len,
        read_timeout: Some(config.timeout),
        write_timeout: Some(config.timeout),
        ..ChannelConfig::default()
    }
}

impl Weights {
    /// Loads the weights a [`WeightSource`] names, encoded at the configuration's scale.
    pub fn load(source: &WeightSource, network: &Network, config: &EngineConfig) -> Result<Self> {
        let shapes = network.validate()?;
        match source {
            WeightSource::Seed(seed) => Ok(Weights::random(
                network,
                &shapes,
                *seed,
                config.scale,
                config.ell,
            )),
            WeightSource::File(path) => {
                Weights::read_file(path, network, &shapes, config.scale, config.ell)
            }
        }
    }
}

impl Input {
    /// Loads the input an [`InputSource`] names, encoded at the configuration's scale.
    pub fn load(source: &InputSource, network: &Network, config: &EngineConfig) -> Result<Self> {
        match source {
            InputSource::Seed(seed) => Ok(Input::random(
                network.input,
                *seed,
                config.scale,
                config.ell,
            )),
            InputSource::File(path) => {
                Input::read_file(path, network.input, config.scale, config.ell)
            }
        }
    }
}

/// Runs the server: loads the weights `weights` names, then accepts one client on
/// `listener` (waiting at most the timeout) and serves one inference of `network`.
pub fn run_server(
    network: &Network,
    weights: &WeightSource,
    config: &EngineConfig,
    listener: &TcpListener,
) -> Result<RunReport> {
    config.check()?;
    let weights = Weights::load(weights, network, config)?;
    serve(network, &weights, config, listener)
}

/// Runs the server with its weights already loaded: accepts one client on `listener`
/// (waiting at most the timeout) and serves one inference of `network`. A deployed server
/// loads its weights before it listens ([`Weights::load`]), so nothing of that lands in a
/// client's setup time.
pub fn serve(
    network: &Network,
    weights: &Weights,
    config: &EngineConfig,
    listener: &TcpListener,
) -> Result<RunReport> {
    config.check()?;
    let mut ch = accept(listener, config).map_err(|source| RuntimeError::Connect {
        phase: "accept",
        source,
    })?;
    run_on_channel(&mut ch, network, config, Secret::Weights(weights))
}

/// Accepts one peer, waiting at most the configuration's timeout.
fn accept(listener: &TcpListener, config: &EngineConfig) -> Result<TcpChannel, ChannelError> {
    let deadline = Instant::now() + config.timeout;
    listener.set_nonblocking(true)?;
    let accepted = loop {
        match listener.accept() {
            Ok((stream, _)) => break Ok(stream),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    break Err(ChannelError::Timeout);
                }
                // Short: the wait after the client connects counts against the run.
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => break Err(err.into()),
        }
    };
    listener.set_nonblocking(false)?;
    let stream = accepted?;
    stream.set_nonblocking(false)?;
    TcpChannel::new(stream, channel_config(config))
}

/// Runs the client: connects to the server at `addr` (retrying until the timeout) and runs
/// one inference of `network` on the input `input` names; the report carries the output.
pub fn run_client(
    network: &Network,
    input: &InputSource,
    config: &EngineConfig,
    addr: impl ToSocketAddrs + Clone,
) -> Result<RunReport> {
    config.check()?;
    let input = Input::load(input, network, config)?;
    let mut ch = TcpChannel::connect_with_retry(addr, channel_config(config), config.timeout)
        .map_err(|source| RuntimeError::Connect {
            phase: "connect",
            source,
        })?;
    run_on_channel(&mut ch, network, config, Secret::Input(&input.values))
}
