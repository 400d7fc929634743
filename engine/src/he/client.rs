//! The client side of an HE linear layer: the secret key, input encryption and answer
//! decryption (protocol in [`super`]).

use fhe::bfv::{Ciphertext, Encoding, Plaintext, SecretKey};
use fhe_math::rq::{traits::TryConvertFrom, Poly, Representation};
use fhe_traits::{
    DeserializeWithContext, FheDecoder, FheDecrypter, FheEncoder, FheEncrypter, Serialize,
};
use rand_chacha::ChaCha20Rng;

use super::error::check_len;
use super::packing::{answer_positions, output_slots, pack_input};
use super::parallel::{in_parts, part_count, part_rng, part_seeds};
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
    /// A client with a fresh secret key drawn from `rng`.
    pub fn new(params: HeParams, mut rng: ChaCha20Rng) -> Self {
        let sk = SecretKey::random(params.bfv(), &mut rng);
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
        let encrypt = |poly: &Vec<u64>, rng: &mut ChaCha20Rng| {
            let pt: Plaintext =
                Plaintext::try_encode(poly.as_slice(), Encoding::poly(), params.bfv())?;
            let ct: Ciphertext = sk.try_encrypt(&pt, rng)?;
            Ok(ct.to_bytes())
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
                .map(|(bytes, positions)| self.decrypt_answer(bytes, positions))
                .collect::<Result<Vec<_>, HeError>>()
        }) {
            values.extend(part?);
        }
        Ok(values)
    }

    /// Decrypt one serialized answer at `positions` (its output ciphertext's
    /// [`answer_positions`]): lets the caller decrypt each answer as it arrives.
    pub fn decrypt_answer(&self, bytes: &[u8], positions: &[usize]) -> Result<Vec<u64>, HeError> {
        let par = self.params.bfv();
        let desc = self.params.desc();
        let level = desc.moduli.len() - desc.final_moduli;
        let ctx = par.context_at_level(level)?;
        let n = self.params.degree();
        let (c0, c1) = bytes
            .split_at_checked(positions.len() * 8 * desc.final_moduli)
            .ok_or_else(|| HeError::Shape("a server answer is truncated".into()))?;
        let mut residues = vec![0u64; desc.final_moduli * n];
        for (k, chunk) in c0.chunks_exact(8).enumerate() {
            let (modulus, at) = (k / positions.len(), positions[k % positions.len()]);
            let value = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
            if value >= desc.moduli[modulus] {
                return Err(HeError::Wire(format!(
                    "an answer's c0 residue {value:#x} is not below its modulus {:#x}",
                    desc.moduli[modulus]
                )));
            }
            residues[modulus * n + at] = value;
        }
        wire::check_poly(c1, desc, desc.final_moduli)?;
        let mut c0 = Poly::try_convert_from(residues, ctx, true, Representation::PowerBasis)?;
        c0.change_representation(Representation::Ntt);
        let c1 = Poly::from_bytes(c1, ctx)?;
        if c1.representation() != &Representation::Ntt {
            return Err(HeError::Shape("a server answer is malformed".into()));
        }
        let pt = self.sk.try_decrypt(&Ciphertext::new(vec![c0, c1], par)?)?;
        let all = Vec::<u64>::try_decode(&pt, Encoding::poly())?;
        Ok(positions.iter().map(|&p| all[p]).collect())
    }

    /// Worst-coefficient noise, in bits, of a serialized ciphertext (tests only).
    #[cfg(test)]
    pub(crate) fn noise_bits(&self, ct: &[u8]) -> Result<usize, HeError> {
        use fhe_traits::DeserializeParametrized;
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
