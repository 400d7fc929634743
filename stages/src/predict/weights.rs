//! A candle model's weights as safetensors bytes, by parameter name, for both the
//! [`super::mlp`] and the [`super::rnn`]: each model lists its parameters' names and shapes
//! in one order, and these functions write and read exactly that list.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};

use super::error::{Model, ModelError};

/// A parameter's name in the safetensors file and its shape.
pub(crate) type Parameter = (String, Vec<usize>);

/// `tensors`, named in `parameters` order, as safetensors bytes.
pub(crate) fn to_safetensors(
    model: Model,
    parameters: Vec<Parameter>,
    tensors: &[Tensor],
) -> Result<Vec<u8>, ModelError> {
    let named: HashMap<String, Tensor> = parameters
        .into_iter()
        .map(|(name, _)| name)
        .zip(tensors.iter().cloned())
        .collect();
    let write = |source| ModelError::Write { model, source };
    // candle serialises to a file only; stage it in a private temporary file.
    let file = tempfile::NamedTempFile::new().map_err(write)?;
    candle_core::safetensors::save(&named, file.path())?;
    std::fs::read(file.path()).map_err(write)
}

/// The tensors of `parameters`, in their order and as f32, from safetensors bytes that must
/// hold exactly those names with those shapes.
pub(crate) fn from_safetensors(
    model: Model,
    parameters: Vec<Parameter>,
    bytes: &[u8],
) -> Result<Vec<Tensor>, ModelError> {
    let mut stored = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
        .map_err(|source| ModelError::Read { model, source })?;
    let weights = |reason| ModelError::Weights { model, reason };
    let mut tensors = Vec::with_capacity(parameters.len());
    for (name, shape) in parameters {
        let tensor = stored
            .remove(&name)
            .ok_or_else(|| weights(format!("no tensor `{name}`")))?;
        if tensor.dims() != shape {
            return Err(weights(format!(
                "`{name}` has shape {:?}, the spec needs {shape:?}",
                tensor.dims()
            )));
        }
        tensors.push(tensor.to_dtype(DType::F32)?);
    }
    if let Some(name) = stored.keys().min() {
        return Err(weights(format!("unexpected tensor `{name}` for the spec")));
    }
    Ok(tensors)
}
