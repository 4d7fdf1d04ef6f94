//! `sigmaline filter`: records on stdin, the same records (tagged, kept or
//! dropped by mode) on stdout in the same order. A line that is not a valid
//! record passes through unchanged and is counted.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sigmaline::handle::{Handle, Loaded};
use sigmaline::watch::Watcher;
use sigmaline_core::{Mode, Outcome, RecordError, Scratch};

use crate::engine_args::RuleArgs;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// One JSON object per line.
    Json,
    /// A stream of msgpack maps, written back as msgpack.
    Msgpack,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    rules: RuleArgs,
    /// tag: every record passes, matches tagged; keep: only matches pass; drop: matches are removed.
    #[arg(long, default_value = "tag", value_parser = parse_mode)]
    mode: Mode,
    /// Name of the field that receives the list of fired rules.
    #[arg(long, default_value = "sigma", value_name = "NAME")]
    tag_field: String,
    #[arg(long, value_enum, default_value = "json")]
    input_format: InputFormat,
    /// Reload the rules when their files change (SIGHUP always reloads).
    #[arg(long)]
    watch: bool,
    /// Rewrite this file with Prometheus metrics (counters, per-rule matches) as the filter runs.
    #[arg(long, value_name = "PATH")]
    metrics_file: Option<PathBuf>,
    /// Seconds between rewrites of --metrics-file.
    #[arg(long, default_value = "10", value_name = "SECS")]
    metrics_interval: u64,
    /// Speak rsyslog's mmexternal protocol (interface.input="fulljson"): one reply line per message, nothing on stderr.
    #[arg(long)]
    rsyslog: bool,
    /// With --rsyslog: append the run's summary to this file.
    #[arg(long, value_name = "FILE", requires = "rsyslog")]
    log: Option<PathBuf>,
}

pub(crate) fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse()
}

#[derive(Default)]
struct Counts {
    records_in: u64,
    records_out: u64,
    matched: u64,
    malformed: u64,
    bytes: u64,
}

pub fn run(a: Args) -> Result<i32, String> {
    if a.rsyslog {
        return run_rsyslog(a);
    }
    let mut settings = a.rules.settings(a.mode, &a.tag_field)?;
    settings.watch = a.watch;
    let handle = Arc::new(Handle::new(settings)?);
    // SIGHUP: reload between two records (a failed reload keeps the rules).
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())
        .map_err(|e| format!("cannot handle SIGHUP: {e}"))?;
    let _watch = match a.watch {
        true => Some(Watcher::start(&handle, |r| {
            report_reload("rules changed on disk", r)
        })?),
        false => None,
    };
    let metrics = a.metrics_file.map(|path| MetricsFile {
        path,
        every: Duration::from_secs(a.metrics_interval.max(1)),
        last: Instant::now(),
    });
    let mut live = Live::new(handle.clone(), Some(hup), metrics);
    let start = Instant::now();
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let res = match a.input_format {
        InputFormat::Json => filter_lines(
            &mut live,
            BufReader::with_capacity(1 << 16, stdin),
            &mut out,
        ),
        InputFormat::Msgpack => filter_msgpack(&mut live, stdin, &mut out),
    };
    let flushed = out.flush();
    live.write_metrics()?;
    // A closed pipe downstream (`| head`) is a normal end, not an error.
    for r in [res, flushed] {
        if let Err(e) = r {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(format!("I/O error: {e}"));
            }
        }
    }
    let c = &live.c;
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    eprintln!(
        "sigmaline filter: records in {}, out {}, matched {}, malformed {}, rules {}, {:.0} rec/s ({:.1} MB/s)",
        c.records_in,
        c.records_out,
        c.matched,
        c.malformed,
        live.loaded.engine.rule_count(),
        c.records_in as f64 / secs,
        c.bytes as f64 / secs / 1e6
    );
    let mut hits = handle.stats.rule_hits.snapshot();
    hits.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
    for (id, h) in hits.iter().take(10) {
        eprintln!("  {:>8}  {:<8}  {id}  {}", h.count, h.level, h.title);
    }
    let reloads = handle.stats.reloads.load(Relaxed);
    let failed = handle.stats.reload_failures.load(Relaxed);
    if reloads + failed > 0 {
        eprintln!("  reloads: {reloads}, failed reloads: {failed}");
    }
    Ok(0)
}

