//! A `redis-server` of the test's own, on a free loopback port with persistence off, so a
//! test can stop, freeze and flush it without touching anyone else's.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`, killed when dropped.
pub struct RedisServer {
    child: Child,
    port: u16,
    args: Vec<String>,
    /// TLS only: readiness is an accepted connection, not a PONG.
    tls: bool,
}

impl RedisServer {
    /// Starts a server, or `None` when `redis-server` is not installed (outside CI,
    /// where the tests that need it then skip; with `CI` set, that is a failure).
    pub fn start() -> Option<RedisServer> {
        Self::start_with(&[])
    }

    /// Starts a server that speaks TLS only, with the certificate and key in `dir`
    /// (`server.crt`, `server.key`, `ca.crt`); clients need not present certificates.
    pub fn start_tls(dir: &std::path::Path) -> Option<RedisServer> {
        let file = |name: &str| dir.join(name).to_string_lossy().into_owned();
        let tls: Vec<String> = vec![
            "--tls-cert-file".into(),
            file("server.crt"),
            "--tls-key-file".into(),
            file("server.key"),
            "--tls-ca-cert-file".into(),
            file("ca.crt"),
            "--tls-auth-clients".into(),
            "no".into(),
        ];
        let tls: Vec<&str> = tls.iter().map(String::as_str).collect();
        Self::start_inner(&tls, true)
    }

    /// Starts a server with extra arguments (`["--requirepass", "secret"]`).
    pub fn start_with(extra: &[&str]) -> Option<RedisServer> {
        Self::start_inner(extra, false)
    }

    /// Starts a server for a cluster (`--cluster-enabled yes` among `extra`): on a port
    /// whose cluster bus port (the port + 10000) is free too.
    pub fn start_cluster_node(extra: &[&str]) -> Option<RedisServer> {
        Self::start_on(extra, false, free_cluster_port)
    }

    fn start_inner(extra: &[&str], tls: bool) -> Option<RedisServer> {
        Self::start_on(extra, tls, free_port)
    }

    fn start_on(extra: &[&str], tls: bool, port: fn() -> u16) -> Option<RedisServer> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            assert!(
                std::env::var_os("CI").is_none(),
                "redis-server is missing; CI must install the Debian package `redis-server`"
            );
            eprintln!("skipped: install the Debian package `redis-server` to run the fleet tests");
            return None;
        }
        let args: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
        // A free port can be taken by another test between our look and the server's
        // bind: then this server exits, and another port is tried.
        for _ in 0..10 {
            let port = port();
            let mut server = RedisServer {
                child: spawn(port, &args, tls),
                port,
                args: args.clone(),
                tls,
            };
            if server.await_ready() {
                return Some(server);
            }
            server.kill();
        }
        panic!("redis-server did not start on any of 10 free ports");
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sends one command and returns its reply, flattened to text.
    pub fn command(&self, words: &[&str]) -> String {
        self.commands(&[words]).pop().unwrap_or_default()
    }

    /// Sends commands on one connection (`AUTH` first, say) and returns their replies.
    pub fn commands(&self, commands: &[&[&str]]) -> Vec<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut request = String::new();
        for words in commands {
            request.push_str(&format!("*{}\r\n", words.len()));
            for word in words.iter() {
                request.push_str(&format!("${}\r\n{word}\r\n", word.len()));
            }
        }
        stream.write_all(request.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        commands.iter().map(|_| read_reply(&mut reader)).collect()
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn freeze(&self) {
        signal("STOP", self.child.id());
    }

    /// Lets a frozen server go on (SIGCONT).
    pub fn thaw(&self) {
        signal("CONT", self.child.id());
    }

    /// Kills the server; [`restart`](Self::restart) starts an empty one on the same port.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(data_dir(self.port));
    }

    /// Starts a new, empty server on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn(self.port, &self.args, self.tls);
        assert!(
            self.await_ready(),
            "redis-server did not start again on port {}",
            self.port
        );
    }

    /// Whether this server came up: `false` when it exited (its port was taken).
    fn await_ready(&mut self) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return false;
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                // Whoever answers may be another test's server on a port ours could not
                // bind: ours is up only if the server answering is our process.
                let answered = self.tls || {
                    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                    let mut buf = [0u8; 64];
                    // +PONG, or -NOAUTH from a server with a password: either way up.
                    s.write_all(b"*1\r\n$4\r\nPING\r\n").is_ok()
                        && s.read(&mut buf).is_ok_and(|n| n > 0)
                };
                if answered {
                    return self.answered_by_ours();
                }
            }
            std::thread::yield_now();
        }
        panic!("redis-server did not start on port {}", self.port);
    }
}

impl RedisServer {
    /// Whether the server on our port is our process: its `INFO server` names our PID.
    /// (A server with a password refuses `INFO` before `AUTH`, and a TLS one does not
    /// speak plain text: for those, ours is up if it is still running.)
    fn answered_by_ours(&mut self) -> bool {
        let running = matches!(self.child.try_wait(), Ok(None));
        if self.tls || !running {
            return running;
        }
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        if stream
            .write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
            .is_err()
        {
            return false;
        }
        let mut reply = String::new();
        let mut reader = BufReader::new(stream);
        while reader.read_line(&mut reply).is_ok_and(|n| n > 0) {
            if reply.starts_with('-') {
                return running; // NOAUTH: a password; ours if still running
            }
            if let Some(pid) = reply
                .lines()
                .find_map(|l| l.strip_prefix("process_id:"))
                .filter(|_| reply.ends_with('\n'))
            {
                return pid.trim() == self.child.id().to_string();
            }
        }
        false
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        signal("CONT", self.child.id());
        self.kill();
    }
}

/// The server's own directory: a replica's full sync writes `dump.rdb` there, where no
/// other server (which would load it at start) looks.
fn data_dir(port: u16) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("breaker-redis-{}-{port}", std::process::id()))
}

fn spawn(port: u16, extra: &[String], tls: bool) -> Child {
    let dir = data_dir(port);
    std::fs::create_dir_all(&dir).expect("a directory for redis-server");
    let port = port.to_string();
    let ports = if tls {
        ["--port", "0", "--tls-port", &port]
    } else {
        ["--port", &port, "--tls-port", "0"]
    };
    Command::new("redis-server")
        .args(ports)
        .args(["--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(&dir)
        .args(["--daemonize", "no", "--logfile", ""])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server")
}

fn free_cluster_port() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn signal(name: &str, pid: u32) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status();
}

/// One RESP reply, flattened to text: bulk strings and arrays joined by spaces.
fn read_reply(reader: &mut impl BufRead) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let line = line.trim_end();
    let (kind, rest) = line.split_at(1);
    match kind {
        "$" => {
            let len: i64 = rest.parse().unwrap();
            if len < 0 {
                return "(nil)".into();
            }
            let mut data = vec![0u8; len as usize + 2];
            reader.read_exact(&mut data).unwrap();
            String::from_utf8_lossy(&data[..len as usize]).into_owned()
        }
        "*" => {
            let n: i64 = rest.parse().unwrap();
            (0..n.max(0))
                .map(|_| read_reply(reader))
                .collect::<Vec<_>>()
                .join(" ")
        }
        _ => rest.to_string(),
    }
}
