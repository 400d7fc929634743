//! A node's attributes by name, typed: `ints("strides")`, `int("group")`, …, each with
//! a plain-sentence error when the attribute has another type than the op defines.

use super::proto::attribute_proto::AttributeType;
use super::proto::{AttributeProto, NodeProto, TensorProto};

/// The attributes of one node.
pub(crate) struct Attrs<'a> {
    node: &'a NodeProto,
}

impl<'a> Attrs<'a> {
    /// The attributes of `node`.
    pub fn of(node: &'a NodeProto) -> Self {
        Self { node }
    }

    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node
            .attribute
            .iter()
            .find(|a| a.name.as_deref() == Some(name))
    }

    fn typed(&self, name: &str, want: AttributeType) -> Result<Option<&'a AttributeProto>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(a) if a.r#type.is_none() || a.r#type == Some(want as i32) => Ok(Some(a)),
            Some(a) => Err(format!(
                "attribute `{name}` has type {} where {} was expected",
                AttributeType::try_from(a.r#type.unwrap_or(0))
                    .map_or("unknown", |t| t.as_str_name()),
                want.as_str_name()
            )),
        }
    }

    /// An integer attribute.
    pub fn int(&self, name: &str) -> Result<Option<i64>, String> {
        Ok(self.typed(name, AttributeType::Int)?.and_then(|a| a.i))
    }

    /// A list of integers.
    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, String> {
        Ok(self
            .typed(name, AttributeType::Ints)?
            .map(|a| a.ints.clone()))
    }

    /// A float attribute.
    pub fn float(&self, name: &str) -> Result<Option<f64>, String> {
        Ok(self
            .typed(name, AttributeType::Float)?
            .and_then(|a| a.f.map(f64::from)))
    }

    /// A list of floats.
    pub fn floats(&self, name: &str) -> Result<Option<Vec<f64>>, String> {
        Ok(self
            .typed(name, AttributeType::Floats)?
            .map(|a| a.floats.iter().map(|&f| f64::from(f)).collect()))
    }

    /// A string attribute (UTF-8, lossy).
    pub fn string(&self, name: &str) -> Result<Option<String>, String> {
        Ok(self.typed(name, AttributeType::String)?.and_then(|a| {
            a.s.as_deref()
                .map(|s| String::from_utf8_lossy(s).into_owned())
        }))
    }

    /// A tensor attribute (`Constant`'s `value`).
    pub fn tensor(&self, name: &str) -> Result<Option<&'a TensorProto>, String> {
        Ok(self
            .typed(name, AttributeType::Tensor)?
            .and_then(|a| a.t.as_ref()))
    }
}
