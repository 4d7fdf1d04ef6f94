//! `sigmaline check`: per-rule load status.

use sigmaline_core::Mode;

use crate::engine_args::RuleArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    rules: RuleArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Print only problems and the summary.
    #[arg(long, short)]
    quiet: bool,
    /// Also print the compiled engine's size: atoms, fields, and the
    /// largest fields' needles, hash-list families and automaton memory.
    #[arg(long)]
    stats: bool,
}

pub fn run(a: Args) -> Result<i32, String> {
    let (engine, report) = a.rules.build(Mode::Tag, "sigma")?;
    let warnings: Vec<_> = report
        .loaded
        .iter()
        .flat_map(|r| r.warnings.iter().map(move |w| (r, w)))
        .collect();
    if a.json {
        let rej = |r: &sigmaline_core::Rejection| {
            serde_json::json!({
                "path": r.source.path.display().to_string(),
                "line": r.source.line,
                "id": r.id,
                "title": r.title,
                "reason": r.reason,
            })
        };
        let out = serde_json::json!({
            "loaded": report.loaded.len(),
            "rejected": report.rejected.iter().map(rej).collect::<Vec<_>>(),
            "unsupported": report.unsupported.iter().map(rej).collect::<Vec<_>>(),
            "warnings": warnings.iter().map(|(r, w)| serde_json::json!({
                "path": r.source.path.display().to_string(),
                "line": r.source.line,
                "id": r.meta.id,
                "title": r.meta.title,
                "warning": w,
            })).collect::<Vec<_>>(),
            "inactive": report.inactive,
            "filters_applied": report.filters_applied,
            "files": report.files,
        });
        println!("{out}");
    } else {
        for r in &report.loaded {
            if r.warnings.is_empty() {
                if !a.quiet {
                    println!("ok       {} {} ({})", r.source, r.meta.id, r.meta.title);
                }
            } else {
                for w in &r.warnings {
                    println!(
                        "warning  {} {} ({}): {w}",
                        r.source, r.meta.id, r.meta.title
                    );
                }
            }
        }
        for r in &report.unsupported {
            println!("skipped  {r}");
        }
        for r in &report.rejected {
            println!("rejected {r}");
        }
        let total = report.loaded.len() + report.rejected.len();
        println!(
            "{} of {} rules loaded ({:.2}%, {} inactive) from {} files; {} rejected, {} unsupported, {} warnings",
            report.loaded.len(),
            total,
            if total == 0 { 0.0 } else { 100.0 * report.loaded.len() as f64 / total as f64 },
            report.inactive,
            report.files,
            report.rejected.len(),
            report.unsupported.len(),
            warnings.len()
        );
    }
    if a.stats {
        print_stats(&engine);
    }
    Ok(if report.loaded.is_empty() { 1 } else { 0 })
}

/// How many fields `--stats` lists.
const STATS_FIELDS: usize = 15;

/// The engine's size on stderr: totals, then the fields with most needles.
fn print_stats(engine: &sigmaline_core::Engine) {
    let fields = engine.field_stats();
    let bytes: usize = fields.iter().map(|(_, st)| st.bytes).sum();
    eprintln!(
        "{} atoms over {} fields; automata of {} fields: {}",
        engine.atom_count(),
        engine.field_count(),
        fields.len(),
        size(bytes)
    );
    eprintln!(
        "{:>8}  {:>14}  {:>10}  {:<7}  field",
        "needles", "in families", "memory", "kind"
    );
    for (name, st) in fields.into_iter().take(STATS_FIELDS) {
        let families = match st.families {
            0 => "-".to_string(),
            n => format!("{} in {n}", st.in_families),
        };
        let kind = match (st.dfas, st.nfas) {
            (0, _) => "NFA",
            (_, 0) => "DFA",
            _ => "DFA+NFA",
        };
        eprintln!(
            "{:>8}  {families:>14}  {:>10}  {kind:<7}  {}",
            st.needles,
            size(st.bytes),
            name.trim_start_matches('\0')
        );
    }
}

/// Bytes as KiB or MiB, one decimal.
fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
        b => format!("{:.1} KiB", b as f64 / 1024.0),
    }
}
