//! `sigmaline serve` end to end: NDJSON over TCP and over a Unix socket to
//! a TCP sink, order kept, matches tagged, bad lines untouched; and
//! back-pressure: a sink that stops reading stalls the sender instead of
//! growing the sidecar's memory.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A running sidecar and the file its stderr goes to (a file: a pipe
/// nobody reads could fill); both go when it is dropped.
struct Sidecar(Child, PathBuf);

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_file(&self.1);
    }
}

fn sidecar(listen: &str, forward: u16) -> Sidecar {
    let name: String = listen.chars().filter(char::is_ascii_alphanumeric).collect();
    let log =
        std::env::temp_dir().join(format!("sigmaline-serve-{}-{name}.log", std::process::id()));
    let child = Command::new(env!("CARGO_BIN_EXE_sigmaline"))
        .args(["serve", "--rules"])
        .arg(root().join("examples/rules"))
        .args([
            "--listen",
            listen,
            "--forward",
            &format!("127.0.0.1:{forward}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    Sidecar(child, log)
}

/// A TCP sidecar forwarding to `forward`, and a connection to it. The
/// listen port is picked free and released before the sidecar binds it, so
/// another process may take it in between: then the sidecar exits with a
/// bind error and we start over on a fresh port.
fn tcp_sidecar(forward: u16) -> (Sidecar, TcpStream) {
    let mut why = String::new();
    'attempts: for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut side = sidecar(&format!("tcp://127.0.0.1:{port}"), forward);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(20) {
            if let Ok(c) = TcpStream::connect(("127.0.0.1", port)) {
                return (side, c);
            }
            if let Ok(Some(status)) = side.0.try_wait() {
                let log = std::fs::read_to_string(&side.1).unwrap_or_default();
                why = format!("sidecar exited ({status}): {log}");
                continue 'attempts;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        why = format!("port {port}: not listening after 20 s");
    }
    panic!("no sidecar listening: {why}");
}

fn retry<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

const MATCH: &str = r#"{"EventID":13,"Channel":"Microsoft-Windows-Sysmon/Operational","TargetObject":"HKLM\\System\\CurrentControlSet\\Services\\DHCPServer\\Parameters\\CalloutDlls""#;
const BENIGN: &str = r#"{"EventID":13,"Channel":"Microsoft-Windows-Sysmon/Operational","TargetObject":"HKLM\\Software\\x""#;

fn lines(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 10 {
            0 => format!("{MATCH},\"seq\":{i}}}"),
            7 => format!("not json {i}"),
            _ => format!("{BENIGN},\"seq\":{i}}}"),
        })
        .collect()
}

fn check(sent: &[String], got: &[String]) {
    assert_eq!(got.len(), sent.len());
    for (i, (s, g)) in sent.iter().zip(got).enumerate() {
        match i % 10 {
            0 => {
                let v: serde_json::Value = serde_json::from_str(g).unwrap();
                assert_eq!(v["seq"], i as u64, "order");
                assert_eq!(v["sigma"][0]["author"], "Dimitrios Slamaris");
            }
            _ => assert_eq!(g, s, "line {i} untouched"),
        }
    }
}

#[test]
fn tcp_and_unix_sockets_forward_in_order() {
    let sink = TcpListener::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port();
    let sock = std::env::temp_dir().join(format!("sigmaline-serve-{}.sock", std::process::id()));
    let (_tcp, mut c) = tcp_sidecar(sink_port);
    let _unix = sidecar(&format!("unix:{}", sock.display()), sink_port);
    let sent = lines(1000);
    let payload: String = sent.iter().map(|l| format!("{l}\n")).collect();

    c.write_all(payload.as_bytes()).unwrap();
    drop(c);
    let (s, _) = sink.accept().unwrap();
    let got: Vec<String> = BufReader::new(s).lines().map(Result::unwrap).collect();
    check(&sent, &got);

    let mut u = retry("unix listener", || UnixStream::connect(&sock).ok());
    u.write_all(payload.as_bytes()).unwrap();
    drop(u);
    let (s, _) = sink.accept().unwrap();
    let got: Vec<String> = BufReader::new(s).lines().map(Result::unwrap).collect();
    check(&sent, &got);
    let _ = std::fs::remove_file(&sock);
}

#[test]
fn a_stalled_target_stalls_the_sender_not_the_memory() {
    let sink = TcpListener::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port();
    let (side, mut c) = tcp_sidecar(sink_port);
    let (_held, _) = sink.accept().unwrap(); // accepted, never read
    c.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let line = format!("{BENIGN},\"pad\":\"{}\"}}\n", "x".repeat(1000));
    let (mut sent, total) = (0usize, 256 << 20);
    while sent < total {
        match c.write(line.as_bytes()) {
            Ok(n) => sent += n,
            Err(_) => break, // the write timed out: back-pressure reached us
        }
    }
    assert!(
        sent < total,
        "256 MiB went into a target that reads nothing"
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", side.0.id())).unwrap();
    let rss_kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        rss_kib < 64 * 1024,
        "sidecar RSS {rss_kib} KiB after {sent} bytes"
    );
    println!(
        "stalled after {} KiB sent; sidecar RSS {rss_kib} KiB",
        sent / 1024
    );
}
