//! A `jsonb` header map read in place with Postgres' own iterator: no text round trip, no
//! serde. Values that are not JSON strings are passed on as `None`; a non-object yields nothing.

use clerk_sync_core::HeaderEntry;
use pgrx::pg_sys;
use pgrx::FromDatum;

/// A detoasted `jsonb` argument, valid for the duration of the function call.
pub struct HeaderMap {
    jsonb: *mut pg_sys::Jsonb,
}

pgrx::impl_sql_translatable!(HeaderMap, arg_only = "jsonb");

impl FromDatum for HeaderMap {
    unsafe fn from_polymorphic_datum(datum: pg_sys::Datum, is_null: bool, _: pg_sys::Oid) -> Option<Self> {
        if is_null {
            return None;
        }
        // SAFETY: the argument is declared `jsonb`; detoasting yields a 4-byte-header copy (or the
        // original) in the current memory context, which outlives this call.
        let jsonb = unsafe { pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) } as *mut pg_sys::Jsonb;
        Some(HeaderMap { jsonb })
    }
}

// SAFETY: the SQL signature declares this argument `jsonb`, which is what from_datum expects.
unsafe impl<'fcx> pgrx::callconv::ArgAbi<'fcx> for HeaderMap {
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

impl HeaderMap {
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
