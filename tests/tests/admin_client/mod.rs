//! The admin router's client in the tests: a request with a bearer token or none, its
//! answer as JSON; and its event stream (`/events`) read as a browser reads it.

use std::time::Duration;

use serde_json::Value;

/// Sends `request`, with `Authorization: Bearer <token>` if given: the status, and the
/// body as JSON (a string if it is none).
pub async fn send(request: reqwest::RequestBuilder, token: Option<&str>) -> (u16, Value) {
    let request = match token {
        Some(token) => request.header("authorization", format!("Bearer {token}")),
        None => request,
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

/// Reads `response` until an event of kind `kind` whose data names `name` (any, for
/// `None`) comes: that event's id and data, and the kinds of those before it.
/// Keep-alive comments are skipped; at most 5 s.
pub async fn until(
    response: &mut reqwest::Response,
    kind: &str,
    name: Option<&str>,
) -> (String, Value, Vec<String>) {
    let mut text = String::new();
    let mut before = Vec::new();
    let read = async {
        loop {
            let chunk = response
                .chunk()
                .await
                .unwrap()
                .expect("the stream stays open");
            text.push_str(std::str::from_utf8(&chunk).unwrap());
            while let Some(end) = text.find("\n\n") {
                let raw: String = text.drain(..end + 2).collect();
                let field = |key: &str| {
                    raw.lines()
                        .find_map(|l| l.strip_prefix(key))
                        .map(|v| v.trim_start().to_string())
                };
                let Some(this) = field("event:") else {
                    continue; // a keep-alive comment
                };
                let data = field("data:")
                    .and_then(|d| serde_json::from_str::<Value>(&d).ok())
                    .unwrap_or(Value::Null);
                if this == kind && name.map_or(true, |name| data["name"] == name) {
                    return (field("id:").unwrap_or_default(), data);
                }
                before.push(this);
            }
        }
    };
    let (id, data) = tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .unwrap_or_else(|_| panic!("no {kind} about {name:?} within 5 s"));
    (id, data, before)
}
