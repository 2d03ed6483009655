//! Clerk's Backend API as `sync` reads it: GETs with the secret key, JSON back; a 429 is asked
//! again after its `Retry-After`, a 5xx or a broken connection after a growing pause.

use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::header::{HeaderValue, ACCEPT, AUTHORIZATION, RETRY_AFTER, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

pub const DEFAULT_URL: &str = "https://api.clerk.com/v1";

/// The Backend API's largest page.
pub const MAX_LIMIT: usize = 500;

/// A Retry-After longer than this is not waited out in one go.
const LONGEST_WAIT: Duration = Duration::from_secs(120);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_RESPONSE_BYTES: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Clerk's Backend API refused the secret key ({0}): check CLERK_SECRET_KEY")]
    Unauthorized(u16),
    #[error("Clerk's Backend API answered {status} to {what}")]
    Status { status: u16, what: String },
    #[error("{what}: {error}")]
    Transport { what: String, error: String },
    #[error("{what}: the answer is not what the Backend API sends ({error})")]
    Shape { what: String, error: String },
}

/// How long to wait before asking again after an answer with `status` (None: no answer, the
/// connection broke or timed out) on attempt `attempt` (from 0), or None when not to ask again.
pub fn retry_delay(status: Option<u16>, retry_after: Option<&str>, attempt: u32, first: Duration) -> Option<Duration> {
    let growing = first.saturating_mul(2u32.saturating_pow(attempt)).min(Duration::from_secs(30));
    match status {
        Some(429) => {
            let asked = retry_after.and_then(|s| s.trim().parse::<u64>().ok()).map(Duration::from_secs);
            Some(asked.unwrap_or(growing).min(LONGEST_WAIT))
        }
        Some(500..=599) | None => Some(growing),
        Some(_) => None,
    }
}

/// The key goes over TLS only, or to this machine.
fn checked_base(url: &str) -> Result<String, String> {
    let uri: Uri = url.parse().map_err(|e| format!("CLERK_API_URL {url}: {e}"))?;
    let host = uri.host().unwrap_or_default();
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if ["127.0.0.1", "localhost", "[::1]", "::1"].contains(&host) => {}
        _ => return Err(format!("CLERK_API_URL {url}: must be https:// (http:// only to this machine)")),
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// Every byte but letters, digits, `_` and `-` is escaped in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'_').remove(b'-');

/// `id` as one path segment.
fn path_segment(id: &str) -> String {
    utf8_percent_encode(id, SEGMENT).to_string()
}

/// A list of the Backend API: users, organizations, one organization's memberships, or Clerk
/// Billing's subscription items (the default plan's too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum List {
    Users,
    Organizations,
    Memberships { organization: String },
    SubscriptionItems,
}

impl List {
    fn path(&self) -> String {
        match self {
            List::Users => "/users".into(),
            List::Organizations => "/organizations".into(),
            List::Memberships { organization } => format!("/organizations/{}/memberships", path_segment(organization)),
            List::SubscriptionItems => "/billing/subscription_items".into(),
        }
    }

    /// How a page of it is asked for, after `limit` and `offset`.
    fn query(&self) -> &'static str {
        match self {
            List::SubscriptionItems => "&include_free=true",
            _ => "&order_by=%2Bcreated_at",
        }
    }

    /// What it lists, for people.
    pub fn noun(&self) -> &'static str {
        match self {
            List::Users => "users",
            List::Organizations => "organizations",
            List::Memberships { .. } => "memberships",
            List::SubscriptionItems => "subscription_items",
        }
    }

    /// Its name in a checkpoint.
    pub fn key(&self) -> String {
        match self {
            List::Memberships { organization } => format!("memberships of {organization}"),
            other => other.noun().to_owned(),
        }
    }
}

pub struct BackendApi {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    base: String,
    authorization: HeaderValue,
    max_retries: u32,
    first_pause: Duration,
    /// Requests asked again so far.
    pub retries: u32,
}

