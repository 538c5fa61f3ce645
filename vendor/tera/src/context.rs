use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use serde::ser::Serialize;
use serde_json::value::{to_value, Map, Value};

use crate::errors::{Error, Result as TeraResult};

/// The struct that holds the context of a template rendering.
///
/// Light wrapper around a `BTreeMap` for easier insertions of Serializable
/// values
#[derive(Debug, Clone)]
pub struct Context {
    data: BTreeMap<String, Slot>,
    /// Values many contexts share without a copy each (`Context::over`):
    /// what `data` does not hold is looked up here.
    base: Option<Arc<Context>>,
}

/// A value of a context: its own, or one shared with other contexts
/// (`Context::insert_shared`).
#[derive(Debug, Clone)]
enum Slot {
    Owned(Value),
    Shared(Arc<Value>),
}

impl Slot {
    fn value(&self) -> &Value {
        match self {
            Slot::Owned(value) => value,
            Slot::Shared(value) => value,
        }
    }

    fn into_value(self) -> Value {
        match self {
            Slot::Owned(value) => value,
            Slot::Shared(value) => Arc::unwrap_or_clone(value),
        }
    }
}

impl Context {
    /// Initializes an empty context
    pub fn new() -> Self {
        Context { data: BTreeMap::new(), base: None }
    }

    /// An empty context over `base`: it holds every value of `base` that it
    /// is not given one of its own for, without copying them. Made for many
    /// renders that share most of their values (a site's settings on each of
    /// its pages), where a clone of the shared context for each would copy
    /// them all every time.
    ///
    /// ```rust
    /// # use std::sync::Arc;
    /// # use tera::Context;
    /// let mut site = Context::new();
    /// site.insert("title", &"My site");
    /// let site = Arc::new(site);
    /// let mut page = Context::over(site.clone());
    /// page.insert("url", &"/about/");
    /// assert_eq!(page.get("title"), site.get("title"));
    /// ```
    pub fn over(base: Arc<Context>) -> Self {
        Context { data: BTreeMap::new(), base: Some(base) }
    }

    /// Every value, the base's included, as one map owned by the caller.
    fn into_data(self) -> BTreeMap<String, Slot> {
        match self.base {
            None => self.data,
            Some(base) => {
                let mut data = Arc::unwrap_or_clone(base).into_data();
                data.extend(self.data);
                data
            }
        }
    }

    /// Every key with its value, the base's included.
    fn entries(&self) -> BTreeMap<&str, &Value> {
        let mut entries = self.base.as_deref().map(Context::entries).unwrap_or_default();
        entries.extend(self.data.iter().map(|(k, v)| (k.as_str(), v.value())));
        entries
    }

    /// Converts the `val` parameter to `Value` and insert it into the context.
    ///
    /// Panics if the serialization fails.
    ///
    /// ```rust
    /// # use tera::Context;
    /// let mut context = tera::Context::new();
    /// context.insert("number_users", &42);
    /// ```
    pub fn insert<T: Serialize + ?Sized, S: Into<String>>(&mut self, key: S, val: &T) {
        self.data.insert(key.into(), Slot::Owned(to_value(val).unwrap()));
    }

    /// Inserts a value that other contexts may hold too, without a copy.
    ///
    /// ```rust
    /// # use std::sync::Arc;
    /// # use tera::Context;
    /// let card = Arc::new(serde_json::json!({"title": "Harbour"}));
    /// let mut context = tera::Context::new();
    /// context.insert_shared("clip", card.clone());
    /// assert_eq!(context.get("clip"), Some(&*card));
    /// ```
    pub fn insert_shared<S: Into<String>>(&mut self, key: S, val: Arc<Value>) {
        self.data.insert(key.into(), Slot::Shared(val));
    }

