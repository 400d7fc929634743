//! The client side of an HE linear layer: the secret key, input encryption and answer
//! decryption (protocol in [`super`]).

use fhe::bfv::{Ciphertext, Encoding, Plaintext, SecretKey};
use fhe_math::rq::Representation;
use fhe_traits::{
    DeserializeParametrized, FheDecoder, FheDecrypter, FheEncoder, FheEncrypter, Serialize,
};
use rand_chacha::ChaCha20Rng;

use super::compact;
use super::error::check_len;
use super::packing::{answer_positions, output_slots, pack_input};
use super::parallel::{in_parts, part_count, part_rng, part_seeds};
use super::params::{cbd, SECRET_L1_MAX};
use super::wire;
use super::{HeError, HeParams, LinearPlan};

/// The client side: owns the secret key.
pub struct HeClient {
    params: HeParams,
    sk: SecretKey,
    rng: ChaCha20Rng,
    /// Worker threads for a layer's ciphertexts (1: the calling thread only).
    threads: usize,
}

impl HeClient {
    /// A client with a fresh secret key drawn from `rng`: CBD(10) coefficients, as the
    /// `fhe` crate draws them, redrawn in the (never seen) case that their L1 norm exceeds
    /// [`SECRET_L1_MAX`]·N, the bound the wire rounding relies on.
    pub fn new(params: HeParams, mut rng: ChaCha20Rng) -> Self {
        let sk = bounded_secret_key(&params, &mut rng);
        Self {
            params,
            sk,
            rng,
            threads: 1,
        }
    }

    /// The same client with `threads` workers per layer (at least 1; 1, the default, runs
    /// on the calling thread). Each worker encrypts its ciphertexts with its own RNG seeded
    /// from the client's (the `fhe` crate also draws each encryption's `a` from the OS).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Worker threads per layer.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The serialized public key the server needs once per session: a fresh encryption of
    /// zero under the secret key.
    pub fn public_key(&mut self) -> Result<Vec<u8>, HeError> {
        let zero = Plaintext::zero(Encoding::poly(), self.params.bfv())?;
        let ct: Ciphertext = self.sk.try_encrypt(&zero, &mut self.rng)?;
        Ok(ct.to_bytes())
    }

    /// Pack and encrypt the client's input share; one serialized ciphertext per
    /// [`LinearPlan::input_cts`].
    pub fn encrypt_input(
        &mut self,
        plan: &LinearPlan,
        x_c: &[u64],
    ) -> Result<Vec<Vec<u8>>, HeError> {
        check_len("client input share", x_c.len(), plan.layer.input_len())?;
        let polys = pack_input(plan, x_c, self.params.ell());
        let (params, sk) = (&self.params, &self.sk);
        let drop = plan.wire.upload_drop;
        let encrypt = |poly: &Vec<u64>, rng: &mut ChaCha20Rng| {
            let pt: Plaintext =
                Plaintext::try_encode(poly.as_slice(), Encoding::poly(), params.bfv())?;
            let ct: Ciphertext = sk.try_encrypt(&pt, rng)?;
            let seed = wire::seed_of(&ct.to_bytes())?;
            let mut c0 = ct[0].clone();
            c0.change_representation(Representation::PowerBasis);
            Ok(compact::encode_upload(params.desc(), drop, &c0, &seed))
        };
        let parts = part_count(polys.len(), self.threads);
        if parts == 1 {
            return polys
                .iter()
                .map(|poly| encrypt(poly, &mut self.rng))
                .collect();
        }
        let seeds = part_seeds(&mut self.rng, parts);
        let mut cts = Vec::with_capacity(polys.len());
        for part in in_parts(polys.len(), parts, |index, range| {
            let mut rng = part_rng(seeds[index]);
            polys[range]
                .iter()
                .map(|poly| encrypt(poly, &mut rng))
                .collect::<Result<Vec<_>, HeError>>()
        }) {
            cts.extend(part?);
        }
        Ok(cts)
    }

    /// Decrypt the server's answer into the client's output share y − r.
    pub fn decrypt_output(&self, plan: &LinearPlan, cts: &[Vec<u8>]) -> Result<Vec<u64>, HeError> {
        let values = self.decrypt_answers(plan, cts)?;
        Ok(output_share(plan, &values))
    }

