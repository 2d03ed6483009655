//! `send-test`: signs a `user.created` with CLERK_WEBHOOK_SECRET and posts it, like the Testing
//! tab of the Clerk dashboard.

use std::time::{SystemTime, UNIX_EPOCH};

use clerk_sync_core::{sign, SigningKey};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

/// A Clerk-shaped `user.created` for a new user, as one compact line (how Svix sends it).
pub fn test_event(now_ms: u128) -> (String, String) {
    let user_id = format!("user_test{now_ms:x}");
    let email_id = format!("idn_test{now_ms:x}");
    let event = json!({
        "data": {
            "id": user_id,
            "object": "user",
            "username": null,
            "first_name": "Test",
            "last_name": "User",
            "image_url": "https://img.clerk.com/test",
            "email_addresses": [{"id": email_id, "email_address": format!("test+{now_ms:x}@example.com"), "object": "email_address"}],
            "primary_email_address_id": email_id,
            "phone_numbers": [],
            "primary_phone_number_id": null,
            "created_at": now_ms,
            "updated_at": now_ms
        },
        "object": "event",
        "timestamp": now_ms,
        "type": "user.created"
    });
    (user_id, event.to_string())
}

pub async fn send(url: &str, secret: &str) -> Result<u16, String> {
    let key = SigningKey::parse(secret).map_err(|e| format!("CLERK_WEBHOOK_SECRET: {e}"))?;
    let uri: hyper::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("{url}: only http:// URLs (the local endpoint) are supported"));
    }
    uri.host().ok_or_else(|| format!("{url}: no host"))?;

    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?;
    let (user_id, body) = test_event(now.as_millis());
    let msg_id = format!("msg_test{:x}", now.as_nanos());
    let timestamp = now.as_secs() as i64;
    let signature = sign(&key, &msg_id, timestamp, body.as_bytes());

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = Request::post(uri.clone())
        .header("content-type", "application/json")
        .header("user-agent", "clerk-sync-proxy send-test")
        .header("svix-id", &msg_id)
        .header("svix-timestamp", timestamp.to_string())
        .header("svix-signature", signature)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| format!("cannot post to {url}: {e}"))?;
    let status = response.status().as_u16();
    let answer = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    println!("sent user.created for {user_id} (svix-id {msg_id}) to {url}");
    println!("{status} {}", String::from_utf8_lossy(&answer));
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::test_event;
    use clerk_sync_core::{parse_event, ClerkEvent};

    #[test]
    fn the_test_event_maps_to_a_new_user() {
        let (user_id, body) = test_event(1_767_225_600_000);
        let parsed = parse_event(&serde_json::from_str(&body).unwrap()).unwrap();
        match parsed {
            ClerkEvent::Upsert { user, order_ms } => {
                assert_eq!(user.clerk_id, user_id);
                assert_eq!(order_ms, 1_767_225_600_000);
                assert!(user.email.unwrap().ends_with("@example.com"));
            }
            other => panic!("{other:?}"),
        }
        assert!(!body.contains('\n'));
    }
}
