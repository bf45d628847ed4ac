//! The dashboard page: its HTML, script and style, served by the crate. The HTML holds
//! no data (so it loads without a token, then asks for one if reads need it) and no
//! inline script: the page's `Content-Security-Policy` allows only the router's own
//! script and style, and no framing, so its buttons cannot be clickjacked.

use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::Admin;

const HTML: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("page.js");
const STYLE: &str = include_str!("page.css");

/// What the page may load and who may frame it: nothing but the router's own files,
/// and nobody.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'none'";

/// `GET /`: the page, its files' URLs made from where the router is nested, which the
/// request's original path says (`/admin` and `/admin/` alike).
pub(super) async fn html(
    State(admin): State<Arc<Admin>>,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let path = uri.path();
    let base = if path.ends_with('/') {
        path.to_string()
    } else {
        format!("{path}/")
    };
    let page = HTML
        .replace("{{base}}", &escape(&base))
        .replace("{{writes}}", admin.access.mode())
        .replace("{{reads}}", admin.access.reads_mode());
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        page,
    )
        .into_response()
}

pub(super) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

pub(super) async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

fn asset(kind: &'static str, text: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        text,
    )
        .into_response()
}

/// `text` in an HTML attribute.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