    /// Converts the `val` parameter to `Value` and insert it into the context.
    ///
    /// Returns an error if the serialization fails.
    ///
    /// ```rust
    /// # use tera::Context;
    /// # struct CannotBeSerialized;
    /// # impl serde::Serialize for CannotBeSerialized {
    /// #     fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
    /// #         Err(serde::ser::Error::custom("Error"))
    /// #     }
    /// # }
    /// # let user = CannotBeSerialized;
    /// let mut context = Context::new();
    /// // user is an instance of a struct implementing `Serialize`
    /// if let Err(_) = context.try_insert("number_users", &user) {
    ///     // Serialization failed
    /// }
    /// ```
    pub fn try_insert<T: Serialize + ?Sized, S: Into<String>>(
        &mut self,
        key: S,
        val: &T,
    ) -> TeraResult<()> {
        self.data.insert(key.into(), Slot::Owned(to_value(val)?));

        Ok(())
    }

    /// Appends the data of the `source` parameter to `self`, overwriting existing keys.
    /// The source context will be dropped.
    ///
    /// ```rust
    /// # use tera::Context;
    /// let mut target = Context::new();
    /// target.insert("a", &1);
    /// target.insert("b", &2);
    /// let mut source = Context::new();
    /// source.insert("b", &3);
    /// source.insert("d", &4);
    /// target.extend(source);
    /// ```
    pub fn extend(&mut self, source: Context) {
        self.data.append(&mut source.into_data());
    }

    /// Converts the context to a `serde_json::Value` consuming the context.
    pub fn into_json(self) -> Value {
        let mut m = Map::new();
        for (key, value) in self.into_data() {
            m.insert(key, value.into_value());
        }
        Value::Object(m)
    }

    /// Takes a serde-json `Value` and convert it into a `Context` with no overhead/cloning.
    pub fn from_value(obj: Value) -> TeraResult<Self> {
        match obj {
            Value::Object(m) => {
                let mut data = BTreeMap::new();
                for (key, value) in m {
                    data.insert(key, Slot::Owned(value));
                }
                Ok(Context { data, base: None })
            }
            _ => Err(Error::msg(
                "Creating a Context from a Value/Serialize requires it being a JSON object",
            )),
        }
    }

    /// Takes something that impl Serialize and create a context with it.
    /// Meant to be used if you have a hashmap or a struct and don't want to insert values
    /// one by one in the context.
    pub fn from_serialize(value: impl Serialize) -> TeraResult<Self> {
        let obj = to_value(value).map_err(Error::json)?;
        Context::from_value(obj)
    }

    /// Returns the value at a given key index.
    pub fn get(&self, index: &str) -> Option<&Value> {
        match self.data.get(index) {
            Some(slot) => Some(slot.value()),
            None => self.base.as_deref()?.get(index),
        }
    }

    /// Remove a key from the context, returning the value at the key if the key was previously inserted into the context.
    pub fn remove(&mut self, index: &str) -> Option<Value> {
        if self.base.is_some() {
            // The base's values are shared: this context takes its own copy.
            self.data = std::mem::take(self).into_data();
        }
        self.data.remove(index).map(Slot::into_value)
    }

    /// Checks if a value exists at a specific index.
    pub fn contains_key(&self, index: &str) -> bool {
        self.get(index).is_some()
    }
}

/// Two contexts are equal when they hold the same values, wherever they keep them.
impl PartialEq for Context {
    fn eq(&self, other: &Context) -> bool {
        self.entries() == other.entries()
    }
}

impl Default for Context {
    fn default() -> Context {
        Context::new()
    }
}

pub trait ValueRender {
    fn render(&self, write: &mut impl Write) -> std::io::Result<()>;
}

// Convert serde Value to String.
impl ValueRender for Value {
    fn render(&self, write: &mut impl Write) -> std::io::Result<()> {
        match *self {
            Value::String(ref s) => write!(write, "{}", s),
            Value::Number(ref i) => {
                if let Some(v) = i.as_i64() {
                    write!(write, "{}", v)
                } else if let Some(v) = i.as_u64() {
                    write!(write, "{}", v)
                } else if let Some(v) = i.as_f64() {
                    write!(write, "{}", v)
                } else {
                    unreachable!()
                }
            }
            Value::Bool(i) => write!(write, "{}", i),
            Value::Null => Ok(()),
            Value::Array(ref a) => {
                let mut first = true;
                write!(write, "[")?;
                for i in a.iter() {
                    if !first {
                        write!(write, ", ")?;
                    }
                    first = false;
                    i.render(write)?;
                }
                write!(write, "]")?;
                Ok(())
            }
            Value::Object(_) => write!(write, "[object]"),
        }
    }
}