/// `--rsyslog`: errors before serving go to stderr (rsyslog logs them and
/// retries); once serving, nothing does.
fn run_rsyslog(a: Args) -> Result<i32, String> {
    if a.mode != Mode::Tag {
        return Err("--rsyslog only tags; keep or drop in rsyslog with `stop` (see examples/rsyslog/sigmaline.conf)".into());
    }
    let (engine, _) = a.rules.build_nonempty(Mode::Tag, &a.tag_field)?;
    let stdin = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    let c = crate::rsyslog::serve(&engine, stdin, &mut out);
    if let (Some(log), Ok(c)) = (&a.log, &c) {
        crate::rsyslog::log_summary(log, c, engine.rule_count());
    }
    match c {
        Ok(_) => Ok(0),
        // rsyslog closed the pipe: a normal end.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(format!("I/O error: {e}")),
    }
}

fn report_reload(why: &str, r: Result<usize, String>) {
    match r {
        Ok(n) => eprintln!("sigmaline filter: {why}: {n} rules loaded"),
        Err(e) => eprintln!("sigmaline filter: {why}: reload failed, keeping the old rules: {e}"),
    }
}

struct MetricsFile {
    path: PathBuf,
    every: Duration,
    last: Instant,
}

/// The engine records are filtered with, as a long-running filter holds it:
/// swapped on SIGHUP or a file change (between two records, never inside
/// one), with counters and the metrics file.
struct Live {
    handle: Arc<Handle>,
    loaded: Arc<Loaded>,
    scratch: Scratch,
    hup: Option<Arc<AtomicBool>>,
    metrics: Option<MetricsFile>,
    c: Counts,
}

impl Live {
    fn new(
        handle: Arc<Handle>,
        hup: Option<Arc<AtomicBool>>,
        metrics: Option<MetricsFile>,
    ) -> Live {
        let loaded = handle.engine();
        let scratch = loaded.engine.scratch();
        Live {
            handle,
            loaded,
            scratch,
            hup,
            metrics,
            c: Counts::default(),
        }
    }

    /// Before each record: reload on SIGHUP, pick up a new engine, rewrite
    /// the metrics file when it is due.
    fn tick(&mut self) {
        if self.hup.as_ref().is_some_and(|h| h.swap(false, Relaxed)) {
            report_reload("SIGHUP", self.handle.reload());
        }
        if self.handle.generation() != self.loaded.generation {
            self.loaded = self.handle.engine();
            self.scratch = self.loaded.engine.scratch();
        }
        if self.c.records_in.is_multiple_of(1024)
            && self
                .metrics
                .as_ref()
                .is_some_and(|m| m.last.elapsed() >= m.every)
        {
            if let Err(e) = self.write_metrics() {
                eprintln!("sigmaline filter: {e}");
            }
        }
    }

    fn filter(
        &mut self,
        rec: &[u8],
        out: &mut Vec<u8>,
        json: bool,
    ) -> Result<Outcome, RecordError> {
        let e = &self.loaded.engine;
        let r = match json {
            true => e.filter_json(&mut self.scratch, rec, out),
            false => e.filter_msgpack(&mut self.scratch, rec, out),
        };
        if r.is_ok() {
            self.handle
                .stats
                .rule_hits
                .add(e, e.last_matches(&self.scratch));
        }
        r
    }

    /// Rewrites the metrics file atomically (a temporary file, then rename).
    fn write_metrics(&mut self) -> Result<(), String> {
        let Some(m) = &mut self.metrics else {
            return Ok(());
        };
        m.last = Instant::now();
        let s = &self.handle.stats;
        s.records_in.store(self.c.records_in, Relaxed);
        s.records_out.store(self.c.records_out, Relaxed);
        s.matched.store(self.c.matched, Relaxed);
        s.malformed.store(self.c.malformed, Relaxed);
        s.dropped
            .store(self.c.records_in - self.c.records_out, Relaxed);
        let text = sigmaline::metrics::prometheus(&self.handle);
        let tmp = m.path.with_extension("tmp");
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, &m.path))
            .map_err(|e| format!("cannot write {}: {e}", m.path.display()))
    }
}

