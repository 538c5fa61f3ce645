//! A map with string keys kept as a list sorted by key, for the small maps
//! of a token's claims and the Worker's state: the same JSON as the
//! `BTreeMap<String, V>` each was (keys in order; a key given twice keeps
//! its last value), without B-tree code of its own in the Worker's module
//! (docs/benchmarks.md, "Worker size").

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortedMap<V>(Vec<(String, V)>);

impl<V> Default for SortedMap<V> {
    fn default() -> Self {
        SortedMap(Vec::new())
    }
}

impl<V> SortedMap<V> {
    /// Where `key` is (`Ok`) or would go (`Err`).
    fn position(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.position(key).ok().map(|i| &self.0[i].1)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.position(key).ok().map(|i| &mut self.0[i].1)
    }

    /// Sets the value of `key`; the one it replaces, if any.
    pub fn insert(&mut self, key: String, value: V) -> Option<V> {
        match self.position(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    /// The value of `key`, a default one inserted if there was none.
    pub fn entry(&mut self, key: String) -> &mut V
    where
        V: Default,
    {
        let i = match self.position(&key) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (key, V::default()));
                i
            }
        };
        &mut self.0[i].1
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        self.position(key).ok().map(|i| self.0.remove(i).1)
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&String, &V) -> bool) {
        self.0.retain(|(k, v)| keep(k, v));
    }

    /// Moves the entries of `other` in (its value wins for a key in both),
    /// in one pass: inserted one by one in the middle of a long map, each
    /// would move the map's tail.
    pub fn append(&mut self, other: SortedMap<V>) {
        let mut merged = Vec::with_capacity(self.0.len() + other.0.len());
        let mut theirs = other.0.into_iter().peekable();
        for (key, value) in std::mem::take(&mut self.0) {
            while let Some(entry) = theirs.next_if(|(k, _)| *k < key) {
                merged.push(entry);
            }
            merged.push(theirs.next_if(|(k, _)| *k == key).unwrap_or((key, value)));
        }
        merged.extend(theirs);
        self.0 = merged;
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }

    /// The map of `entries` in any order (a key given twice keeps its last
    /// value), sorted once: for a long map built out of key order (site-gen's
    /// catalog, by date), where inserting one by one would move the tail
    /// each time. Not used by the Worker, which would then carry a sort.
    pub fn from_unsorted(mut entries: Vec<(String, V)>) -> Self {
        entries.reverse();
        entries.sort_by(|(a, _), (b, _)| a.cmp(b));
        entries.dedup_by(|later, earlier| later.0 == earlier.0);
        SortedMap(entries)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The entries inserted in turn (a key given twice keeps its last value).
impl<V> FromIterator<(String, V)> for SortedMap<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(entries: I) -> Self {
        let mut map = SortedMap::default();
        for (key, value) in entries {
            map.insert(key, value);
        }
        map
    }
}

impl<'a, V> IntoIterator for &'a SortedMap<V> {
    type Item = (&'a String, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (String, V)>, fn(&'a (String, V)) -> (&'a String, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<V> std::ops::Index<&str> for SortedMap<V> {
    type Output = V;

    fn index(&self, key: &str) -> &V {
        self.get(key).expect("key in the map")
    }
}

impl<V, const N: usize> From<[(String, V); N]> for SortedMap<V> {
    fn from(entries: [(String, V); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl<V: Serialize> Serialize for SortedMap<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for SortedMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = SortedMap<V>;

            /// As `BTreeMap`'s, so errors read the same.
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a map")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut map = SortedMap::default();
                while let Some((key, value)) = access.next_entry()? {
                    map.insert(key, value);
                }
                Ok(map)
            }
        }

        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Reads and writes what a `BTreeMap` did, errors included.
    #[test]
    fn json_as_a_btreemap() {
        for json in [r#"{"b":"x","a":"y","b":"z","c\"":"w","":"e"}"#, "{}", r#"{ "a" : "1" }"#] {
            let ours: SortedMap<String> = serde_json::from_str(json).unwrap();
            let theirs: BTreeMap<String, String> = serde_json::from_str(json).unwrap();
            assert_eq!(serde_json::to_string(&ours).unwrap(), serde_json::to_string(&theirs).unwrap());
            assert_eq!(serde_json::to_value(&ours).unwrap(), serde_json::to_value(&theirs).unwrap());
            assert!(ours.iter().eq(theirs.iter()));
        }
        for bad in [r#"["a"]"#, r#"{"a":1}"#, "null", r#"{"a":"1""#, "3"] {
            let ours = serde_json::from_str::<SortedMap<String>>(bad).unwrap_err();
            let theirs = serde_json::from_str::<BTreeMap<String, String>>(bad).unwrap_err();
            assert_eq!(ours.to_string(), theirs.to_string());
        }
    }

    #[test]
    fn operations_as_a_btreemap() {
        let (mut ours, mut theirs) = (SortedMap::default(), BTreeMap::new());
        for (i, key) in ["m", "c", "x", "c", "a", "z", "m"].into_iter().enumerate() {
            assert_eq!(ours.insert(key.to_string(), i), theirs.insert(key.to_string(), i));
        }
        *ours.entry("b".into()) += 10;
        *theirs.entry("b".into()).or_default() += 10;
        *ours.entry("x".into()) += 10;
        *theirs.entry("x".into()).or_default() += 10;
        assert_eq!(ours.remove("c"), theirs.remove("c"));
        assert_eq!(ours.remove("nope"), theirs.remove("nope"));
        ours.retain(|k, _| k != "z");
        theirs.retain(|k, _| k != "z");
        assert!(ours.iter().eq(theirs.iter()));
        assert_eq!((ours.get("m"), ours.len()), (theirs.get("m"), theirs.len()));

        let mut other = SortedMap::default();
        for (key, value) in [("0", 1), ("b", 2), ("n", 3), ("zz", 4)] {
            other.insert(key.to_string(), value);
            theirs.insert(key.to_string(), value);
        }
        ours.append(other);
        assert!(ours.iter().eq(theirs.iter()));
        ours.append(SortedMap::default());
        assert!(ours.iter().eq(theirs.iter()));
        assert!(ours.keys().eq(theirs.keys()) && ours.values().eq(theirs.values()));
        assert_eq!(ours["m"], theirs["m"]);
    }

    /// Built from entries out of order, the map `insert` would have made.
    #[test]
    fn from_unsorted_as_inserted() {
        let entries = [("m", 0), ("c", 1), ("x", 2), ("c", 3), ("a", 4), ("m", 5), ("c", 6)];
        let owned = || entries.iter().map(|(k, v)| (k.to_string(), *v));
        let made = SortedMap::from_unsorted(owned().collect());
        let inserted: SortedMap<i32> = owned().collect();
        let theirs: BTreeMap<String, i32> = owned().collect();
        assert_eq!(made, inserted);
        assert!(made.iter().eq(theirs.iter()));
        assert!(SortedMap::<i32>::from_unsorted(Vec::new()).is_empty());
    }
}