pub trait ValueNumber {
    fn to_number(&self) -> Result<f64, ()>;
}
// Needed for all the maths
// Convert everything to f64, seems like a terrible idea
impl ValueNumber for Value {
    fn to_number(&self) -> Result<f64, ()> {
        match *self {
            Value::Number(ref i) => Ok(i.as_f64().unwrap()),
            _ => Err(()),
        }
    }
}

// From handlebars-rust
pub trait ValueTruthy {
    fn is_truthy(&self) -> bool;
}

impl ValueTruthy for Value {
    fn is_truthy(&self) -> bool {
        match *self {
            Value::Number(ref i) => {
                if i.is_i64() {
                    return i.as_i64().unwrap() != 0;
                }
                if i.is_u64() {
                    return i.as_u64().unwrap() != 0;
                }
                let f = i.as_f64().unwrap();
                f != 0.0 && !f.is_nan()
            }
            Value::Bool(ref i) => *i,
            Value::Null => false,
            Value::String(ref i) => !i.is_empty(),
            Value::Array(ref i) => !i.is_empty(),
            Value::Object(ref i) => !i.is_empty(),
        }
    }
}

/// Converts a dotted path to a json pointer one
#[inline]
#[deprecated(
    since = "1.8.0",
    note = "`get_json_pointer` converted a dotted pointer to a json pointer, use dotted_pointer for direct lookups of values"
)]
pub fn get_json_pointer(key: &str) -> String {
    lazy_static::lazy_static! {
        // Split the key into dot-separated segments, respecting quoted strings as single units
        // to fix https://github.com/Keats/tera/issues/590
        static ref JSON_POINTER_REGEX: regex::Regex = regex::Regex::new(r#""[^"]*"|[^.]+"#).unwrap();
    }
    let mut res = String::with_capacity(key.len() + 1);
    if key.find('"').is_some() {
        for mat in JSON_POINTER_REGEX.find_iter(key) {
            res.push('/');
            res.push_str(mat.as_str().trim_matches('"'));
        }
    } else {
        res.push('/');
        res.push_str(&key.replace('.', "/"));
    }
    res
}

/// following iterator immitates regex::Regex::new(r#""[^"]*"|[^.\[\]]+"#) but also strips `"` and `'`
struct PointerMachina<'a> {
    pointer: &'a str,
    single_quoted: bool,
    dual_quoted: bool,
    escaped: bool,
    last_position: usize,
}

impl PointerMachina<'_> {
    fn new(pointer: &str) -> PointerMachina<'_> {
        PointerMachina {
            pointer,
            single_quoted: false,
            dual_quoted: false,
            escaped: false,
            last_position: 0,
        }
    }
}

impl<'a> Iterator for PointerMachina<'a> {
    type Item = &'a str;

    // next() is the only required method
    fn next(&mut self) -> Option<Self::Item> {
        let forwarded = &self.pointer[self.last_position..];
        let mut offset: usize = 0;
        for (i, character) in forwarded.chars().enumerate() {
            match character {
                '"' => {
                    if !self.escaped {
                        self.dual_quoted = !self.dual_quoted;
                        if i == offset {
                            offset += 1;
                        } else {
                            let result =
                                &self.pointer[self.last_position + offset..self.last_position + i];

                            self.last_position += i + 1; // +1 for skipping this quote
                            if !result.is_empty() {
                                return Some(result);
                            }
                        }
                    }
                }
                '\'' => {
                    if !self.escaped {
                        self.single_quoted = !self.single_quoted;
                        if i == offset {
                            offset += 1;
                        } else {
                            let result =
                                &self.pointer[self.last_position + offset..self.last_position + i];
                            self.last_position += i + 1; // +1 for skipping this quote
                            if !result.is_empty() {
                                return Some(result);
                            }
                        }
                    }
                }
                '\\' => {
                    self.escaped = true;
                    continue;
                }
                '[' => {
                    if !self.single_quoted && !self.dual_quoted && !self.escaped {
                        let result =
                            &self.pointer[self.last_position + offset..self.last_position + i];
                        self.last_position += i + 1;
                        if !result.is_empty() {
                            return Some(result);
                        }
                    }
                }
                ']' => {
                    if !self.single_quoted && !self.dual_quoted && !self.escaped {
                        offset += 1;
                    }
                }
                '.' => {
                    if !self.single_quoted && !self.dual_quoted && !self.escaped {
                        if i == offset {
                            offset += 1;
                        } else {
                            let result =
                                &self.pointer[self.last_position + offset..self.last_position + i];
                            self.last_position += i + 1;
                            if !result.is_empty() {
                                return Some(result);
                            }
                        }
                    }
                }
                _ => (),
            }
            self.escaped = false;
        }
        if self.last_position + offset < self.pointer.len() {
            let result = &self.pointer[self.last_position + offset..];
            self.last_position = self.pointer.len();
            return Some(result);
        }
        None
    }
}

