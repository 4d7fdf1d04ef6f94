//! `sigmaline scan`: offline replay of log files. Prints one NDJSON line per
//! matching record (`file`, `record`, `sigma`, `event`) on stdout and a
//! per-rule summary on stderr.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use sigmaline_core::{Engine, Mode, Scratch};

use crate::engine_args::RuleArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    rules: RuleArgs,
    /// .evtx, .ndjson, .jsonl or .json files, optionally .gz.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Print only the summary.
    #[arg(long)]
    summary_only: bool,
    /// Rules to list in the summary (most frequent first).
    #[arg(long, default_value_t = 25)]
    top: usize,
}

#[derive(Default)]
struct Stats {
    records: u64,
    matched_records: u64,
    malformed: u64,
    per_rule: HashMap<u32, u64>,
}

pub fn run(a: Args) -> Result<i32, String> {
    let (engine, _) = a.rules.build_nonempty(Mode::Tag, "sigma")?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut st = Stats::default();
    let mut s = engine.scratch();
    let bar = progress_bar(&a.files);
    for f in &a.files {
        let name = f.display().to_string();
        if let Some(b) = &bar {
            b.set_message(name.clone());
        }
        let r = if is_evtx(f) {
            scan_evtx(
                &engine,
                &mut s,
                f,
                &name,
                &a,
                &mut st,
                &mut out,
                bar.as_ref(),
            )
        } else {
            scan_lines(
                &engine,
                &mut s,
                f,
                &name,
                &a,
                &mut st,
                &mut out,
                bar.as_ref(),
            )
        };
        r.map_err(|e| format!("{name}: {e}"))?;
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    out.flush().map_err(|e| e.to_string())?;
    let mut top: Vec<_> = st.per_rule.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    eprintln!(
        "sigmaline scan: {} records, {} matched, {} malformed, {} rules loaded, {} rules fired",
        st.records,
        st.matched_records,
        st.malformed,
        engine.rule_count(),
        top.len()
    );
    for (r, n) in top.into_iter().take(a.top) {
        let m = engine.rule(*r);
        eprintln!(
            "{n:>9}  {:<8} {}  {}",
            m.level.as_deref().unwrap_or("-"),
            m.id,
            m.title
        );
    }
    Ok(0)
}

fn progress_bar(files: &[PathBuf]) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let b = indicatif::ProgressBar::new_spinner();
    b.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos} records {per_sec} {msg}").ok()?,
    );
    b.set_message(format!("{} files", files.len()));
    Some(b)
}

fn is_evtx(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("evtx"))
}

fn open(p: &Path) -> std::io::Result<Box<dyn BufRead>> {
    let f = File::open(p)?;
    let gz = p
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let r: Box<dyn Read> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else {
        Box::new(f)
    };
    Ok(Box::new(BufReader::with_capacity(1 << 16, r)))
}

#[allow(clippy::too_many_arguments)]
fn scan_lines(
    engine: &Engine,
    s: &mut Scratch,
    path: &Path,
    name: &str,
    a: &Args,
    st: &mut Stats,
    out: &mut impl Write,
    bar: Option<&indicatif::ProgressBar>,
) -> std::io::Result<()> {
    let mut input = open(path)?;
    let mut line = Vec::new();
    let mut n = 0u64;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        n += 1;
        let body = line.trim_ascii_end();
        if body.is_empty() {
            continue;
        }
        st.records += 1;
        if let Some(b) = bar {
            b.inc(1);
        }
        match engine.match_json(s, body) {
            Ok(m) if !m.is_empty() => {
                let m = m.to_vec();
                record_match(engine, &m, name, n, st, a, out, |o| o.write_all(body))?;
            }
            Ok(_) => {}
            Err(_) => st.malformed += 1,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn scan_evtx(
    engine: &Engine,
    s: &mut Scratch,
    path: &Path,
    name: &str,
    a: &Args,
    st: &mut Stats,
    out: &mut impl Write,
    bar: Option<&indicatif::ProgressBar>,
) -> std::io::Result<()> {
    let mut parser =
        evtx::EvtxParser::from_path(path).map_err(|e| std::io::Error::other(e.to_string()))?;
    for rec in parser.records_json_value() {
        st.records += 1;
        if let Some(b) = bar {
            b.inc(1);
        }
        let rec = match rec {
            Ok(r) => r,
            Err(_) => {
                st.malformed += 1;
                continue;
            }
        };
        match engine.match_value(s, &rec.data) {
            Ok(m) if !m.is_empty() => {
                let m = m.to_vec();
                record_match(engine, &m, name, rec.event_record_id, st, a, out, |o| {
                    serde_json::to_writer(o, &rec.data).map_err(std::io::Error::other)
                })?;
            }
            Ok(_) => {}
            Err(_) => st.malformed += 1,
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn record_match<W: Write>(
    engine: &Engine,
    matched: &[u32],
    file: &str,
    record: u64,
    st: &mut Stats,
    a: &Args,
    out: &mut W,
    write_event: impl FnOnce(&mut W) -> std::io::Result<()>,
) -> std::io::Result<()> {
    st.matched_records += 1;
    for &r in matched {
        *st.per_rule.entry(r).or_default() += 1;
    }
    if a.summary_only {
        return Ok(());
    }
    let tags: Vec<_> = matched
        .iter()
        .map(|&r| sigmaline_core::output::tag_json(engine.rule(r)))
        .collect();
    write!(
        out,
        "{{\"file\":{},\"record\":{record},\"sigma\":[{}],\"event\":",
        serde_json::to_string(file).unwrap(),
        tags.join(",")
    )?;
    write_event(out)?;
    out.write_all(b"}\n")
}