    /// Decrypt every coefficient the answers carry ([`answer_positions`] order): all the
    /// client can see.
    pub fn decrypt_answers(
        &self,
        plan: &LinearPlan,
        cts: &[Vec<u8>],
    ) -> Result<Vec<Vec<u64>>, HeError> {
        check_len("server answer", cts.len(), plan.output_cts)?;
        let positions = answer_positions(plan);
        let parts = part_count(cts.len(), self.threads);
        let mut values = Vec::with_capacity(cts.len());
        for part in in_parts(cts.len(), parts, |_, range| {
            cts[range.clone()]
                .iter()
                .zip(&positions[range])
                .map(|(bytes, positions)| self.decrypt_answer(plan, bytes, positions))
                .collect::<Result<Vec<_>, HeError>>()
        }) {
            values.extend(part?);
        }
        Ok(values)
    }

    /// Decrypt one serialized answer of `plan` at `positions` (its output ciphertext's
    /// [`answer_positions`]): lets the caller decrypt each answer as it arrives.
    pub fn decrypt_answer(
        &self,
        plan: &LinearPlan,
        bytes: &[u8],
        positions: &[usize],
    ) -> Result<Vec<u64>, HeError> {
        let par = self.params.bfv();
        let desc = self.params.desc();
        let level = desc.moduli.len() - desc.final_moduli;
        let ctx = par.context_at_level(level)?;
        let (c0, c1) = compact::decode_answer(desc, &plan.wire, bytes, positions, ctx)?;
        let pt = self.sk.try_decrypt(&Ciphertext::new(vec![c0, c1], par)?)?;
        let all = Vec::<u64>::try_decode(&pt, Encoding::poly())?;
        Ok(positions.iter().map(|&p| all[p]).collect())
    }

    /// Worst-coefficient noise, in bits, of a serialized ciphertext (tests only).
    #[cfg(test)]
    pub(crate) fn noise_bits(&self, ct: &[u8]) -> Result<usize, HeError> {
        let ct = Ciphertext::from_bytes(ct, self.params.bfv())?;
        // SAFETY: `measure_noise` runs in variable time; fine for the key owner's tests.
        #[allow(unsafe_code)]
        let bits = unsafe { self.sk.measure_noise(&ct)? };
        Ok(bits)
    }
}

/// The client's output share in tensor order from the decrypted values of every answer
/// (indexed by output ciphertext, each in [`answer_positions`] order).
pub fn output_share(plan: &LinearPlan, values: &[Vec<u64>]) -> Vec<u64> {
    let positions = answer_positions(plan);
    output_slots(plan)
        .iter()
        .map(|slot| {
            let at = positions[slot.ct]
                .binary_search(&slot.coeff)
                .expect("every output slot is an answer position");
            values[slot.ct][at]
        })
        .collect()
}

/// A secret key of CBD(10) coefficients with L1 norm at most [`SECRET_L1_MAX`]·N. The crate
/// builds keys from coefficients only through its serialized form (a protobuf
/// `repeated sint64 coeffs = 1`, packed), so the coefficients are encoded that way.
fn bounded_secret_key(params: &HeParams, rng: &mut ChaCha20Rng) -> SecretKey {
    let n = params.degree();
    let mut coeffs = loop {
        let coeffs = cbd(rng, n);
        let norm: u64 = coeffs.iter().map(|c| c.unsigned_abs()).sum();
        if norm <= (SECRET_L1_MAX * n) as u64 {
            break coeffs;
        }
    };
    let mut payload = Vec::with_capacity(2 * n);
    for &c in &coeffs {
        varint(&mut payload, ((c << 1) ^ (c >> 63)) as u64);
    }
    coeffs.fill(0);
    let mut proto = vec![0x0a];
    varint(&mut proto, payload.len() as u64);
    proto.extend_from_slice(&payload);
    payload.fill(0);
    let sk = SecretKey::from_bytes(&proto, params.bfv())
        .expect("a well-formed key of the parameters' degree");
    proto.fill(0);
    sk
}

/// Appends `v` as a protobuf varint.
fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
