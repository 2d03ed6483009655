//! The bad-input catalogue: malformed, forged and hostile deliveries, each with the status it
//! must get, sent over HTTP through the proxy and over SQL to `clerk_sync.receive`. Afterwards:
//! nothing unverified is stored and every verified delivery is stored and correct.
//!
//! Needs a database with the extension, the sign-up guide's tables and the test secret, and a
//! proxy in front of it; `tests/e2e/bad_input.sh` sets both up and runs
//! `cargo test -p clerk_sync_proxy --test bad_input -- --ignored`.

use std::time::{SystemTime, UNIX_EPOCH};

use clerk_sync_core::{sign, SigningKey};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_SECRET: &str = "whsec_plJ3nmyCDGBKInavdOK15jsl";
const HOSTILE: &str = "Robert'); DROP TABLE \"User\"; -- $$ \\ %s ${x} `id` \u{0}";

struct Case {
    name: &'static str,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    status: u16,
    /// Sent over HTTP only (SQL text cannot carry it: invalid UTF-8, NUL).
    http_only: bool,
    /// The signature verified, so the inbox must hold the delivery.
    stored: bool,
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn key(secret: &str) -> SigningKey {
    SigningKey::parse(secret).unwrap()
}

/// A Clerk-shaped user.created for `user_id`, with `edit` applied to its JSON.
fn event(user_id: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut event = json!({
        "data": {
            "id": user_id, "object": "user", "username": null,
            "first_name": "Bad", "last_name": "Input", "image_url": "https://img.clerk.com/x",
            "email_addresses": [{"id": "idn_1", "email_address": format!("{user_id}@example.com")}],
            "primary_email_address_id": "idn_1", "phone_numbers": [], "primary_phone_number_id": null,
            "created_at": 1767225600000i64, "updated_at": 1767225600000i64
        },
        "object": "event", "timestamp": 1767225600000i64, "type": "user.created"
    });
    edit(&mut event);
    event.to_string().into_bytes()
}

fn signed_headers(msg_id: &str, ts: i64, body: &[u8], secret: &str) -> Vec<(String, Vec<u8>)> {
    let signature = sign(&key(secret), msg_id, ts, body);
    vec![
        ("svix-id".into(), msg_id.as_bytes().to_vec()),
        ("svix-timestamp".into(), ts.to_string().into_bytes()),
        ("svix-signature".into(), signature.into_bytes()),
    ]
}

fn set(headers: &mut Vec<(String, Vec<u8>)>, name: &str, value: &str) {
    headers.retain(|(n, _)| n != name);
    headers.push((name.into(), value.as_bytes().to_vec()));
}

fn catalogue(prefix: &str) -> Vec<Case> {
    let ts = now();
    let mut cases = Vec::new();
    let mut n = 0;
    let mut next = |name: &'static str| {
        n += 1;
        (name, format!("msg_{prefix}_{n:02}"), format!("user_{prefix}_{n:02}"))
    };

