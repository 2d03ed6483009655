//! HTTP headers → the JSON object `clerk_sync.receive` takes: lower-cased names, values as
//! received. A header sent several times is joined with ", " (RFC 9110 §5.3).

use axum::http::HeaderMap;
use serde_json::{Map, Value};

pub fn to_json(headers: &HeaderMap) -> Value {
    let mut object = Map::new();
    for name in headers.keys() {
        let joined = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(", ");
        object.insert(name.as_str().to_ascii_lowercase(), Value::String(joined));
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderName, HeaderValue};

    #[test]
    fn names_are_lower_case_and_repeats_joined() {
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::from_static("svix-id"), HeaderValue::from_static("msg_1"));
        headers.append(HeaderName::from_static("x-forwarded-for"), HeaderValue::from_static("a"));
        headers.append(HeaderName::from_static("x-forwarded-for"), HeaderValue::from_static("b"));
        headers.insert(HeaderName::from_static("x-odd"), HeaderValue::from_bytes(b"caf\xc3\xa9 \xff").unwrap());
        let json = to_json(&headers);
        assert_eq!(json["svix-id"], "msg_1");
        assert_eq!(json["x-forwarded-for"], "a, b");
        assert_eq!(json["x-odd"], "café \u{fffd}");
    }
}
