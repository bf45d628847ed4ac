//! A `redis-server` of an example's own, for the examples that share breakers through
//! Redis when no `REDIS_URL` is given.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A `redis-server` on loopback: a free port, persistence off, a directory of its own
/// (nothing left in the working directory); killed when dropped.
pub struct OwnRedis {
    child: Child,
    dir: PathBuf,
    url: String,
}

impl OwnRedis {
    /// Starts one (Debian package `redis-server`). It accepts connections a few
    /// milliseconds later; the fleet backends connect in the background meanwhile.
    pub fn start() -> OwnRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("breaker-example-redis-{port}"));
        std::fs::create_dir_all(&dir).expect("a directory for redis-server");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package `redis-server`) on the PATH, or set REDIS_URL");
        OwnRedis {
            child,
            dir,
            url: format!("redis://127.0.0.1:{port}"),
        }
    }

    /// Its `redis://` URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Kills it now (to show what a fleet does without Redis).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