impl BackendApi {
    pub fn new(base_url: &str, secret_key: &str, max_retries: u32, first_pause: Duration) -> Result<Self, String> {
        let base = checked_base(base_url)?;
        if secret_key.starts_with("pk_") {
            return Err("CLERK_SECRET_KEY holds a publishable key (pk_…); the secret key starts with sk_".into());
        }
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", secret_key.trim()))
            .map_err(|_| "CLERK_SECRET_KEY holds characters a header cannot carry".to_owned())?;
        authorization.set_sensitive(true);
        let connector =
            hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots().https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(BackendApi { client, base, authorization, max_retries, first_pause, retries: 0 })
    }

    /// GETs `path` (after the base URL); None for a 404.
    async fn get(&mut self, path: &str) -> Result<Option<Value>, ApiError> {
        let what = format!("GET {path}");
        let uri: Uri = format!("{}{path}", self.base).parse().map_err(|e: hyper::http::uri::InvalidUri| {
            ApiError::Transport { what: what.clone(), error: e.to_string() }
        })?;
        let mut attempt = 0;
        loop {
            let request = Request::get(uri.clone())
                .header(AUTHORIZATION, self.authorization.clone())
                .header(ACCEPT, "application/json")
                .header(USER_AGENT, concat!("clerk-sync-proxy/", env!("CARGO_PKG_VERSION")))
                .body(Empty::new())
                .map_err(|e| ApiError::Transport { what: what.clone(), error: e.to_string() })?;
            let answer = tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(request)).await;
            let (status, retry_after, failure) = match answer {
                Ok(Ok(response)) => {
                    let status = response.status();
                    if status.is_success() {
                        return read_json(response, &what).await.map(Some);
                    }
                    if status == StatusCode::NOT_FOUND {
                        return Ok(None);
                    }
                    if matches!(status.as_u16(), 401 | 403) {
                        return Err(ApiError::Unauthorized(status.as_u16()));
                    }
                    let retry_after =
                        response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
                    let failure = ApiError::Status { status: status.as_u16(), what: what.clone() };
                    (Some(status.as_u16()), retry_after, failure)
                }
                Ok(Err(error)) => (None, None, ApiError::Transport { what: what.clone(), error: error.to_string() }),
                Err(_) => {
                    (None, None, ApiError::Transport { what: what.clone(), error: "no answer within 30 s".into() })
                }
            };
            let delay = retry_delay(status, retry_after.as_deref(), attempt, self.first_pause);
            match delay {
                Some(delay) if attempt < self.max_retries => {
                    tracing::info!("{failure}; asking again in {:.1} s", delay.as_secs_f64());
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                    self.retries += 1;
                }
                _ => return Err(failure),
            }
        }
    }

    /// Objects `offset..offset + limit` of the list, oldest first.
    pub async fn page(&mut self, list: &List, offset: usize, limit: usize) -> Result<Vec<Value>, ApiError> {
        let path = format!("{}?limit={limit}&offset={offset}{}", list.path(), list.query());
        match self.get(&path).await? {
            // The user list is an array; other lists come as {"data": [...], "total_count": n}.
            Some(Value::Array(users)) => Ok(users),
            Some(Value::Object(mut page)) => match page.remove("data") {
                Some(Value::Array(users)) => Ok(users),
                _ => Err(ApiError::Shape { what: path, error: "no data array".into() }),
            },
            Some(_) => Err(ApiError::Shape { what: path, error: "neither an array nor a page".into() }),
            None => Err(ApiError::Status { status: 404, what: format!("GET {path}") }),
        }
    }

    /// How many users there are, for the progress bar.
    pub async fn users_count(&mut self) -> Result<u64, ApiError> {
        let answer = self.get("/users/count").await?;
        answer
            .as_ref()
            .and_then(|count| count.get("total_count"))
            .and_then(Value::as_u64)
            .ok_or_else(|| ApiError::Shape { what: "GET /users/count".into(), error: "no total_count".into() })
    }

    /// The user, or None when Clerk has no such user.
    pub async fn user(&mut self, id: &str) -> Result<Option<Value>, ApiError> {
        self.get(&format!("/users/{}", path_segment(id))).await
    }

    /// The organization, or None when Clerk has no such organization.
    pub async fn organization(&mut self, id: &str) -> Result<Option<Value>, ApiError> {
        self.get(&format!("/organizations/{}", path_segment(id))).await
    }
}

