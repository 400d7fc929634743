//! Constant tensors of a model (initializers and `Constant` nodes) decoded into plain
//! vectors: reals for weights, integers for shapes. Data may sit in the typed fields, in
//! `raw_data` (little-endian) or in an external file beside the model.

use std::path::Path;

use super::proto::tensor_proto::{DataLocation, DataType};
use super::proto::TensorProto;

/// A decoded constant tensor.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tensor {
    /// Dimensions (empty for a scalar).
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub values: Values,
}

/// The values of a [`Tensor`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Values {
    /// Floating point (float, double, float16 widened).
    Real(Vec<f64>),
    /// Integers (int64, int32).
    Int(Vec<i64>),
}

impl Tensor {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    /// The values as reals, if the tensor holds reals.
    pub fn reals(&self) -> Option<&[f64]> {
        match &self.values {
            Values::Real(v) => Some(v),
            Values::Int(_) => None,
        }
    }

    /// The values as integers, if the tensor holds integers.
    pub fn ints(&self) -> Option<&[i64]> {
        match &self.values {
            Values::Int(v) => Some(v),
            Values::Real(_) => None,
        }
    }
}

/// Decodes `tensor`; `dir` is the model's folder, where external data files live. The
/// error is a sentence saying what is wrong with the tensor.
pub(crate) fn decode(tensor: &TensorProto, dir: Option<&Path>) -> Result<Tensor, String> {
    let dims = tensor
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("has a negative dimension {d}")))
        .collect::<Result<Vec<_>, _>>()?;
    let count: usize = dims.iter().product();
    let external;
    let raw: Option<&[u8]> = if tensor.data_location == Some(DataLocation::External as i32) {
        external = read_external(tensor, dir)?;
        Some(&external)
    } else {
        tensor.raw_data.as_deref()
    };
    let data_type = tensor.data_type.unwrap_or(0);
    let values = match DataType::try_from(data_type) {
        Ok(DataType::Float) => Values::Real(match raw {
            Some(bytes) => le_chunks::<4>(bytes, count)?
                .map(|b| f64::from(f32::from_le_bytes(b)))
                .collect(),
            None => tensor.float_data.iter().map(|&v| f64::from(v)).collect(),
        }),
        Ok(DataType::Double) => Values::Real(match raw {
            Some(bytes) => le_chunks::<8>(bytes, count)?
                .map(f64::from_le_bytes)
                .collect(),
            None => tensor.double_data.clone(),
        }),
        Ok(DataType::Float16) => Values::Real(match raw {
            Some(bytes) => le_chunks::<2>(bytes, count)?
                .map(|b| half_to_f64(u16::from_le_bytes(b)))
                .collect(),
            // float16 values travel in int32_data, one per element, as raw bits.
            None => tensor
                .int32_data
                .iter()
                .map(|&v| half_to_f64(v as u16))
                .collect(),
        }),
        Ok(DataType::Int64) => Values::Int(match raw {
            Some(bytes) => le_chunks::<8>(bytes, count)?
                .map(i64::from_le_bytes)
                .collect(),
            None => tensor.int64_data.clone(),
        }),
        Ok(DataType::Int32) => Values::Int(match raw {
            Some(bytes) => le_chunks::<4>(bytes, count)?
                .map(|b| i64::from(i32::from_le_bytes(b)))
                .collect(),
            None => tensor.int32_data.iter().map(|&v| i64::from(v)).collect(),
        }),
        Ok(other) => {
            return Err(format!(
                "has data type {} (only float, double, float16, int64 and int32 are read)",
                other.as_str_name()
            ))
        }
        Err(_) => return Err(format!("has an unknown data type {data_type}")),
    };
    let decoded = Tensor { dims, values };
    let len = match &decoded.values {
        Values::Real(v) => v.len(),
        Values::Int(v) => v.len(),
    };
    if len != count {
        return Err(format!(
            "holds {len} values for dimensions {:?} ({count} values)",
            decoded.dims
        ));
    }
    Ok(decoded)
}

/// Splits `bytes` into `count` little-endian chunks of `N` bytes.
fn le_chunks<const N: usize>(
    bytes: &[u8],
    count: usize,
) -> Result<impl Iterator<Item = [u8; N]> + '_, String> {
    if bytes.len() != count * N {
        return Err(format!(
            "has {} bytes of raw data for {count} values of {N} bytes",
            bytes.len()
        ));
    }
    Ok(bytes
        .chunks_exact(N)
        .map(|c| c.try_into().expect("chunks_exact yields N bytes")))
}

