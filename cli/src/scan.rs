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
    /// .evtx files; .ndjson/.jsonl (one object per line) or .json (objects
    /// one after another, pretty-printed or not); optionally .gz.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Print only the summary.
    #[arg(long)]
    summary_only: bool,
    /// Rules to list in the summary (most frequent first).
    #[arg(long, default_value_t = 25)]
    top: usize,
}

/// How a file's records are laid out, from its name.
enum Format {
    Evtx,
    /// One record per line.
    Lines,
    /// Concatenated JSON values (evtx_dump output).
    JsonStream,
}

fn format_of(p: &Path) -> Format {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    if name.ends_with(".evtx") {
        Format::Evtx
    } else if name.ends_with(".json") {
        Format::JsonStream
    } else {
        Format::Lines
    }
}

struct Scanner<'e, W: Write> {
    engine: &'e Engine,
    scratch: Scratch,
    out: W,
    summary_only: bool,
    bar: Option<indicatif::ProgressBar>,
    records: u64,
    matched_records: u64,
    malformed: u64,
    per_rule: HashMap<u32, u64>,
}

pub fn run(a: Args) -> Result<i32, String> {
    let (engine, _) = a.rules.build_nonempty(Mode::Tag, "sigma")?;
    let mut sc = Scanner {
        scratch: engine.scratch(),
        engine: &engine,
        out: BufWriter::new(std::io::stdout().lock()),
        summary_only: a.summary_only,
        bar: progress_bar(a.files.len()),
        records: 0,
        matched_records: 0,
        malformed: 0,
        per_rule: HashMap::new(),
    };
    for f in &a.files {
        let name = f.display().to_string();
        if let Some(b) = &sc.bar {
            b.set_message(name.clone());
        }
        let r = match format_of(f) {
            Format::Evtx => sc.evtx(f, &name),
            Format::Lines => sc.lines(f, &name),
            Format::JsonStream => sc.json_stream(f, &name),
        };
        r.map_err(|e| format!("{name}: {e}"))?;
    }
    if let Some(b) = &sc.bar {
        b.finish_and_clear();
    }
    sc.out.flush().map_err(|e| e.to_string())?;
    let mut top: Vec<_> = sc.per_rule.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    eprintln!(
        "sigmaline scan: {} records, {} matched, {} malformed, {} rules loaded, {} rules fired",
        sc.records,
        sc.matched_records,
        sc.malformed,
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

fn progress_bar(files: usize) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let b = indicatif::ProgressBar::new_spinner();
    b.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos} records {per_sec} {msg}").ok()?,
    );
    b.set_message(format!("{files} files"));
    Some(b)
}

pub(crate) fn open(p: &Path) -> std::io::Result<Box<dyn BufRead>> {
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

impl<W: Write> Scanner<'_, W> {
    fn lines(&mut self, path: &Path, name: &str) -> std::io::Result<()> {
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
            self.count_record();
            match self.engine.match_json(&mut self.scratch, body) {
                Ok(m) if !m.is_empty() => {
                    let m = m.to_vec();
                    self.report(&m, name, n, |o| o.write_all(body))?;
                }
                Ok(_) => {}
                Err(_) => self.malformed += 1,
            }
        }
    }

    fn json_stream(&mut self, path: &Path, name: &str) -> std::io::Result<()> {
        let values =
            serde_json::Deserializer::from_reader(open(path)?).into_iter::<serde_json::Value>();
        for (i, v) in values.enumerate() {
            self.count_record();
            // A syntax error ends the file: a JSON stream cannot be resynchronised.
            let Ok(v) = v else {
                self.malformed += 1;
                return Ok(());
            };
            self.value(&v, name, i as u64 + 1)?;
        }
        Ok(())
    }

    fn evtx(&mut self, path: &Path, name: &str) -> std::io::Result<()> {
        let mut parser =
            evtx::EvtxParser::from_path(path).map_err(|e| std::io::Error::other(e.to_string()))?;
        for rec in parser.records_json_value() {
            self.count_record();
            match rec {
                Ok(r) => self.value(&r.data, name, r.event_record_id)?,
                Err(_) => self.malformed += 1,
            }
        }
        Ok(())
    }

    fn value(&mut self, v: &serde_json::Value, name: &str, record: u64) -> std::io::Result<()> {
        match self.engine.match_value(&mut self.scratch, v) {
            Ok(m) if !m.is_empty() => {
                let m = m.to_vec();
                self.report(&m, name, record, |o| {
                    serde_json::to_writer(o, v).map_err(std::io::Error::other)
                })
            }
            Ok(_) => Ok(()),
            Err(_) => {
                self.malformed += 1;
                Ok(())
            }
        }
    }

    fn count_record(&mut self) {
        self.records += 1;
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }

    fn report(
        &mut self,
        matched: &[u32],
        file: &str,
        record: u64,
        event: impl FnOnce(&mut W) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.matched_records += 1;
        for &r in matched {
            *self.per_rule.entry(r).or_default() += 1;
        }
        if self.summary_only {
            return Ok(());
        }
        let tags: Vec<_> = matched
            .iter()
            .map(|&r| sigmaline_core::output::tag_json(self.engine.rule(r)))
            .collect();
        write!(
            self.out,
            "{{\"file\":{},\"record\":{record},\"sigma\":[{}],\"event\":",
            serde_json::to_string(file).unwrap(),
            tags.join(",")
        )?;
        event(&mut self.out)?;
        self.out.write_all(b"}\n")
    }
}