fn filter_lines(
    live: &mut Live,
    mut input: impl BufRead,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let mut line = Vec::with_capacity(1 << 12);
    let mut buf = Vec::with_capacity(1 << 12);
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        live.tick();
        let body_len = line.len() - line.ends_with(b"\n") as usize;
        let body = &line[..body_len];
        buf.clear();
        let r = live.filter(body, &mut buf, true);
        let c = &mut live.c;
        c.records_in += 1;
        c.bytes += line.len() as u64;
        match r {
            Ok(o) => {
                c.matched += (o.matched > 0) as u64;
                if o.emitted {
                    c.records_out += 1;
                    out.write_all(&buf)?;
                    out.write_all(b"\n")?;
                }
            }
            Err(_) => {
                c.malformed += 1;
                c.records_out += 1;
                out.write_all(&line)?;
                if body_len == line.len() {
                    out.write_all(b"\n")?;
                }
            }
        }
    }
}

fn filter_msgpack(
    live: &mut Live,
    mut input: impl Read,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let mut data = Vec::new();
    let mut pos = 0;
    let mut eof = false;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        if pos == data.len() && eof {
            return Ok(());
        }
        let value = sigmaline_core::msgpack::value_len(&data[pos..]);
        let complete = pos < data.len() && value.is_some();
        if !complete {
            if !eof {
                data.drain(..pos);
                pos = 0;
                let n = input.read(&mut chunk)?;
                if n == 0 {
                    eof = true;
                } else {
                    data.extend_from_slice(&chunk[..n]);
                }
                continue;
            }
            // Undecodable tail: pass it through untouched.
            let c = &mut live.c;
            c.records_in += 1;
            c.malformed += 1;
            c.records_out += 1;
            out.write_all(&data[pos..])?;
            return Ok(());
        }
        let len = value.unwrap_or(0);
        let rec = &data[pos..pos + len];
        live.tick();
        buf.clear();
        let r = live.filter(rec, &mut buf, false);
        let c = &mut live.c;
        c.records_in += 1;
        c.bytes += len as u64;
        match r {
            Ok(o) => {
                c.matched += (o.matched > 0) as u64;
                if o.emitted {
                    c.records_out += 1;
                    out.write_all(&buf)?;
                }
            }
            Err(_) => {
                c.malformed += 1;
                c.records_out += 1;
                out.write_all(rec)?;
            }
        }
        pos += len;
    }
}

/// Properties of the streaming filter over any input: what a shipper relies
/// on when it pipes its only copy of the logs through `sigmaline filter`.
#[cfg(test)]
mod props {
    use std::sync::{Arc, OnceLock};

    use proptest::prelude::*;
    use sigmaline::handle::Handle;
    use sigmaline_core::{Mode, Settings};

    use super::{filter_lines, filter_msgpack, Counts, Live};

