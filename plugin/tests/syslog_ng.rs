//! syslog-ng end to end: the real `syslog-ng` (Debian's, with
//! syslog-ng-mod-python) in the foreground on the example config with a
//! private port, files and control socket, tagging through the python
//! parser (plugin/python/sigmaline_syslogng.py over the C ABI) in tag and
//! keep mode. Skipped without syslog-ng unless SIGMALINE_REQUIRE_HOSTS
//! names it (Debian's rsyslog and syslog-ng conflict, so CI runs this test
//! after swapping one for the other).

mod support;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{lib_dir, root, tmpdir};

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn syslog_ng() -> Option<&'static str> {
    let bin = "/usr/sbin/syslog-ng";
    let has_python = std::path::Path::new("/usr/lib/syslog-ng").exists()
        && Command::new("sh")
            .args(["-c", "ls /usr/lib/syslog-ng/*/libmod-python*"])
            .output()
            .is_ok_and(|o| o.status.success());
    if std::path::Path::new(bin).exists() && has_python {
        return Some(bin);
    }
    let req = std::env::var("SIGMALINE_REQUIRE_HOSTS").unwrap_or_default();
    assert!(
        !(req == "1" || req.split(',').any(|h| h == "syslog-ng")),
        "syslog-ng with syslog-ng-mod-python is required (SIGMALINE_REQUIRE_HOSTS)"
    );
    println!("SKIPPED: syslog-ng or syslog-ng-mod-python not installed");
    None
}

const HIT: &str = r#""EventID":13,"Channel":"Microsoft-Windows-Sysmon/Operational","TargetObject":"HKLM\\System\\CurrentControlSet\\Services\\DHCPServer\\Parameters\\CalloutDlls""#;
const MISS: &str = r#""EventID":13,"Channel":"Microsoft-Windows-Sysmon/Operational","TargetObject":"HKLM\\Software\\x""#;

#[test]
fn syslog_ng_python_parser_tags_and_keeps() {
    let Some(bin) = syslog_ng() else { return };
    let dir = tmpdir("syslog-ng");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let lib = lib_dir().join("libsigmaline.so");
    let (all, alerts) = (dir.join("all.json"), dir.join("alerts.json"));
    let conf = std::fs::read_to_string(root().join("examples/syslog-ng/syslog-ng.conf"))
        .unwrap()
        .replace("5515", &port.to_string())
        .replace("/usr/local/lib/libsigmaline.so", lib.to_str().unwrap())
        .replace(
            "/etc/sigmaline/rules",
            root().join("examples/rules").to_str().unwrap(),
        )
        .replace("/var/log/windows-tagged.json", all.to_str().unwrap())
        .replace("/var/log/windows-alerts.json", alerts.to_str().unwrap());
    std::fs::write(dir.join("syslog-ng.conf"), conf).unwrap();
    let _d = Daemon(
        Command::new(bin)
            .arg("-F")
            .arg("-f")
            .arg(dir.join("syslog-ng.conf"))
            .arg("--persist-file")
            .arg(dir.join("persist"))
            .arg("--pidfile")
            .arg(dir.join("pid"))
            .arg("--control")
            .arg(dir.join("ctl"))
            .env("PYTHONPATH", root().join("plugin/python"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let t = Instant::now();
    let mut conn = loop {
        if let Ok(c) = TcpStream::connect(("127.0.0.1", port)) {
            break c;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "syslog-ng did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    const N: usize = 50;
    for i in 0..N {
        let ev = if i % 5 == 0 { HIT } else { MISS };
        writeln!(conn, "{{{ev},\"seq\":{i}}}").unwrap();
    }
    writeln!(conn, "not json at all").unwrap();
    drop(conn);
    let read = |p: &std::path::Path| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    };
    let t = Instant::now();
    while read(&all).len() < N + 1 || read(&alerts).len() < N / 5 + 1 {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "messages did not arrive: {:?}",
            read(&all).len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let all = read(&all);
    assert_eq!(all.len(), N + 1, "tag mode passes every message");
    assert_eq!(
        all[N], "not json at all",
        "a non-JSON message passes untouched"
    );
    for (i, line) in all[..N].iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["seq"], i as u64);
        assert_eq!(v.get("sigma").is_some(), i % 5 == 0, "{line}");
    }
    let alerts = read(&alerts);
    // Keep mode passes matches, and what it cannot read (never lost).
    assert_eq!(alerts.len(), N / 5 + 1, "{alerts:?}");
    assert_eq!(alerts[N / 5], "not json at all");
    for line in &alerts[..N / 5] {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["sigma"][0]["author"], "Dimitrios Slamaris");
    }
}
