//! `json_fields!`: a struct read from and written as a JSON object, field by
//! field, as serde's derives did it.

/// Implements [`ToJson`](crate::json::ToJson) and
/// [`FromJson`](crate::json::FromJson) for a struct with named fields: each
/// written under its name in the order listed, and read by name (a key
/// given twice refused, keys not listed ignored).
///
/// ```ignore
/// json_fields!(Settlement { reserved, sent, completed, at, pool });
/// json_fields!(#[deny_unknown_fields] ShopInfo { title, base_url, #[skip_empty] licences });
/// json_fields!(Event { id, event_type as "type", #[default] livemode, data });
/// ```
///
/// A field is required, but an `Option` may be absent (`None`). Marks, as
/// serde's attributes: `#[default]`: absent reads as `Default::default()`
/// (`#[serde(default)]`); `#[skip_empty]`: that, and left out when written
/// while empty ([`Omit`](crate::json::Omit); `skip_serializing_if`);
/// `as "name"`: its JSON name; `#[deny_unknown_fields]` on the struct: a key
/// not listed is refused. Every field's type implements `Default` (what it
/// holds while an error is carried to the end: one straight line of reads).
#[macro_export]
macro_rules! json_fields {
    ($(#[$deny:ident])? $ty:ident { $($(#[$mark:ident])? $field:ident $(as $name:literal)?),* $(,)? }) => {
        impl $crate::json::ToJson for $ty {
            #[allow(clippy::vec_init_then_push)]
            fn to_json(&self) -> $crate::json::Json {
                let mut entries: Vec<(String, $crate::json::Json)> =
                    Vec::with_capacity([$(stringify!($field)),*].len());
                $($crate::json_fields!(@write entries, self.$field, $crate::json_fields!(@name $field $($name)?) $(, $mark)?);)*
                $crate::json::Json::Object(entries)
            }
        }

        impl $crate::json::FromJson for $ty {
            fn from_json(value: $crate::json::Json) -> Result<Self, $crate::json::JsonError> {
                let mut fields = $crate::json::Fields::of(value, concat!("struct ", stringify!($ty)))?;
                let mut error = None;
                let value = $ty {
                    $($field: fields.field(
                        $crate::json_fields!(@name $field $($name)?),
                        $crate::json_fields!(@or_default $($mark)?),
                        &mut error,
                    ),)*
                };
                if let Some(e) = error {
                    return Err(e);
                }
                $crate::json_fields!(@unknown fields, [$($crate::json_fields!(@name $field $($name)?)),*] $(, $deny)?);
                Ok(value)
            }
        }
    };
    (@name $field:ident $name:literal) => { $name };
    (@name $field:ident) => { stringify!($field) };
    (@or_default) => { false };
    (@or_default default) => { true };
    (@or_default skip_empty) => { true };
    (@write $entries:ident, $value:expr, $name:expr) => {
        $crate::json::put(&mut $entries, $name, $crate::json::ToJson::to_json(&$value))
    };
    (@write $entries:ident, $value:expr, $name:expr, default) => {
        $crate::json_fields!(@write $entries, $value, $name)
    };
    (@write $entries:ident, $value:expr, $name:expr, skip_empty) => {
        if !$crate::json::Omit::omitted(&$value) {
            $crate::json_fields!(@write $entries, $value, $name)
        }
    };
    (@unknown $fields:ident, [$($known:expr),*]) => {};
    (@unknown $fields:ident, [$($known:expr),*], deny_unknown_fields) => {
        $fields.deny_unknown(&[$($known),*])?
    };
}