    fn handle(mode: Mode) -> Arc<Handle> {
        static H: OnceLock<[Arc<Handle>; 3]> = OnceLock::new();
        let all = H.get_or_init(|| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rules");
            [Mode::Tag, Mode::Keep, Mode::Drop].map(|m| {
                let mut st = Settings::default();
                st.set("rules", dir.to_str().unwrap()).unwrap();
                st.mode = m;
                Arc::new(Handle::new(st).unwrap())
            })
        });
        all[mode as usize].clone()
    }

    fn live(mode: Mode) -> Live {
        Live::new(handle(mode), None, None)
    }

    /// The bundled seed events (some match the seed rules, most do not).
    fn seeds() -> Vec<Vec<u8>> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/data/seed-events.ndjson");
        std::fs::read(p)
            .unwrap()
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    }

    /// A line: a seed event, a seed event with a byte flipped, or any bytes
    /// (never a newline: lines are what the filter counts).
    fn line() -> impl Strategy<Value = Vec<u8>> {
        let s = seeds();
        let n = s.len();
        let s2 = s.clone();
        prop_oneof![
            (0..n).prop_map(move |i| s[i].clone()),
            (0..n, any::<prop::sample::Index>(), any::<u8>()).prop_map(move |(i, at, b)| {
                let mut l = s2[i].clone();
                let at = at.index(l.len());
                l[at] = if b == b'\n' { b' ' } else { b };
                l
            }),
            prop::collection::vec(
                any::<u8>().prop_filter("no newline", |b| *b != b'\n'),
                0..200
            ),
        ]
    }

    /// Does the engine match this line (None: not a record)?
    fn verdict(line: &[u8]) -> Option<bool> {
        let l = handle(Mode::Tag).engine();
        let e = &l.engine;
        let mut s = e.scratch();
        e.match_json(&mut s, line).ok().map(|m| !m.is_empty())
    }

    fn run(mode: Mode, lines: &[Vec<u8>], final_newline: bool) -> (Vec<u8>, Counts) {
        let mut input = lines.join(&b'\n');
        if final_newline && !lines.is_empty() {
            input.push(b'\n');
        }
        let mut out = Vec::new();
        let mut l = live(mode);
        filter_lines(&mut l, &input[..], &mut out).unwrap();
        (out, l.c)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Tag mode: one line out per line in, in order; a line that matches
        /// nothing (or is not a record) comes out byte for byte.
        #[test]
        fn tag_mode_keeps_every_line(lines in prop::collection::vec(line(), 0..40), nl in any::<bool>()) {
            let (out, c) = run(Mode::Tag, &lines, nl);
            prop_assert_eq!(c.records_in, lines.len() as u64 - (lines.last().is_some_and(|l| l.is_empty()) && !nl) as u64);
            prop_assert_eq!(c.records_out, c.records_in);
            let outs: Vec<&[u8]> = out.strip_suffix(b"\n").unwrap_or(&out).split(|&b| b == b'\n').collect();
            if c.records_in > 0 {
                prop_assert_eq!(outs.len() as u64, c.records_in);
            }
            for (i, o) in outs.iter().enumerate().take(c.records_in as usize) {
                if verdict(&lines[i]) != Some(true) {
                    prop_assert_eq!(*o, &lines[i][..], "line {} changed", i);
                }
            }
        }

        /// Keep and drop: every line is either written or dropped, exactly
        /// as the verdicts say; lines that are not records always pass.
        #[test]
        fn keep_and_drop_account_for_every_line(lines in prop::collection::vec(line(), 1..40)) {
            for mode in [Mode::Keep, Mode::Drop] {
                let (out, c) = run(mode, &lines, true);
                let expected = lines.iter().filter(|l| match verdict(l) {
                    None => true,
                    Some(m) => m == (mode == Mode::Keep),
                }).count() as u64;
                let dropped = c.records_in - c.records_out;
                prop_assert_eq!(c.records_in, lines.len() as u64);
                prop_assert_eq!(c.records_out, expected);
                prop_assert_eq!(c.records_out + dropped, c.records_in);
                prop_assert_eq!(out.iter().filter(|&&b| b == b'\n').count() as u64, c.records_out);
            }
        }

        /// A msgpack stream of records and garbage: in tag mode every byte
        /// of an unmatched record comes out unchanged, nothing is lost.
        #[test]
        fn msgpack_stream_loses_nothing(picks in prop::collection::vec(0usize..1000, 0..30), tail in prop::collection::vec(any::<u8>(), 0..20)) {
            let recs: Vec<Vec<u8>> = seeds().iter().filter_map(|l| {
                let v: serde_json::Value = serde_json::from_slice(l).ok()?;
                let mut b = Vec::new();
                rmpv::encode::write_value(&mut b, &to_rmpv(&v)).unwrap();
                Some(b)
            }).collect();
            let mut input = Vec::new();
            let mut matched_any = false;
            for p in &picks {
                let r = &recs[p % recs.len()];
                let l = handle(Mode::Tag).engine();
                let e = &l.engine;
                let mut s = e.scratch();
                matched_any |= !e.match_msgpack(&mut s, r).unwrap().is_empty();
                input.extend_from_slice(r);
            }
            input.extend_from_slice(&tail);
            let mut out = Vec::new();
            let mut l = live(Mode::Tag);
            filter_msgpack(&mut l, &input[..], &mut out).unwrap();
            let c = l.c;
            prop_assert_eq!(c.records_out, c.records_in);
            prop_assert!(c.records_in >= picks.len() as u64);
            if !matched_any {
                prop_assert_eq!(out, input);
            } else {
                prop_assert!(out.len() > input.len());
            }
        }
    }

    fn to_rmpv(v: &serde_json::Value) -> rmpv::Value {
        match v {
            serde_json::Value::Null => rmpv::Value::Nil,
            serde_json::Value::Bool(b) => rmpv::Value::Boolean(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => rmpv::Value::from(i),
                None => rmpv::Value::F64(n.as_f64().unwrap_or(0.0)),
            },
            serde_json::Value::String(s) => rmpv::Value::from(s.as_str()),
            serde_json::Value::Array(a) => rmpv::Value::Array(a.iter().map(to_rmpv).collect()),
            serde_json::Value::Object(o) => rmpv::Value::Map(
                o.iter()
                    .map(|(k, v)| (rmpv::Value::from(k.as_str()), to_rmpv(v)))
                    .collect(),
            ),
        }
    }
}
