//! A TCP proxy on loopback in front of one replica's Redis connections, to slow that
//! replica down or cut it off (a partition of one) while the others keep theirs.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Forwards `127.0.0.1:<port>` to the upstream port, or swallows everything while
/// blackholed (connections stay open, no byte gets through either way).
pub struct Proxy {
    port: u16,
    blackholed: Arc<AtomicBool>,
    delay_ms: Arc<AtomicU64>,
    stopped: Arc<AtomicBool>,
}

impl Proxy {
    /// Starts forwarding to `127.0.0.1:<upstream>`.
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let blackholed = Arc::new(AtomicBool::new(false));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let stopped = Arc::new(AtomicBool::new(false));
        let (hole, delay, stop) = (blackholed.clone(), delay_ms.clone(), stopped.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                            continue;
                        };
                        let faults = Faults {
                            hole: hole.clone(),
                            delay: delay.clone(),
                            stop: stop.clone(),
                        };
                        pump(&client, &server, faults.clone());
                        pump(&server, &client, faults);
                    }
                    Err(_) => std::thread::park_timeout(Duration::from_millis(2)),
                }
            }
        });
        Proxy {
            port,
            blackholed,
            delay_ms,
            stopped,
        }
    }

    /// `redis://127.0.0.1:<proxy port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// From now on every chunk of bytes waits `delay` before it is passed on.
    pub fn delay(&self, delay: Duration) {
        self.delay_ms.store(
            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }

    /// From now on nothing gets through, in either direction.
    pub fn blackhole(&self) {
        self.blackholed.store(true, Ordering::SeqCst);
    }

    /// Bytes flow again (on new connections; the old ones lost bytes and will be
    /// replaced by the client).
    pub fn heal(&self) {
        self.blackholed.store(false, Ordering::SeqCst);
        self.delay_ms.store(0, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
    }
}

/// The faults a proxy applies, shared by its pumps.
#[derive(Clone)]
struct Faults {
    hole: Arc<AtomicBool>,
    delay: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

/// Copies `from` to `to` on a thread of its own until either closes or the proxy stops.
fn pump(from: &TcpStream, to: &TcpStream, faults: Faults) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    let Faults { hole, delay, stop } = faults;
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while !stop.load(Ordering::SeqCst) {
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) if !hole.load(Ordering::SeqCst) => {
                    let wait = delay.load(Ordering::SeqCst);
                    if wait > 0 {
                        // Injected latency: this pump's bytes arrive late.
                        std::thread::park_timeout(Duration::from_millis(wait));
                    }
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                Ok(_) => {} // swallowed
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}