/// The response's body as JSON: at most MAX_RESPONSE_BYTES, read within REQUEST_TIMEOUT (a server
/// that sends its headers and then trickles the body is given up on like one that never answers).
async fn read_json(response: hyper::Response<hyper::body::Incoming>, what: &str) -> Result<Value, ApiError> {
    let transport = |error: String| ApiError::Transport { what: what.to_owned(), error };
    let body = tokio::time::timeout(REQUEST_TIMEOUT, Limited::new(response.into_body(), MAX_RESPONSE_BYTES).collect())
        .await
        .map_err(|_| transport(format!("no whole body within {} s", REQUEST_TIMEOUT.as_secs())))?
        .map_err(|e| transport(e.to_string()))?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|e| ApiError::Shape { what: what.to_owned(), error: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: Duration = Duration::from_millis(500);

    #[test]
    fn a_429_waits_as_long_as_it_says() {
        assert_eq!(retry_delay(Some(429), Some("3"), 0, FIRST), Some(Duration::from_secs(3)));
        assert_eq!(retry_delay(Some(429), Some(" 7 "), 5, FIRST), Some(Duration::from_secs(7)));
        assert_eq!(retry_delay(Some(429), Some("9999"), 0, FIRST), Some(LONGEST_WAIT), "capped");
        assert_eq!(
            retry_delay(Some(429), None, 1, FIRST),
            Some(Duration::from_secs(1)),
            "no header: the growing pause"
        );
        assert_eq!(retry_delay(Some(429), Some("Wed, 21 Oct 2026 07:28:00 GMT"), 0, FIRST), Some(FIRST));
    }

    #[test]
    fn a_5xx_or_a_broken_connection_waits_longer_each_time_and_other_answers_are_final() {
        let pauses: Vec<_> = (0..8).map(|a| retry_delay(Some(503), None, a, FIRST).unwrap().as_millis()).collect();
        assert_eq!(pauses, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(retry_delay(None, None, 0, FIRST), Some(FIRST));
        for status in [400, 401, 403, 404, 422] {
            assert_eq!(retry_delay(Some(status), Some("1"), 0, FIRST), None, "{status}");
        }
    }

    #[test]
    fn the_key_goes_over_tls_or_stays_on_this_machine() {
        assert_eq!(checked_base("https://api.clerk.com/v1/").unwrap(), "https://api.clerk.com/v1");
        assert!(checked_base("http://127.0.0.1:8080/v1").is_ok());
        assert!(checked_base("http://localhost:8080").is_ok());
        assert!(checked_base("http://api.clerk.com/v1").is_err());
        assert!(checked_base("ftp://x").is_err());
        assert!(BackendApi::new(DEFAULT_URL, "pk_test_abc", 1, FIRST).is_err(), "the publishable key");
    }

    #[test]
    fn lists_have_their_paths_and_names() {
        let memberships = List::Memberships { organization: "org_1/..".into() };
        assert_eq!(memberships.path(), "/organizations/org_1%2F%2E%2E/memberships");
        assert_eq!(memberships.key(), "memberships of org_1/..");
        assert_eq!((List::Users.path(), List::Organizations.key()), ("/users".to_owned(), "organizations".to_owned()));
    }

    #[test]
    fn an_id_stays_one_path_segment() {
        assert_eq!(path_segment("user_2zQmA7bXkP4rLwN9"), "user_2zQmA7bXkP4rLwN9");
        assert_eq!(path_segment("../x?y=1"), "%2E%2E%2Fx%3Fy%3D1");
    }
}
