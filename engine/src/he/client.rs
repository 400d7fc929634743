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
use super::{HeError, HeParams, LinearPlan};

/// The client side: owns the secret key.
pub struct HeClient {
    params: HeParams,
    sk: SecretKey,
    rng: ChaCha20Rng,
}

impl HeClient {
    /// A client with a fresh secret key drawn from `rng`.
    pub fn new(params: HeParams, mut rng: ChaCha20Rng) -> Self {
        let sk = SecretKey::random(params.bfv(), &mut rng);
        Self { params, sk, rng }
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
        pack_input(plan, x_c, self.params.ell())
            .iter()
            .map(|poly| {
                let pt: Plaintext =
                    Plaintext::try_encode(poly.as_slice(), Encoding::poly(), self.params.bfv())?;
                let ct: Ciphertext = self.sk.try_encrypt(&pt, &mut self.rng)?;
                Ok(ct.to_bytes())
            })
            .collect()
    }

    /// Decrypt the server's answer into the client's output share y − r.
    pub fn decrypt_output(&self, plan: &LinearPlan, cts: &[Vec<u8>]) -> Result<Vec<u64>, HeError> {
        let positions = answer_positions(plan);
        let values = self.decrypt_answers(plan, cts)?;
        Ok(output_slots(plan)
            .iter()
            .map(|slot| {
                let at = positions[slot.ct]
                    .binary_search(&slot.coeff)
                    .expect("every output slot is an answer position");
                values[slot.ct][at]
            })
            .collect())
    }

    /// Decrypt every coefficient the answers carry ([`answer_positions`] order): all the
    /// client can see.
    pub fn decrypt_answers(
        &self,
        plan: &LinearPlan,
        cts: &[Vec<u8>],
    ) -> Result<Vec<Vec<u64>>, HeError> {
        check_len("server answer", cts.len(), plan.output_cts)?;
        let par = self.params.bfv();
        let desc = self.params.desc();
        let level = desc.moduli.len() - desc.final_moduli;
        let ctx = par.context_at_level(level)?;
        let n = self.params.degree();
        cts.iter()
            .zip(answer_positions(plan))
            .map(|(bytes, positions)| {
                let (c0, c1) = bytes
                    .split_at_checked(positions.len() * 8 * desc.final_moduli)
                    .ok_or_else(|| HeError::Shape("a server answer is truncated".into()))?;
                let mut residues = vec![0u64; desc.final_moduli * n];
                for (k, chunk) in c0.chunks_exact(8).enumerate() {
                    let (modulus, at) = (k / positions.len(), positions[k % positions.len()]);
                    let value = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
                    residues[modulus * n + at] = value;
                }
                let mut c0 =
                    Poly::try_convert_from(residues, ctx, true, Representation::PowerBasis)?;
                c0.change_representation(Representation::Ntt);
                let c1 = Poly::from_bytes(c1, ctx)?;
                if c1.representation() != &Representation::Ntt {
                    return Err(HeError::Shape("a server answer is malformed".into()));
                }
                let pt = self.sk.try_decrypt(&Ciphertext::new(vec![c0, c1], par)?)?;
                let all = Vec::<u64>::try_decode(&pt, Encoding::poly())?;
                Ok(positions.iter().map(|&p| all[p]).collect())
            })
            .collect()
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