/// Reads a tensor stored outside the model (`location`, `offset`, `length` entries).
fn read_external(tensor: &TensorProto, dir: Option<&Path>) -> Result<Vec<u8>, String> {
    let entry = |key: &str| {
        tensor
            .external_data
            .iter()
            .find(|e| e.key.as_deref() == Some(key))
            .and_then(|e| e.value.clone())
    };
    let location = entry("location").ok_or("is external but names no location")?;
    let dir = dir.ok_or("is external, but the model was not read from a file")?;
    let path = dir.join(&location);
    let bytes =
        std::fs::read(&path).map_err(|e| format!("is in {} (unreadable: {e})", path.display()))?;
    let number = |key: &str| -> Result<Option<usize>, String> {
        entry(key)
            .map(|v| {
                v.parse()
                    .map_err(|_| format!("has a bad external-data {key} `{v}`"))
            })
            .transpose()
    };
    let offset = number("offset")?.unwrap_or(0);
    let end = match number("length")? {
        Some(length) => offset + length,
        None => bytes.len(),
    };
    bytes.get(offset..end).map(<[u8]>::to_vec).ok_or_else(|| {
        format!(
            "is in {} at bytes {offset}..{end}, past its end ({} bytes)",
            path.display(),
            bytes.len()
        )
    })
}

/// IEEE 754 half precision to f64.
fn half_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let mantissa = f64::from(bits & 0x3ff);
    sign * match exponent {
        0 => mantissa * 2f64.powi(-24),
        31 if mantissa == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + mantissa / 1024.0) * 2f64.powi(e - 15),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(data_type: DataType, dims: &[i64]) -> TensorProto {
        TensorProto {
            dims: dims.to_vec(),
            data_type: Some(data_type as i32),
            ..TensorProto::default()
        }
    }

    #[test]
    fn reads_typed_fields_and_raw_data_alike() {
        let mut typed = tensor(DataType::Float, &[2, 2]);
        typed.float_data = vec![1.0, -2.5, 0.25, 3.0];
        let mut raw = tensor(DataType::Float, &[2, 2]);
        raw.raw_data = Some(
            typed
                .float_data
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        );
        let a = decode(&typed, None).unwrap();
        assert_eq!(a, decode(&raw, None).unwrap());
        assert_eq!(a.reals().unwrap(), [1.0, -2.5, 0.25, 3.0]);
        assert_eq!(a.len(), 4);

        let mut ints = tensor(DataType::Int64, &[2]);
        ints.raw_data = Some([1i64, -1].iter().flat_map(|v| v.to_le_bytes()).collect());
        assert_eq!(decode(&ints, None).unwrap().ints().unwrap(), [1, -1]);
    }

    #[test]
    fn reads_half_precision_and_external_data() {
        assert_eq!(half_to_f64(0x3c00), 1.0);
        assert_eq!(half_to_f64(0xc000), -2.0);
        assert_eq!(half_to_f64(0x0001), 2f64.powi(-24));

        let dir = tempfile::tempdir().unwrap();
        let bytes: Vec<u8> = [0.5f32, 1.5, 2.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        std::fs::write(dir.path().join("w.bin"), [vec![0u8; 8], bytes].concat()).unwrap();
        let mut external = tensor(DataType::Float, &[3]);
        external.data_location = Some(DataLocation::External as i32);
        for (key, value) in [("location", "w.bin"), ("offset", "8"), ("length", "12")] {
            external
                .external_data
                .push(super::super::proto::StringStringEntryProto {
                    key: Some(key.into()),
                    value: Some(value.into()),
                });
        }
        let t = decode(&external, Some(dir.path())).unwrap();
        assert_eq!(t.reals().unwrap(), [0.5, 1.5, 2.5]);
        assert!(decode(&external, None)
            .unwrap_err()
            .contains("not read from a file"));
    }

    #[test]
    fn says_what_is_wrong() {
        let mut short = tensor(DataType::Float, &[3]);
        short.float_data = vec![1.0];
        assert_eq!(
            decode(&short, None).unwrap_err(),
            "holds 1 values for dimensions [3] (3 values)"
        );
        let strings = tensor(DataType::String, &[1]);
        assert!(decode(&strings, None).unwrap_err().contains("STRING"));
        let mut raw = tensor(DataType::Float, &[2]);
        raw.raw_data = Some(vec![0; 7]);
        assert!(decode(&raw, None).unwrap_err().contains("7 bytes"));
    }
}
