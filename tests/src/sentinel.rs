//! A Redis Sentinel set of the test's own on loopback: a master, a replica and three
//! sentinels (`redis-server <conf> --sentinel`), killed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::poll_until;
use crate::redis_server::RedisServer;

/// The name the sentinels monitor the master by.
pub const MASTER: &str = "fleetmaster";

/// How long the sentinels wait before they call a silent master down.
pub const DOWN_AFTER: Duration = Duration::from_millis(1000);

/// A master, its replica and three sentinels.
pub struct SentinelSet {
    /// The servers, master first (until a failover swaps their roles).
    pub servers: Vec<RedisServer>,
    sentinels: Vec<(Child, u16)>,
    dir: PathBuf,
}

impl SentinelSet {
    /// Starts the set and waits until the sentinels know the master, its replica and
    /// each other; `None` where `redis-server` is not installed (outside CI).
    pub fn start() -> Option<SentinelSet> {
        let master = RedisServer::start()?;
        let replica =
            RedisServer::start_with(&["--replicaof", "127.0.0.1", &master.port().to_string()])?;
        poll_until(Duration::from_secs(10), || {
            replica
                .command(&["INFO", "replication"])
                .contains("master_link_status:up")
        })
        .expect("the replica syncs with the master");
        let dir = std::env::temp_dir().join(format!(
            "breaker-sentinel-{}-{}",
            std::process::id(),
            master.port()
        ));
        std::fs::create_dir_all(&dir).expect("a directory for the sentinels");
        let mut set = SentinelSet {
            servers: vec![master, replica],
            sentinels: Vec::new(),
            dir,
        };
        for i in 0..3 {
            set.start_sentinel(i);
        }
        let master_port = set.servers[0].port();
        poll_until(Duration::from_secs(20), || {
            set.sentinels.iter().all(|(_, port)| {
                let info = sentinel_command(*port, &["SENTINEL", "MASTER", MASTER]);
                info.contains("num-other-sentinels 2") && info.contains("num-slaves 1")
            })
        })
        .expect("the sentinels know the master, its replica and each other");
        assert_eq!(set.master_port(), master_port);
        Some(set)
    }

    fn start_sentinel(&mut self, i: usize) {
        for _ in 0..10 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let conf = self.dir.join(format!("sentinel-{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndaemonize no\ndir {dir}\nlogfile \"\"\n\
                     sentinel monitor {MASTER} 127.0.0.1 {master} 2\n\
                     sentinel down-after-milliseconds {MASTER} {down}\n\
                     sentinel failover-timeout {MASTER} 5000\n\
                     sentinel parallel-syncs {MASTER} 1\n",
                    dir = self.dir.display(),
                    master = self.servers[0].port(),
                    down = DOWN_AFTER.as_millis(),
                ),
            )
            .expect("write a sentinel's configuration");
            let mut child = Command::new("redis-server")
                .arg(&conf)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start a sentinel");
            let up = poll_until(Duration::from_secs(5), || {
                !matches!(child.try_wait(), Ok(None)) || sentinel_command(port, &["PING"]) == "PONG"
            });
            if up.is_some() && matches!(child.try_wait(), Ok(None)) {
                self.sentinels.push((child, port));
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("a sentinel did not start on any of 10 free ports");
    }

    /// The sentinels' URLs.
    pub fn urls(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|(_, port)| format!("redis://127.0.0.1:{port}"))
            .collect()
    }

    /// The port of the master the first sentinel names.
    pub fn master_port(&self) -> u16 {
        let reply = sentinel_command(
            self.sentinels[0].1,
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER],
        );
        reply
            .split(' ')
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    /// The server that is the master now.
    pub fn master(&self) -> &RedisServer {
        let port = self.master_port();
        self.servers
            .iter()
            .find(|s| s.port() == port)
            .expect("the master is one of the set's servers")
    }

    /// Asks a sentinel to fail over now.
    pub fn failover(&self) {
        let reply = sentinel_command(self.sentinels[0].1, &["SENTINEL", "FAILOVER", MASTER]);
        assert_eq!(reply, "OK", "SENTINEL FAILOVER");
    }

    /// Waits until every sentinel names a master other than the one on `old_port`,
    /// and the new master answers as one.
    pub fn await_new_master(&self, old_port: u16, within: Duration) -> Duration {
        poll_until(within, || {
            self.sentinels.iter().all(|(_, port)| {
                let reply =
                    sentinel_command(*port, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER]);
                reply
                    .split(' ')
                    .nth(1)
                    .and_then(|p| p.parse::<u16>().ok())
                    .is_some_and(|p| p != old_port)
            }) && self.master().command(&["ROLE"]).starts_with("master")
        })
        .expect("the sentinels fail over")
    }
}

impl Drop for SentinelSet {
    fn drop(&mut self) {
        for (child, _) in &mut self.sentinels {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One command to the sentinel on `port`, its reply flattened to text ("" when it does
/// not answer).
pub fn sentinel_command(port: u16, words: &[&str]) -> String {
    use std::io::Write;
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut request = format!("*{}\r\n", words.len());
    for word in words {
        request.push_str(&format!("${}\r\n{word}\r\n", word.len()));
    }
    if stream.write_all(request.as_bytes()).is_err() {
        return String::new();
    }
    let mut reader = std::io::BufReader::new(stream);
    let mut text = String::new();
    flatten(&mut reader, &mut text);
    text.trim().to_string()
}

/// One RESP reply (nested arrays included), as words separated by spaces.
fn flatten(reader: &mut impl std::io::BufRead, out: &mut String) {
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let line = line.trim_end();
    if line.is_empty() {
        return;
    }
    let (kind, rest) = line.split_at(1);
    match kind {
        "$" => {
            let len: i64 = rest.parse().unwrap_or(-1);
            if len >= 0 {
                let mut data = vec![0u8; len as usize + 2];
                if reader.read_exact(&mut data).is_ok() {
                    out.push_str(&String::from_utf8_lossy(&data[..len as usize]));
                    out.push(' ');
                }
            }
        }
        "*" => {
            for _ in 0..rest.parse::<i64>().unwrap_or(0).max(0) {
                flatten(reader, out);
            }
        }
        _ => {
            out.push_str(rest);
            out.push(' ');
        }
    }
}
