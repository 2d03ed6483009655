//! `jsonb` arguments read in place with Postgres' own iterator, without the text round trip
//! (jsonb_out, then a JSON parser) of pgrx's `JsonB`: a header map as string entries, and an
//! event as a `serde_json::Value` holding only the fields the mapping reads.

use clerk_sync_core::event::Fields;
use clerk_sync_core::HeaderEntry;
use pgrx::pg_sys;
use pgrx::FromDatum;
use serde_json::{Map, Value};

/// A detoasted `jsonb` argument, valid for the duration of the function call.
pub struct RawJsonb {
    jsonb: *mut pg_sys::Jsonb,
}

pgrx::impl_sql_translatable!(RawJsonb, arg_only = "jsonb");

impl FromDatum for RawJsonb {
    unsafe fn from_polymorphic_datum(datum: pg_sys::Datum, is_null: bool, _: pg_sys::Oid) -> Option<Self> {
        if is_null {
            return None;
        }
        // SAFETY: the argument is declared `jsonb`; detoasting yields a 4-byte-header copy (or the
        // original) in the current memory context, which outlives this call.
        let jsonb = unsafe { pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) } as *mut pg_sys::Jsonb;
        Some(RawJsonb { jsonb })
    }
}

// SAFETY: the SQL signature declares this argument `jsonb`, which is what from_datum expects.
unsafe impl<'fcx> pgrx::callconv::ArgAbi<'fcx> for RawJsonb {
    unsafe fn unbox_arg_unchecked(arg: pgrx::callconv::Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        unsafe { arg.unbox_arg_using_from_datum() }.unwrap_or_else(|| panic!("argument {index} must not be null"))
    }
}

unsafe fn jsonb_str<'a>(value: &pg_sys::JsonbValue) -> Option<&'a str> {
    if value.type_ != pg_sys::jbvType::jbvString {
        return None;
    }
    // SAFETY: for jbvString the union holds `string`, pointing into the detoasted datum.
    let string = unsafe { value.val.string };
    let bytes = unsafe { std::slice::from_raw_parts(string.val as *const u8, string.len as usize) };
    std::str::from_utf8(bytes).ok()
}

fn scalar(value: &pg_sys::JsonbValue, fields: &Fields) -> Value {
    use pg_sys::jbvType::{jbvBinary, jbvBool, jbvNull, jbvNumeric, jbvString};
    // SAFETY: each arm reads the union member that `type_` says is set.
    unsafe {
        match value.type_ {
            t if t == jbvNull => Value::Null,
            t if t == jbvBool => Value::Bool(value.val.boolean),
            t if t == jbvString => jsonb_str(value).map_or(Value::Null, |s| Value::String(s.to_owned())),
            t if t == jbvNumeric => {
                let text = pgrx::direct_function_call::<&std::ffi::CStr>(
                    pg_sys::numeric_out,
                    &[Some(pg_sys::Datum::from(value.val.numeric))],
                )
                .map(|c| c.to_string_lossy())
                .unwrap_or_default();
                // A number JSON cannot carry (1e400) stays text, so the mapping reports its type.
                serde_json::from_str::<serde_json::Number>(&text)
                    .map_or(Value::String(text.into_owned()), Value::Number)
            }
            t if t == jbvBinary => container_value(value.val.binary.data, fields),
            _ => Value::Null,
        }
    }
}

/// Converts a container, keeping only `fields` of objects.
unsafe fn container_value(container: *mut pg_sys::JsonbContainer, fields: &Fields) -> Value {
    use pg_sys::JsonbIteratorToken::*;
    // SAFETY: `container` points into a detoasted jsonb that outlives this call.
    unsafe {
        let mut iterator = pg_sys::JsonbIteratorInit(container);
        let mut value: pg_sys::JsonbValue = std::mem::zeroed();
        match pg_sys::JsonbIteratorNext(&mut iterator, &mut value, false) {
            WJB_BEGIN_OBJECT => {
                let mut object = Map::new();
                let mut key: Option<(String, &Fields)> = None;
                loop {
                    match pg_sys::JsonbIteratorNext(&mut iterator, &mut value, true) {
                        WJB_KEY => {
                            key = jsonb_str(&value).and_then(|k| fields.child(k).map(|f| (k.to_owned(), f)));
                        }
                        WJB_VALUE => {
                            if let Some((name, child)) = key.take() {
                                object.insert(name, scalar(&value, child));
                            }
                        }
                        WJB_END_OBJECT | WJB_DONE => break,
                        _ => {}
                    }
                }
                Value::Object(object)
            }
            WJB_BEGIN_ARRAY => {
                let raw_scalar = value.val.array.rawScalar;
                let mut array = Vec::new();
                loop {
                    match pg_sys::JsonbIteratorNext(&mut iterator, &mut value, true) {
                        WJB_ELEM => array.push(scalar(&value, fields.element())),
                        WJB_END_ARRAY | WJB_DONE => break,
                        _ => {}
                    }
                }
                if raw_scalar {
                    array.pop().unwrap_or(Value::Null)
                } else {
                    Value::Array(array)
                }
            }
            _ => Value::Null,
        }
    }
}

impl RawJsonb {
    /// The value as a datum, to pass on (valid as long as this is).
    pub fn datum(&self) -> pg_sys::Datum {
        pg_sys::Datum::from(self.jsonb)
    }

    /// The value, with objects trimmed to `fields`.
    pub fn to_value(&self, fields: &Fields) -> Value {
        // SAFETY: `jsonb` is a valid detoasted Jsonb for the duration of the call.
        unsafe { container_value(&mut (*self.jsonb).root, fields) }
    }

    /// Every top-level `name: value` pair, in jsonb's (sorted) key order.
    pub fn entries(&self) -> Vec<HeaderEntry<'_>> {
        use pg_sys::JsonbIteratorToken::*;
        let mut entries = Vec::new();
        // SAFETY: `jsonb` is a valid detoasted Jsonb; the iterator only reads it, and every string
        // it hands out points into it, so borrowing them for `&self` is sound.
        unsafe {
            let mut iterator = pg_sys::JsonbIteratorInit(&mut (*self.jsonb).root);
            let mut value: pg_sys::JsonbValue = std::mem::zeroed();
            if pg_sys::JsonbIteratorNext(&mut iterator, &mut value, false) != WJB_BEGIN_OBJECT {
                return entries;
            }
            let mut name: Option<&str> = None;
            loop {
                match pg_sys::JsonbIteratorNext(&mut iterator, &mut value, true) {
                    WJB_KEY => name = jsonb_str(&value),
                    WJB_VALUE => {
                        if let Some(name) = name.take() {
                            entries.push(HeaderEntry { name, value: jsonb_str(&value) });
                        }
                    }
                    WJB_DONE | WJB_END_OBJECT => break,
                    _ => {}
                }
            }
        }
        entries
    }
}
