//! A Redis that speaks TLS only, with a certificate authority made by the test
//! (`openssl`): a replica that trusts it shares the fleet; one that does not is a
//! degraded backend whose breaker runs locally, and no error reaches a caller.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use breaker_runtime::shared::RedisBackend;
use breaker_runtime::{CircuitBreaker, State};
use breaker_tests::redis_server::RedisServer;
use breaker_tests::{poll_until, TestError as E};

/// A CA, and a server certificate for 127.0.0.1 signed by it, in `dir`.
fn certificates(dir: &Path) -> bool {
    let openssl = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "1",
        "-subj",
        "/CN=breaker test CA",
    ]) && openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]) && openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
    ])
}

#[test]
fn tls_with_a_trusted_authority_shares_and_a_refused_handshake_stays_local() {
    let dir = std::env::temp_dir().join(format!("breaker-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    if !certificates(&dir) {
        assert!(std::env::var_os("CI").is_none(), "openssl must work in CI");
        eprintln!("skipped: openssl could not make test certificates");
        return;
    }
    let Some(server) = RedisServer::start_tls(&dir) else {
        return;
    };
    let url = format!("rediss://127.0.0.1:{}", server.port());
    let ca = std::fs::read(dir.join("ca.crt")).unwrap();
    let trusted = |namespace: &str| {
        RedisBackend::builder(&url)
            .tls_root_certificate(ca.clone())
            .namespace(namespace)
            .build()
            .unwrap()
    };
    let (one, two) = (trusted("tls"), trusted("tls"));
    let untrusting = RedisBackend::builder(&url)
        .namespace("tls")
        .build()
        .unwrap();
    let [a, b, c] = [&one, &two, &untrusting].map(|backend| {
        CircuitBreaker::builder("tls-shared")
            .fail_max(1)
            .shared(backend)
            .unregistered()
            .build()
    });
    poll_until(Duration::from_secs(10), || {
        one.is_healthy() && two.is_healthy()
    })
    .expect("the trusting replicas connect over TLS");
    let _ = a.call(|| Err::<(), _>(E::Down));
    poll_until(Duration::from_secs(5), || b.state() == State::Open)
        .expect("the fleet opens over TLS");
    assert!(!untrusting.is_healthy(), "its handshake is refused");
    assert_eq!(c.call(|| Ok::<_, E>(5)), Ok(5), "its breaker works locally");
    let _ = std::fs::remove_dir_all(&dir);
}
