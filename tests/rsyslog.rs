//! rsyslog end to end: the real `rsyslogd` (Debian's), in the foreground on
//! a private config, port, pid file and work directory, parses JSON
//! messages with mmjsonparse and hands them to `sigmaline filter --rsyslog`
//! through mmexternal. Every message must arrive, the matching ones tagged,
//! even when the helper is killed mid-run. Skipped without rsyslogd unless
//! SIGMALINE_REQUIRE_HOSTS=1.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn rsyslogd() -> Option<PathBuf> {
    let found = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        let req = std::env::var("SIGMALINE_REQUIRE_HOSTS").unwrap_or_default();
        assert!(
            !(req == "1" || req.split(',').any(|h| h == "rsyslogd")),
            "rsyslogd is required (SIGMALINE_REQUIRE_HOSTS is set)"
        );
        println!("SKIPPED: rsyslogd not found (apt-get install rsyslog)");
    }
    found
}

/// Kills the daemon when the test ends, passed or not.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

const HIT: &str = r#""EventID":13,"Channel":"Microsoft-Windows-Sysmon/Operational","TargetObject":"HKLM\\System\\CurrentControlSet\\Services\\DHCPServer\\Parameters\\CalloutDlls""#;
const MISS: &str = r#""EventID":13,"Channel":"Microsoft-Windows-Sysmon/Operational","TargetObject":"HKLM\\Software\\x""#;

#[test]
fn rsyslog_tags_every_message_and_survives_a_killed_helper() {
    let Some(daemon) = rsyslogd() else { return };
    let dir = std::env::temp_dir().join(format!("sigmaline-rsyslog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = dir.join("out.json");
    let helper = format!(
        "{} filter --rsyslog --rules {} --log {}",
        env!("CARGO_BIN_EXE_sigmaline"),
        root().join("examples/rules").display(),
        dir.join("sigmaline.log").display()
    );
    // The example config, with this test's port, paths and helper.
    let conf = std::fs::read_to_string(root().join("examples/rsyslog/sigmaline.conf"))
        .unwrap()
        .replace("/var/spool/rsyslog-sigmaline", dir.to_str().unwrap())
        .replace("5514", &port.to_string())
        .replace(
            "/usr/local/bin/sigmaline filter --rsyslog --rules /etc/sigmaline/rules",
            &helper,
        )
        .replace("/var/log/windows-tagged.json", out.to_str().unwrap());
    assert!(
        conf.contains(&helper),
        "the example config names the helper as expected"
    );
    std::fs::write(dir.join("rsyslog.conf"), conf).unwrap();
    let _d = Daemon(
        Command::new(daemon)
            .args(["-n", "-f"])
            .arg(dir.join("rsyslog.conf"))
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut conn = None;
    wait_for("rsyslogd to listen", 10, || {
        conn = TcpStream::connect(("127.0.0.1", port)).ok();
        conn.is_some()
    });
    let mut conn = conn.unwrap();
    const N: usize = 200;
    let mut killed = false;
    for i in 0..N {
        let ev = if i % 5 == 0 { HIT } else { MISS };
        writeln!(
            conn,
            "<134>Nov 22 16:00:00 wks winlog: {{{ev},\"seq\":{i}}}"
        )
        .unwrap();
        conn.flush().unwrap();
        std::thread::sleep(Duration::from_millis(5));
        if i == N / 2 {
            // Kill the helper rsyslog started; rsyslog starts a new one.
            let pids = Command::new("pgrep")
                .arg("-f")
                .arg(dir.join("sigmaline.log"))
                .output()
                .unwrap();
            for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
                killed |= Command::new("kill")
                    .args(["-9", pid])
                    .status()
                    .unwrap()
                    .success();
            }
        }
    }
    drop(conn);
    assert!(killed, "found the helper to kill");
    let lines = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    wait_for("every message", 15, || lines().len() >= N);
    let got = lines();
    let mut seqs: Vec<u64> = got.iter().map(|v| v["seq"].as_u64().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (0..N as u64).collect::<Vec<_>>(),
        "every message once"
    );
    for v in &got {
        let seq = v["seq"].as_u64().unwrap();
        let tagged = v.get("sigma").is_some();
        assert_eq!(tagged, seq % 5 == 0, "message {seq}: {v}");
        if tagged {
            assert_eq!(v["sigma"][0]["title"], "DHCP Callout DLL Installation");
            assert_eq!(v["sigma"][0]["author"], "Dimitrios Slamaris");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
