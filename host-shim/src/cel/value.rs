//! CEL values and their serialization as Envoy hands them to a guest (`serializeValue` in Envoy's
//! `source/extensions/common/wasm/context.cc`).

use crate::pairs;

/// The value of an evaluated expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// An attribute's value as the host holds it: already in Envoy's property encoding (strings as
    /// UTF-8, ints and timestamps as int64 little-endian), which is also what `serializeValue`
    /// makes of it, so it passes through untouched.
    Property(Vec<u8>),
    /// A string literal.
    String(String),
    /// An int literal.
    Int(i64),
    /// A bool (`has()`, or a literal).
    Bool(bool),
    /// A list.
    List(Vec<Value>),
}

impl Value {
    /// The bytes Envoy answers `expr_evaluate` with: a string as its bytes, an int as 8 bytes
    /// little-endian, a bool as one byte, and a list in the header-pairs format with one entry per
    /// element, the element's own serialization as the name and an empty value.
    pub fn serialize(&self) -> Vec<u8> {
        match self {
            Self::Property(bytes) => bytes.clone(),
            Self::String(s) => s.as_bytes().to_vec(),
            Self::Int(i) => i.to_le_bytes().to_vec(),
            Self::Bool(b) => vec![u8::from(*b)],
            Self::List(elements) => {
                let entries: Vec<(Vec<u8>, &[u8])> =
                    elements.iter().map(|e| (e.serialize(), &[][..])).collect();
                pairs::encode(&entries)
            }
        }
    }

    /// The value's CEL type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Property(_) => "attribute",
            Self::String(_) => "string",
            Self::Int(_) => "int",
            Self::Bool(_) => "bool",
            Self::List(_) => "list",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_serialize_in_the_property_encoding() {
        assert_eq!(Value::String("HTTP/1.1".into()).serialize(), b"HTTP/1.1");
        assert_eq!(Value::Int(-2).serialize(), (-2_i64).to_le_bytes());
        assert_eq!(Value::Bool(true).serialize(), [1]);
        assert_eq!(Value::Property(vec![7, 0]).serialize(), [7, 0]);
        assert_eq!(Value::String(String::new()).serialize(), b"");
    }

    #[test]
    fn a_list_is_header_pairs_with_each_element_as_a_name() {
        let list = Value::List(vec![
            Value::Int(200),
            Value::String("ab".into()),
            Value::String(String::new()),
        ]);
        #[rustfmt::skip]
        let want: Vec<u8> = [
            &3u32.to_le_bytes()[..],
            &8u32.to_le_bytes(), &0u32.to_le_bytes(),
            &2u32.to_le_bytes(), &0u32.to_le_bytes(),
            &0u32.to_le_bytes(), &0u32.to_le_bytes(),
            &200_i64.to_le_bytes(), &[0, 0],
            b"ab", &[0, 0],
            &[0, 0],
        ]
        .concat();
        assert_eq!(list.serialize(), want);
        let decoded = pairs::decode(&want).unwrap();
        assert_eq!(decoded[1], (b"ab".to_vec(), Vec::new()));
        assert_eq!(Value::List(vec![]).serialize(), 0u32.to_le_bytes());
    }

    #[test]
    fn a_nested_list_is_serialized_inside_its_entry() {
        let inner = Value::List(vec![Value::Int(1)]);
        let outer = Value::List(vec![inner.clone()]);
        let decoded = pairs::decode(&outer.serialize()).unwrap();
        assert_eq!(decoded, vec![(inner.serialize(), Vec::new())]);
    }
}