    // A valid delivery, then one edit of its headers or body, signed or not.
    type HeaderEdit<'a> = dyn Fn(&mut Vec<(String, Vec<u8>)>, &str, &[u8]) + 'a;
    let mut header_case = |name: &'static str, status: u16, stored: bool, edit: &HeaderEdit<'_>| {
        let (name, msg, user) = next(name);
        let body = event(&user, |_| {});
        let mut headers = signed_headers(&msg, ts, &body, SECRET);
        edit(&mut headers, &msg, &body);
        cases.push(Case { name, headers, body, status, http_only: false, stored });
    };
    header_case("no svix headers at all", 401, false, &|h, _, _| h.clear());
    header_case("svix-id missing", 401, false, &|h, _, _| h.retain(|(n, _)| n != "svix-id"));
    header_case("svix-timestamp missing", 401, false, &|h, _, _| h.retain(|(n, _)| n != "svix-timestamp"));
    header_case("svix-signature missing", 401, false, &|h, _, _| h.retain(|(n, _)| n != "svix-signature"));
    header_case("svix-id empty", 401, false, &|h, _, _| set(h, "svix-id", ""));
    header_case("svix-signature empty", 401, false, &|h, _, _| set(h, "svix-signature", ""));
    header_case("svix-timestamp empty", 401, false, &|h, _, _| set(h, "svix-timestamp", ""));
    header_case("svix-id given twice, different values", 401, false, &|h, _, _| {
        h.push(("svix-id".into(), b"msg_other".to_vec()));
    });
    header_case("svix-timestamp not digits", 401, false, &|h, _, _| set(h, "svix-timestamp", "soon"));
    header_case("svix-timestamp negative", 401, false, &|h, _, _| set(h, "svix-timestamp", "-1"));
    header_case("svix-timestamp with a fraction", 401, false, &|h, _, _| set(h, "svix-timestamp", &format!("{ts}.5")));
    header_case("svix-timestamp huge", 401, false, &|h, _, _| set(h, "svix-timestamp", "99999999999999999999999"));
    header_case("timestamp 10 minutes old, signed", 401, false, &|h, m, b| *h = signed_headers(m, ts - 600, b, SECRET));
    header_case("timestamp 10 minutes ahead, signed", 401, false, &|h, m, b| {
        *h = signed_headers(m, ts + 600, b, SECRET)
    });
    header_case("signature is junk", 401, false, &|h, _, _| set(h, "svix-signature", "garbage ,,, v1,!!!"));
    header_case("right MAC under a v2 label", 401, false, &|h, m, b| {
        let mac = sign(&key(SECRET), m, ts, b);
        set(h, "svix-signature", &mac.replacen("v1,", "v2,", 1));
    });
    header_case("signed with another secret", 401, false, &|h, m, b| *h = signed_headers(m, ts, b, OTHER_SECRET));
    header_case("signature of another message id", 401, false, &|h, _, b| {
        let other = signed_headers("msg_elsewhere", ts, b, SECRET);
        set(h, "svix-signature", std::str::from_utf8(&other[2].1).unwrap());
    });
    header_case("valid entry among junk and other versions", 200, true, &|h, m, b| {
        let mac = sign(&key(SECRET), m, ts, b);
        set(h, "svix-signature", &format!("v1a,xyz v2,{} {mac} v1,AAAA", &mac[3..]));
    });
    header_case("webhook-* headers (Standard Webhooks)", 200, true, &|h, _, _| {
        for (name, _) in h.iter_mut() {
            *name = name.replacen("svix-", "webhook-", 1);
        }
    });
    header_case("header names in capitals", 200, true, &|h, _, _| {
        for (name, _) in h.iter_mut() {
            *name = name.to_uppercase();
        }
    });

