//! `sigmaline filter --rsyslog`: rsyslog's mmexternal protocol.
//!
//! rsyslog writes one JSON object per line (`interface.input="fulljson"`:
//! the whole message, with the properties mmjsonparse parsed under `$!`)
//! and reads exactly one line back per message, in order: the properties
//! to change, here `{"$!":{"sigma":[...]}}`, or `{}` for no change. Any
//! other output desynchronises rsyslog, so this mode never writes to
//! stderr while it runs; its summary goes to `--log FILE` if given.
//!
//! The record evaluated is `$!` (the Windows event as parsed by
//! mmjsonparse); without it, `msg` parsed as JSON. A line that is neither
//! gets `{}` and is counted as malformed: rsyslog passes it on unchanged.

use std::io::{BufRead, Write};
use std::path::Path;

use serde_json::Value;
use sigmaline_core::Engine;

#[derive(Default)]
pub struct Counts {
    pub messages: u64,
    pub matched: u64,
    pub malformed: u64,
}

/// Serves mmexternal on `input`/`out` until EOF.
pub fn serve(
    engine: &Engine,
    input: impl BufRead,
    out: &mut impl Write,
) -> std::io::Result<Counts> {
    let mut s = engine.scratch();
    let mut c = Counts::default();
    let tag = serde_json::to_string(engine.tag_field()).expect("string serialises");
    for line in input.split(b'\n') {
        let line = line?;
        c.messages += 1;
        let reply = match record(&line) {
            None => {
                c.malformed += 1;
                None
            }
            Some(rec) => match engine.match_value(&mut s, &rec) {
                Ok(m) if !m.is_empty() => {
                    c.matched += 1;
                    let tags: Vec<&str> = m.iter().map(|&r| engine.tag_json(r)).collect();
                    Some(format!("{{\"$!\":{{{tag}:[{}]}}}}", tags.join(",")))
                }
                Ok(_) => None,
                Err(_) => {
                    c.malformed += 1;
                    None
                }
            },
        };
        out.write_all(reply.as_deref().unwrap_or("{}").as_bytes())?;
        out.write_all(b"\n")?;
        // rsyslog waits for each reply before it sends the next message.
        out.flush()?;
    }
    Ok(c)
}

/// The event inside an rsyslog message object: `$!`, or `msg` as JSON.
fn record(line: &[u8]) -> Option<Value> {
    let mut v: Value = serde_json::from_slice(line).ok()?;
    let obj = v.as_object_mut()?;
    if let Some(tree) = obj.remove("$!").filter(Value::is_object) {
        return Some(tree);
    }
    let msg = obj.get("msg")?.as_str()?.trim();
    let json = msg.find('{').map(|i| &msg[i..])?;
    serde_json::from_str::<Value>(json)
        .ok()
        .filter(Value::is_object)
}

/// Appends the run's summary to the log file (never stderr: see above).
pub fn log_summary(path: &Path, c: &Counts, rules: usize) {
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(
            f,
            "sigmaline filter --rsyslog: messages {}, matched {}, malformed {}, rules {rules}",
            c.messages, c.matched, c.malformed
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rules");
        let set = sigmaline_core::RuleSet::load_paths(&[dir]).unwrap();
        sigmaline_core::EngineBuilder::new().build(&set).unwrap().0
    }

    const EVENT: &str = r#"{"EventID":13,"Channel":"Microsoft-Windows-Sysmon/Operational","TargetObject":"HKLM\\System\\CurrentControlSet\\Services\\DHCPServer\\Parameters\\CalloutDlls"}"#;

    #[test]
    fn one_reply_line_per_message_in_order() {
        let matching_tree = format!(r#"{{"msg":"x","$!":{EVENT}}}"#);
        let matching_msg = serde_json::json!({ "msg": format!(" {EVENT}") }).to_string();
        let benign = r#"{"msg":"hello","$!":{"EventID":1}}"#;
        let input = format!(
            "{matching_tree}\n{benign}\nnot json\n{matching_msg}\n{{\"msg\":\"no json here\"}}\n"
        );
        let mut out = Vec::new();
        let c = serve(&engine(), input.as_bytes(), &mut out).unwrap();
        let lines: Vec<&str> = std::str::from_utf8(&out).unwrap().lines().collect();
        assert_eq!(lines.len(), 5);
        for i in [0, 3] {
            let v: Value = serde_json::from_str(lines[i]).unwrap();
            assert_eq!(
                v["$!"]["sigma"][0]["title"],
                "DHCP Callout DLL Installation"
            );
            assert_eq!(v["$!"]["sigma"][0]["author"], "Dimitrios Slamaris");
        }
        assert_eq!(lines[1], "{}");
        assert_eq!(lines[2], "{}");
        assert_eq!(lines[4], "{}");
        assert_eq!((c.messages, c.matched, c.malformed), (5, 2, 2));
    }
}