/// Lookups a dotted path in a json value
/// contrary to the json slash pointer it's not allowed to begin with a dot
#[inline]
#[must_use]
pub fn dotted_pointer<'a>(value: &'a Value, pointer: &str) -> Option<&'a Value> {
    if pointer.is_empty() {
        return Some(value);
    }

    PointerMachina::new(pointer).map(unescape_token).try_fold(
        value,
        |target, token| match target {
            Value::Object(map) => map.get(token.as_ref()),
            Value::Array(list) => parse_index(&token).and_then(|x| list.get(x)),
            _ => None,
        },
    )
}

/// A JSON pointer token with `~1` and `~0` unescaped, borrowed when it has
/// neither (clipstore: every dotted name looked up cost four allocations).
pub(crate) fn unescape_token(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains('~') {
        std::borrow::Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
    } else {
        std::borrow::Cow::Borrowed(token)
    }
}

/// serde jsons parse_index
#[inline]
fn parse_index(s: &str) -> Option<usize> {
    if s.starts_with('+') || (s.starts_with('0') && s.len() != 1) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;
    use std::collections::HashMap;

    #[test]
    fn test_dotted_pointer() {
        let data = r#"{
            "foo": {
                "bar": {
                    "goo": {
                        "moo": {
                            "cows": [
                                {
                                    "name": "betsy",
                                    "age" : 2,
                                    "temperament": "calm"
                                },
                                {
                                    "name": "elsie",
                                    "age": 3,
                                    "temperament": "calm"
                                },
                                {
                                    "name": "veal",
                                    "age": 1,
                                    "temperament": "ornery"
                                }
                            ]
                        }
                    }
                },
                "http://example.com/": {
                    "goo": {
                        "moo": {
                            "cows": [
                                {
                                    "name": "betsy",
                                    "age" : 2,
                                    "temperament": "calm"
                                },
                                {
                                    "name": "elsie",
                                    "age": 3,
                                    "temperament": "calm"
                                },
                                {
                                    "name": "veal",
                                    "age": 1,
                                    "temperament": "ornery"
                                }
                            ]
                        }
                    }
                }
            }
            }"#;

        let value = serde_json::from_str(data).unwrap();

        assert_eq!(dotted_pointer(&value, ""), Some(&value));
        assert_eq!(dotted_pointer(&value, "foo"), value.pointer("/foo"));
        assert_eq!(dotted_pointer(&value, "foo.bar.goo"), value.pointer("/foo/bar/goo"));
        assert_eq!(dotted_pointer(&value, "skrr"), value.pointer("/skrr"));
        assert_eq!(
            dotted_pointer(&value, r#"foo["bar"].baz"#),
            value.pointer(r#"/foo["bar"]/baz"#)
        );
        assert_eq!(
            dotted_pointer(&value, r#"foo["bar"].baz["qux"].blub"#),
            value.pointer(r#"/foo["bar"]/baz["qux"]/blub"#)
        );
    }

    #[test]
    fn can_extend_context() {
        let mut target = Context::new();
        target.insert("a", &1);
        target.insert("b", &2);
        let mut source = Context::new();
        source.insert("b", &3);
        source.insert("c", &4);
        target.extend(source);
        assert_eq!(*target.get("a").unwrap(), to_value(1).unwrap());
        assert_eq!(*target.get("b").unwrap(), to_value(3).unwrap());
        assert_eq!(*target.get("c").unwrap(), to_value(4).unwrap());
    }

    #[test]
    fn can_create_context_from_value() {
        let obj = json!({
            "name": "bob",
            "age": 25
        });
        let context_from_value = Context::from_value(obj).unwrap();
        let mut context = Context::new();
        context.insert("name", "bob");
        context.insert("age", &25);
        assert_eq!(context_from_value, context);
    }

    #[test]
    fn can_create_context_from_impl_serialize() {
        let mut map = HashMap::new();
        map.insert("name", "bob");
        map.insert("last_name", "something");
        let context_from_serialize = Context::from_serialize(&map).unwrap();
        let mut context = Context::new();
        context.insert("name", "bob");
        context.insert("last_name", "something");
        assert_eq!(context_from_serialize, context);
    }

    #[test]
    fn can_remove_a_key() {
        let mut context = Context::new();
        context.insert("name", "foo");
        context.insert("bio", "Hi, I'm foo.");

        let mut expected = Context::new();
        expected.insert("name", "foo");
        assert_eq!(context.remove("bio"), Some(to_value("Hi, I'm foo.").unwrap()));
        assert_eq!(context.get("bio"), None);
        assert_eq!(context, expected);
    }

    #[test]
    fn remove_return_none_with_unknown_index() {
        let mut context = Context::new();
        assert_eq!(context.remove("unknown"), None);
    }

    /// A base of two values, and a context over it with one of its own
    /// shadowing one of the base's, and one shared.
    fn layered() -> (Arc<Context>, Context, Context) {
        let mut base = Context::new();
        base.insert("site", &json!({"title": "Shop"}));
        base.insert("url", &"/");
        let base = Arc::new(base);
        let mut over = Context::over(base.clone());
        over.insert("url", &"/clips/");
        over.insert_shared("clip", Arc::new(json!({"title": "Harbour"})));
        let mut flat = Context::new();
        flat.insert("site", &json!({"title": "Shop"}));
        flat.insert("url", &"/clips/");
        flat.insert("clip", &json!({"title": "Harbour"}));
        (base, over, flat)
    }

    #[test]
    fn a_context_over_a_base_holds_what_a_copy_would() {
        let (base, over, flat) = layered();
        for key in ["site", "url", "clip", "none"] {
            assert_eq!(over.get(key), flat.get(key), "{key}");
            assert_eq!(over.contains_key(key), flat.contains_key(key), "{key}");
        }
        assert_eq!(over, flat);
        assert_eq!(flat, over);
        assert_eq!(over.clone().into_json(), flat.clone().into_json());
        // The base is not changed by what is put over it.
        assert_eq!(base.get("url"), Some(&to_value("/").unwrap()));
        assert_eq!(base.get("clip"), None);
        assert_ne!(*base, flat);
    }

    #[test]
    fn a_context_over_a_base_extends_and_removes_as_a_copy_would() {
        let (_base, over, flat) = layered();
        // Extended by a layered context, and extending another with its values.
        let (mut a, mut b) = (Context::new(), Context::new());
        a.insert("url", &"/old/");
        b.insert("url", &"/old/");
        a.extend(over.clone());
        b.extend(flat.clone());
        assert_eq!(a, b);
        let (mut a, mut b) = (over.clone(), flat.clone());
        let mut more = Context::new();
        more.insert("site", &"Other");
        a.extend(more.clone());
        b.extend(more);
        assert_eq!(a, b);
        // A value removed is gone, the base's too; the others stay.
        for key in ["site", "url", "clip", "none"] {
            let (mut a, mut b) = (over.clone(), flat.clone());
            assert_eq!(a.remove(key), b.remove(key), "{key}");
            assert_eq!(a.get(key), None, "{key}");
            assert_eq!(a, b, "{key}");
        }
    }
}