    // Bodies that do not match their signature.
    let mut tampered = |name: &'static str, change: &dyn Fn(&mut Vec<u8>)| {
        let (name, msg, user) = next(name);
        let body = event(&user, |_| {});
        let headers = signed_headers(&msg, ts, &body, SECRET);
        let mut changed = body.clone();
        change(&mut changed);
        cases.push(Case { name, headers, body: changed, status: 401, http_only: false, stored: false });
    };
    tampered("one byte of the body changed", &|b| b[10] ^= 1);
    tampered("a newline appended to the body", &|b| b.push(b'\n'));
    tampered("the body re-serialised (spaces added)", &|b| {
        *b = String::from_utf8(b.clone()).unwrap().replace(",", ", ").into_bytes();
    });

    // Signed bodies that are not valid events.
    let mut signed_body =
        |name: &'static str, status: u16, http_only: bool, stored: bool, make: &dyn Fn(&str) -> Vec<u8>| {
            let (name, msg, user) = next(name);
            let body = make(&user);
            let headers = signed_headers(&msg, ts, &body, SECRET);
            cases.push(Case { name, headers, body, status, http_only, stored });
        };
    signed_body("truncated JSON", 400, false, true, &|u| event(u, |_| {})[..40].to_vec());
    signed_body("empty body", 400, false, true, &|_| Vec::new());
    signed_body("invalid UTF-8", 400, true, false, &|_| b"{\"type\": \"user.created\", \"x\": \"\xff\xfe\"}".to_vec());
    signed_body("a NUL byte", 400, true, false, &|_| b"{\"type\": \"user.\x00created\"}".to_vec());
    signed_body("JSON nested 100,000 deep", 400, false, true, &|_| {
        let mut body = "[".repeat(100_000).into_bytes();
        body.extend("]".repeat(100_000).into_bytes());
        body
    });
    signed_body("a JSON array", 400, false, true, &|u| {
        format!("[{}]", String::from_utf8(event(u, |_| {})).unwrap()).into_bytes()
    });
    signed_body("a JSON string", 400, false, true, &|_| b"\"user.created\"".to_vec());
    signed_body("type missing", 400, false, true, &|u| event(u, |e| drop(e.as_object_mut().unwrap().remove("type"))));
    signed_body("type a number", 400, false, true, &|u| event(u, |e| e["type"] = json!(7)));
    signed_body("data missing", 400, false, true, &|u| event(u, |e| drop(e.as_object_mut().unwrap().remove("data"))));
    signed_body("data.id missing", 400, false, true, &|u| {
        event(u, |e| drop(e["data"].as_object_mut().unwrap().remove("id")))
    });
    signed_body("data.id a number", 400, false, true, &|u| event(u, |e| e["data"]["id"] = json!(42)));
    signed_body("first_name a number", 400, false, true, &|u| event(u, |e| e["data"]["first_name"] = json!(1)));
    signed_body("last_name an array", 400, false, true, &|u| event(u, |e| e["data"]["last_name"] = json!(["x"])));
    signed_body("username an object", 400, false, true, &|u| event(u, |e| e["data"]["username"] = json!({})));
    signed_body("image_url a boolean", 400, false, true, &|u| event(u, |e| e["data"]["image_url"] = json!(true)));
    signed_body("email_addresses a string", 400, false, true, &|u| {
        event(u, |e| e["data"]["email_addresses"] = json!("a@b.c"))
    });
    signed_body("email_address a number", 400, false, true, &|u| {
        event(u, |e| e["data"]["email_addresses"][0]["email_address"] = json!(5))
    });
    signed_body("primary_email_address_id a number", 400, false, true, &|u| {
        event(u, |e| e["data"]["primary_email_address_id"] = json!(1))
    });
    signed_body("updated_at a string", 400, false, true, &|u| {
        event(u, |e| e["data"]["updated_at"] = json!("yesterday"))
    });
    signed_body("created_at a fraction", 400, false, true, &|u| event(u, |e| e["data"]["created_at"] = json!(1.5)));
    signed_body("updated_at out of range", 400, false, true, &|u| event(u, |e| e["data"]["updated_at"] = json!(1e300)));
    signed_body("user.deleted without timestamp", 400, false, true, &|u| {
        json!({"type": "user.deleted", "data": {"id": u, "deleted": true}}).to_string().into_bytes()
    });
    signed_body("an unknown event type", 200, false, true, &|u| event(u, |e| e["type"] = json!("email.created")));
    signed_body("a 100,000-character first name", 200, false, true, &|u| {
        event(u, |e| e["data"]["first_name"] = json!("é".repeat(100_000)))
    });
    signed_body("a 2,000-character Clerk username", 200, false, true, &|u| {
        event(u, |e| e["data"]["username"] = json!("u".repeat(2_000)))
    });
    signed_body("SQL and shell metacharacters in every string", 200, false, true, &|u| {
        event(u, |e| {
            let hostile = HOSTILE.replace('\u{0}', "");
            for field in ["first_name", "last_name", "image_url", "username"] {
                e["data"][field] = json!(format!("{hostile} {field}"));
            }
            e["data"]["email_addresses"][0]["email_address"] = json!(format!("{hostile}{u}@example.com"));
        })
    });

    // Too large: answered before anything else.
    let (name, msg, _) = next("a 100 MB body");
    let body = vec![b' '; 100 * 1024 * 1024];
    cases.push(Case {
        name,
        headers: signed_headers(&msg, ts, b"{}", SECRET),
        body,
        status: 413,
        http_only: false,
        stored: false,
    });
    cases
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run tests/e2e/bad_input.sh"))
}

/// Bodies past this are sent as a client that reads an early answer does (curl, say): the
/// proxy answers a declared length over the limit at once and closes the connection without
/// reading the rest, so a client that only reads once it has sent everything sees a reset.
const EARLY_ANSWER_PAST: usize = 8 * 1024 * 1024;

async fn send_http(url: &hyper::Uri, case: &Case) -> u16 {
    if case.body.len() > EARLY_ANSWER_PAST {
        return send_reading_early(url, case).await;
    }
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = hyper::Request::post(url.clone()).header("content-type", "application/json");
    for (name, value) in &case.headers {
        request = request.header(name.as_str(), value.as_slice());
    }
    let request = request.body(Full::new(Bytes::from(case.body.clone()))).unwrap();
    match client.request(request).await {
        Ok(response) => {
            let status = response.status().as_u16();
            let _ = response.into_body().collect().await;
            status
        }
        Err(error) => panic!("{}: {error}", case.name),
    }
}

