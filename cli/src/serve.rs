//! `sigmaline serve`: the filter as a network sidecar, for shippers that
//! cannot host code (static Vector builds, Fluentd, Logstash): NDJSON in
//! over TCP or a Unix socket, the same records (tagged, kept or dropped)
//! out to a TCP target.
//!
//! Each accepted connection gets its own thread and its own connection to
//! the target, and is handled strictly in turn: read a line, filter it,
//! write it. Order is therefore preserved per connection, and buffering is
//! bounded by two 64 KiB buffers: when the target stops reading, writes
//! block, the sidecar stops reading, and TCP pushes back on the sender. A
//! line that is not a record is forwarded untouched and counted.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use sigmaline::handle::Handle;
use sigmaline_core::Mode;

use crate::engine_args::RuleArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    rules: RuleArgs,
    #[arg(long, default_value = "tag", value_parser = crate::filter::parse_mode)]
    mode: Mode,
    #[arg(long, default_value = "sigma", value_name = "NAME")]
    tag_field: String,
    /// Where to accept NDJSON: tcp://HOST:PORT or unix:/path/to.sock.
    #[arg(long, value_name = "ADDR")]
    listen: String,
    /// Where to send the filtered NDJSON: HOST:PORT (TCP).
    #[arg(long, value_name = "HOST:PORT")]
    forward: String,
}

pub fn run(a: Args) -> Result<i32, String> {
    let handle = Arc::new(Handle::new(a.rules.settings(a.mode, &a.tag_field)?)?);
    let forward = a.forward.clone();
    let serve = move |conn: Box<dyn Read + Send>, peer: String| {
        let (h, fwd) = (handle.clone(), forward.clone());
        std::thread::spawn(move || {
            if let Err(e) = relay(&h, conn, &fwd) {
                eprintln!("sigmaline serve: {peer}: {e}");
            }
        });
    };
    if let Some(path) = a.listen.strip_prefix("unix:") {
        let path = PathBuf::from(path);
        let _ = std::fs::remove_file(&path);
        let l = UnixListener::bind(&path).map_err(|e| format!("--listen {}: {e}", a.listen))?;
        eprintln!(
            "sigmaline serve: listening on {}, forwarding to {}",
            a.listen, a.forward
        );
        for c in l.incoming() {
            match c {
                Ok(c) => serve(Box::new(c), path.display().to_string()),
                Err(e) => eprintln!("sigmaline serve: accept: {e}"),
            }
        }
    } else {
        let addr = a.listen.strip_prefix("tcp://").unwrap_or(&a.listen);
        let l = TcpListener::bind(addr).map_err(|e| format!("--listen {}: {e}", a.listen))?;
        eprintln!(
            "sigmaline serve: listening on {}, forwarding to {}",
            a.listen, a.forward
        );
        for c in l.incoming() {
            match c {
                Ok(c) => {
                    let peer = c.peer_addr().map(|p| p.to_string()).unwrap_or_default();
                    serve(Box::new(c), peer)
                }
                Err(e) => eprintln!("sigmaline serve: accept: {e}"),
            }
        }
    }
    Ok(0)
}

/// One connection: lines in, filtered lines out, one at a time.
fn relay(h: &Handle, conn: Box<dyn Read + Send>, forward: &str) -> std::io::Result<()> {
    let target = TcpStream::connect(forward)?;
    let mut out = BufWriter::with_capacity(1 << 16, target);
    let mut input = BufReader::with_capacity(1 << 16, conn);
    let (mut line, mut buf) = (Vec::new(), Vec::new());
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return out.flush();
        }
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        buf.clear();
        h.stats.records_in.fetch_add(1, Relaxed);
        let r = h.with_engine(|e, s| {
            let r = e.filter_json(s, body, &mut buf);
            if r.is_ok() {
                h.stats.rule_hits.add(e, e.last_matches(s));
            }
            r
        });
        match r {
            Ok(o) if !o.emitted => {
                h.stats.dropped.fetch_add(1, Relaxed);
                continue;
            }
            Ok(o) => {
                h.stats.matched.fetch_add((o.matched > 0) as u64, Relaxed);
                out.write_all(&buf)?;
            }
            Err(_) => {
                h.stats.malformed.fetch_add(1, Relaxed);
                out.write_all(body)?;
            }
        }
        h.stats.records_out.fetch_add(1, Relaxed);
        out.write_all(b"\n")?;
        // Nothing more to read right now: hand what we have to the target.
        if input.buffer().is_empty() {
            out.flush()?;
        }
    }
}
