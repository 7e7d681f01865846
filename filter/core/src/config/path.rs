//! Naming the field behind a serde error without a path-tracking deserializer.
//!
//! serde_json's errors from a `Value` carry no location. Every shape field has a default, so any
//! sub-tree of the document is itself a valid document: when the whole fails, keeping one key (or
//! one array element) at a time finds the smallest sub-tree that still fails, and its path is the
//! field to blame. This runs only on the error path and costs no dependency (the .wasm has a size
//! budget).

use super::error::{ConfigError, ROOT};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// One step into the document.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// Deserialize `T` from `doc`, turning a failure into a [`ConfigError`] naming the field.
pub fn deserialize<T: DeserializeOwned>(doc: &Value) -> Result<T, ConfigError> {
    match T::deserialize(doc) {
        Ok(t) => Ok(t),
        Err(e) => Err(locate::<T>(doc, e)),
    }
}

/// Narrow `doc`, which fails with `err`, to the innermost failing field.
fn locate<T: DeserializeOwned>(doc: &Value, err: serde_json::Error) -> ConfigError {
    let mut path: Vec<Step> = Vec::new();
    let mut here = doc;
    let mut err = err;
    loop {
        // Descend only where the container itself is acceptable: for `{"sampler": ["x"]}` the
        // array is the mistake, not its element.
        let empty = match here {
            Value::Object(_) => Value::Object(Map::new()),
            Value::Array(_) => Value::Array(Vec::new()),
            _ => break,
        };
        if T::deserialize(&wrap(&path, empty)).is_err() {
            break;
        }
        let mut narrower = None;
        match here {
            Value::Object(map) => {
                for (k, v) in map {
                    path.push(Step::Key(k.clone()));
                    if let Err(e) = T::deserialize(&wrap(&path, v.clone())) {
                        narrower = Some((v, e));
                        break;
                    }
                    path.pop();
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    path.push(Step::Index(i));
                    if let Err(e) = T::deserialize(&wrap(&path, v.clone())) {
                        narrower = Some((v, e));
                        break;
                    }
                    path.pop();
                }
            }
            _ => {}
        }
        match narrower {
            Some((v, e)) => {
                here = v;
                err = e;
            }
            None => break,
        }
    }
    let message = err.to_string().replace('`', "\"");
    // `{"batch":{"max_queue":1}}` narrows to `batch.max_queue`, a key that does not exist; the
    // object holding it is the field the user has to fix.
    if message.starts_with("unknown field") {
        path.pop();
    }
    ConfigError::new(render(&path), message)
}

/// A document holding only `leaf` at `path`: objects with one key, arrays with one element.
fn wrap(path: &[Step], leaf: Value) -> Value {
    path.iter().rev().fold(leaf, |inner, step| match step {
        Step::Key(k) => {
            let mut m = Map::new();
            m.insert(k.clone(), inner);
            Value::Object(m)
        }
        Step::Index(_) => Value::Array(vec![inner]),
    })
}

/// `a.b[2].c`, or [`ROOT`] for the empty path.
fn render(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Step::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    if out.is_empty() {
        ROOT.to_owned()
    } else {
        out
    }
}