/// Sends the head and the body while reading the answer; the status of its first line.
async fn send_reading_early(url: &hyper::Uri, case: &Case) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = format!("{}:{}", url.host().unwrap(), url.port_u16().unwrap());
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let mut head =
        format!("POST {} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n", url.path(), url.host().unwrap());
    for (name, value) in &case.headers {
        head.push_str(&format!("{name}: {}\r\n", String::from_utf8_lossy(value)));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", case.body.len()));
    let body = case.body.clone();
    let sender = tokio::spawn(async move {
        let _ = writer.write_all(head.as_bytes()).await;
        let _ = writer.write_all(&body).await;
    });
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while !answer.windows(2).any(|w| w == b"\r\n") {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    sender.abort();
    assert!(read.is_ok(), "{}: no answer within 10 s", case.name);
    let line = String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_owned();
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{}: answered {line:?}", case.name))
}

async fn database() -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(&env("CLERK_SYNC_TEST_DATABASE_URL"), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

async fn send_sql(client: &tokio_postgres::Client, case: &Case) -> u16 {
    let headers: serde_json::Map<String, Value> =
        case.headers.iter().map(|(n, v)| (n.clone(), Value::String(String::from_utf8_lossy(v).into_owned()))).collect();
    let body = std::str::from_utf8(&case.body).unwrap();
    let row = client
        .query_one("SELECT clerk_sync.receive($1::jsonb, $2::text)", &[&Value::Object(headers), &body])
        .await
        .unwrap_or_else(|e| panic!("{}: receive raised: {e}", case.name));
    row.get::<_, Value>(0)["status"].as_u64().unwrap() as u16
}

/// Checks every status, then what the inbox and the users table hold.
async fn check(prefix: &str, cases: &[Case], statuses: Vec<(usize, u16)>) {
    let mut wrong = Vec::new();
    for (i, status) in &statuses {
        if cases[*i].status != *status {
            wrong.push(format!("{}: expected {}, got {status}", cases[*i].name, cases[*i].status));
        }
    }
    println!("{prefix}: {} cases sent, {} answered as expected", statuses.len(), statuses.len() - wrong.len());
    assert!(wrong.is_empty(), "{prefix}:\n{}", wrong.join("\n"));

    let client = database().await;
    let stored: Vec<String> = client
        .query(
            "SELECT msg_id FROM clerk_sync.inbox WHERE msg_id LIKE $1 ORDER BY msg_id",
            &[&format!("msg_{prefix}_%")],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let expected: Vec<String> = statuses
        .iter()
        .filter(|(i, _)| cases[*i].stored)
        .map(|(i, _)| {
            std::str::from_utf8(
                &cases[*i]
                    .headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("svix-id") || n.eq_ignore_ascii_case("webhook-id"))
                    .unwrap()
                    .1,
            )
            .unwrap()
            .to_owned()
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(stored, expected, "{prefix}: the inbox holds exactly the verified deliveries");

    let hostile = HOSTILE.replace('\u{0}', "");
    let rows = client
        .query(
            "SELECT \"firstName\", \"lastName\", \"photoUrl\", email FROM \"User\" WHERE \"firstName\" LIKE 'Robert%' AND \"clerkUserId\" LIKE $1",
            &[&format!("user_{prefix}_%")],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{prefix}: the hostile strings were stored once");
    let row = &rows[0];
    assert_eq!(row.get::<_, String>(0), format!("{hostile} first_name"));
    assert_eq!(row.get::<_, String>(1), format!("{hostile} last_name"));
    assert_eq!(row.get::<_, String>(2), format!("{hostile} image_url"));
    assert!(row.get::<_, String>(3).starts_with(&hostile), "{prefix}: the hostile email was stored verbatim");
    let long: i64 = client
        .query_one(
            "SELECT max(char_length(\"firstName\"))::int8 FROM \"User\" WHERE \"clerkUserId\" LIKE $1",
            &[&format!("user_{prefix}_%")],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(long, 100_000, "{prefix}: the long name was stored whole");
}

#[tokio::test]
#[ignore = "needs a database and a proxy: tests/e2e/bad_input.sh"]
async fn over_http_through_the_proxy() {
    let url: hyper::Uri = env("CLERK_SYNC_TEST_PROXY_URL").parse().unwrap();
    let cases = catalogue("http");
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut statuses = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        statuses.push((i, send_http(&url, case).await));
    }
    check("http", &cases, statuses).await;
}

#[tokio::test]
#[ignore = "needs a database: tests/e2e/bad_input.sh"]
async fn over_sql_through_receive() {
    let client = database().await;
    let cases = catalogue("sql");
    let mut statuses = Vec::new();
    for (i, case) in cases.iter().enumerate().filter(|(_, c)| !c.http_only) {
        statuses.push((i, send_sql(&client, case).await));
    }
    assert!(statuses.len() >= 40, "{} cases", statuses.len());
    check("sql", &cases, statuses).await;
}
