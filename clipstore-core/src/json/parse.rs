//! A JSON text into a [`Json`] tree, by miniserde's parser (iterative: a
//! deep text takes heap, not stack), nested at most [`MAX_DEPTH`] deep.

use std::mem;

use miniserde::de::{Deserialize, Map, Seq, Visitor};
use miniserde::Error;

type Result<T, E = Error> = std::result::Result<T, E>;

use super::{Json, JsonError, Number};

/// The deepest nesting of arrays and objects read: serde_json's limit for
/// the values it builds. The tree is walked and dropped recursively.
pub const MAX_DEPTH: usize = 127;

/// Parses a whole JSON text (whitespace around it allowed, nothing else).
pub fn parse(text: &str) -> Result<Json, JsonError> {
    match miniserde::json::from_str::<Slot>(text) {
        Ok(Slot { out: Some(json), .. }) => Ok(json),
        _ if nesting(text) > MAX_DEPTH => {
            Err(JsonError::new(format!("arrays and objects nested more than {MAX_DEPTH} deep")))
        }
        _ => Err(JsonError::new("not valid JSON".into())),
    }
}

/// How deep the text's arrays and objects nest (strings skipped).
fn nesting(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0, false, false);
    for b in text.bytes() {
        if in_string {
            (in_string, escaped) = (escaped || b != b'"', !escaped && b == b'\\');
        } else {
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    deepest
}

/// Where one value goes, and how deep in the text it is.
struct Slot {
    out: Option<Json>,
    depth: usize,
}

impl Slot {
    /// The depth of the values in an array or object that opens here.
    fn inner(&self) -> Result<usize> {
        if self.depth >= MAX_DEPTH {
            return Err(Error);
        }
        Ok(self.depth + 1)
    }

    fn set(&mut self, value: Json) -> Result<()> {
        self.out = Some(value);
        Ok(())
    }
}

/// The whole text's slot.
impl Deserialize for Slot {
    fn begin(out: &mut Option<Self>) -> &mut dyn Visitor {
        out.insert(Slot { out: None, depth: 0 })
    }
}

impl Visitor for Slot {
    fn null(&mut self) -> Result<()> {
        self.set(Json::Null)
    }

    fn boolean(&mut self, b: bool) -> Result<()> {
        self.set(Json::Bool(b))
    }

    fn string(&mut self, s: &str) -> Result<()> {
        self.set(Json::String(s.to_owned()))
    }

    fn negative(&mut self, n: i64) -> Result<()> {
        // `-0`: a float to serde_json, and so refused where a whole number is.
        self.set(Json::Number(if n == 0 { Number::F64(-0.0) } else { Number::I64(n) }))
    }

    fn nonnegative(&mut self, n: u64) -> Result<()> {
        self.set(Json::Number(Number::U64(n)))
    }

    fn float(&mut self, n: f64) -> Result<()> {
        self.set(Json::Number(Number::F64(n)))
    }

    fn seq(&mut self) -> Result<Box<dyn Seq + '_>> {
        let depth = self.inner()?;
        Ok(Box::new(ArrayBuilder { out: &mut self.out, items: Vec::new(), element: Slot { out: None, depth } }))
    }

    fn map(&mut self) -> Result<Box<dyn Map + '_>> {
        let depth = self.inner()?;
        Ok(Box::new(ObjectBuilder {
            out: &mut self.out,
            entries: Vec::new(),
            key: None,
            value: Slot { out: None, depth },
        }))
    }
}

struct ArrayBuilder<'a> {
    out: &'a mut Option<Json>,
    items: Vec<Json>,
    element: Slot,
}

impl Seq for ArrayBuilder<'_> {
    fn element(&mut self) -> Result<&mut dyn Visitor> {
        self.items.extend(self.element.out.take());
        Ok(&mut self.element)
    }

    fn finish(&mut self) -> Result<()> {
        self.items.extend(self.element.out.take());
        *self.out = Some(Json::Array(mem::take(&mut self.items)));
        Ok(())
    }
}

struct ObjectBuilder<'a> {
    out: &'a mut Option<Json>,
    entries: Vec<(String, Json)>,
    key: Option<String>,
    value: Slot,
}

impl ObjectBuilder<'_> {
    fn shift(&mut self) {
        if let (Some(key), Some(value)) = (self.key.take(), self.value.out.take()) {
            self.entries.push((key, value));
        }
    }
}

impl Map for ObjectBuilder<'_> {
    fn key(&mut self, k: &str) -> Result<&mut dyn Visitor> {
        self.shift();
        self.key = Some(k.to_owned());
        Ok(&mut self.value)
    }

    fn finish(&mut self) -> Result<()> {
        self.shift();
        *self.out = Some(Json::Object(mem::take(&mut self.entries)));
        Ok(())
    }
}
