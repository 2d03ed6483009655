//! Picks the three Svix headers out of whatever header map a proxy forwards.
//!
//! Names are matched case-insensitively; `svix-*` wins over the Standard Webhooks `webhook-*`
//! spelling, header by header; values are trimmed. Two entries that differ only in the case of
//! their name and carry different values make the header ambiguous, which fails verification.

use crate::verify::rejection::{HeaderKind, Rejection};

/// The raw (trimmed, not yet validated) values of the three signature headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeaders<'a> {
    pub id: &'a str,
    pub timestamp: &'a str,
    pub signature: &'a str,
}

/// One forwarded header. `value` is `None` when the forwarder sent something other than a string
/// (a JSON number or array, say).
#[derive(Debug, Clone, Copy)]
pub struct HeaderEntry<'a> {
    pub name: &'a str,
    pub value: Option<&'a str>,
}

impl<'a> SignatureHeaders<'a> {
    pub fn extract<I>(entries: I) -> Result<Self, Rejection>
    where
        I: IntoIterator<Item = HeaderEntry<'a>>,
    {
        let mut slots: [[Slot<'a>; 2]; 3] = Default::default();
        for entry in entries {
            let Some((kind, family)) = classify(entry.name) else {
                continue;
            };
            slots[kind as usize][family].offer(entry.value);
        }
        let pick = |kind: HeaderKind| -> Result<&'a str, Rejection> {
            let [svix, webhook] = &slots[kind as usize];
            let chosen = if svix.present { svix } else { webhook };
            match chosen.state {
                SlotState::Empty => Err(Rejection::MissingHeader(kind)),
                SlotState::Value("") => Err(Rejection::MissingHeader(kind)),
                SlotState::Value(v) => Ok(v),
                SlotState::Invalid => Err(Rejection::InvalidHeader(kind)),
            }
        };
        Ok(Self {
            id: pick(HeaderKind::Id)?,
            timestamp: pick(HeaderKind::Timestamp)?,
            signature: pick(HeaderKind::Signature)?,
        })
    }
}

#[derive(Default)]
struct Slot<'a> {
    present: bool,
    state: SlotState<'a>,
}

#[derive(Default)]
enum SlotState<'a> {
    #[default]
    Empty,
    Value(&'a str),
    Invalid,
}

impl<'a> Slot<'a> {
    fn offer(&mut self, value: Option<&'a str>) {
        self.present = true;
        let value = value.map(str::trim);
        self.state = match (&self.state, value) {
            (_, None) | (SlotState::Invalid, _) => SlotState::Invalid,
            (SlotState::Empty, Some(v)) => SlotState::Value(v),
            (SlotState::Value(old), Some(v)) if *old == v => SlotState::Value(v),
            (SlotState::Value(_), Some(_)) => SlotState::Invalid,
        };
    }
}

/// Maps a header name to (which header, 0 = `svix-` / 1 = `webhook-` family).
fn classify(name: &str) -> Option<(HeaderKind, usize)> {
    let name = name.trim();
    let (family, rest) = if let Some(rest) = strip_prefix_ignore_case(name, "svix-") {
        (0, rest)
    } else if let Some(rest) = strip_prefix_ignore_case(name, "webhook-") {
        (1, rest)
    } else {
        return None;
    };
    let kind = if rest.eq_ignore_ascii_case("id") {
        HeaderKind::Id
    } else if rest.eq_ignore_ascii_case("timestamp") {
        HeaderKind::Timestamp
    } else if rest.eq_ignore_ascii_case("signature") {
        HeaderKind::Signature
    } else {
        return None;
    };
    Some((kind, family))
}

fn strip_prefix_ignore_case<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Iterator<Item = HeaderEntry<'a>> {
        pairs.iter().map(|(name, value)| HeaderEntry { name, value: Some(value) })
    }

    #[test]
    fn names_are_case_insensitive_and_values_trimmed() {
        let pairs = [
            ("SVIX-ID", " msg_1 "),
            ("Svix-Timestamp", "\t123\n"),
            ("sViX-sIgNaTuRe", "v1,abc"),
            ("content-type", "application/json"),
        ];
        let h = SignatureHeaders::extract(entries(&pairs)).unwrap();
        assert_eq!(h, SignatureHeaders { id: "msg_1", timestamp: "123", signature: "v1,abc" });
    }

    #[test]
    fn webhook_family_is_the_fallback_header_by_header() {
        let pairs = [
            ("webhook-id", "msg_w"),
            ("webhook-timestamp", "1"),
            ("webhook-signature", "v1,w"),
            ("svix-signature", "v1,s"),
        ];
        let h = SignatureHeaders::extract(entries(&pairs)).unwrap();
        assert_eq!(h.id, "msg_w");
        assert_eq!(h.signature, "v1,s");
    }

    #[test]
    fn missing_and_empty_headers_are_reported_by_kind() {
        let pairs = [("svix-id", "m"), ("svix-timestamp", "1")];
        assert_eq!(SignatureHeaders::extract(entries(&pairs)), Err(Rejection::MissingHeader(HeaderKind::Signature)));
        let pairs = [("svix-id", "   "), ("svix-timestamp", "1"), ("svix-signature", "v1,x")];
        assert_eq!(SignatureHeaders::extract(entries(&pairs)), Err(Rejection::MissingHeader(HeaderKind::Id)));
        assert_eq!(SignatureHeaders::extract(std::iter::empty()), Err(Rejection::MissingHeader(HeaderKind::Id)));
    }

    #[test]
    fn conflicting_duplicates_and_non_strings_are_invalid() {
        let pairs = [("svix-id", "a"), ("Svix-Id", "b"), ("svix-timestamp", "1"), ("svix-signature", "v1,x")];
        assert_eq!(SignatureHeaders::extract(entries(&pairs)), Err(Rejection::InvalidHeader(HeaderKind::Id)));
        let same_twice = [("svix-id", "a"), ("Svix-Id", " a"), ("svix-timestamp", "1"), ("svix-signature", "v1,x")];
        assert_eq!(SignatureHeaders::extract(entries(&same_twice)).unwrap().id, "a");

        let non_string = [
            HeaderEntry { name: "svix-id", value: Some("a") },
            HeaderEntry { name: "svix-timestamp", value: None },
            HeaderEntry { name: "svix-signature", value: Some("v1,x") },
        ];
        assert_eq!(SignatureHeaders::extract(non_string), Err(Rejection::InvalidHeader(HeaderKind::Timestamp)));
    }

    #[test]
    fn near_miss_names_are_ignored() {
        let pairs = [("svix-idx", "a"), ("x-svix-id", "b"), ("svix_id", "c"), ("é", "d")];
        assert_eq!(SignatureHeaders::extract(entries(&pairs)), Err(Rejection::MissingHeader(HeaderKind::Id)));
    }
}
