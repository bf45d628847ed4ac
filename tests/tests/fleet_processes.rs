//! Three replicas as three OS processes (the `fleet_replica` binary) and one Redis: one
//! trips, the others open; one probe reaches the dependency for the whole fleet, and all
//! three close.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use breaker_tests::poll_until;
use breaker_tests::redis_server::RedisServer;

struct Process {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Process {
    fn start(url: &str) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fleet_replica"))
            .args([url, "processes"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a replica process");
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        Process {
            child,
            input,
            output,
        }
    }

    fn ask(&mut self, command: &str) -> String {
        writeln!(self.input, "{command}").unwrap();
        let mut line = String::new();
        self.output.read_line(&mut line).unwrap();
        line.trim().to_string()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn three_processes_share_one_breaker() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut replicas: Vec<Process> = (0..3).map(|_| Process::start(&server.url())).collect();
    poll_until(Duration::from_secs(10), || {
        replicas.iter_mut().all(|p| p.ask("healthy") == "yes")
    })
    .expect("every process reaches Redis");

    for _ in 0..3 {
        assert_eq!(replicas[0].ask("fail"), "ran");
    }
    poll_until(Duration::from_secs(5), || {
        replicas.iter_mut().all(|p| p.ask("state") == "open")
    })
    .expect("the other processes open with the first");
    assert_eq!(
        replicas[1].ask("fail"),
        "rejected",
        "no failure of its own needed"
    );
    assert_eq!(replicas[2].ask("ok"), "rejected");

    // After reset_timeout, the processes call round-robin until one call runs: the
    // fleet's probe (every call before it was rejected). Its success closes all three.
    let mut rejected_before = 0;
    poll_until(Duration::from_secs(10), || {
        for p in replicas.iter_mut() {
            match p.ask("ok").as_str() {
                "ran" => return true,
                _ => rejected_before += 1,
            }
        }
        false
    })
    .expect("a probe runs");
    assert!(rejected_before > 0);
    poll_until(Duration::from_secs(5), || {
        replicas.iter_mut().all(|p| p.ask("state") == "closed")
    })
    .expect("every process closes");
}
