//! Finding rule files and splitting them into documents.
//!
//! Each YAML document is parsed on its own, so a syntax error in one
//! document of a multi-document file costs only that document, and every
//! error can name the line where its document starts.

use std::path::{Path, PathBuf};

use yaml_rust2::YamlLoader;

use crate::error::Error;
use crate::rule::{parse_document, Document, Filter, Meta, Rejection, Rule, Source};

/// Everything read from a set of rule paths, before compilation.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub filters: Vec<Filter>,
    /// Correlation documents: recognised, reported, not evaluated.
    pub correlations: Vec<(Meta, Source)>,
    pub rejected: Vec<Rejection>,
    /// Rule files read.
    pub files: usize,
}

/// Rule files larger than this are rejected unread (SigmaHQ's largest
/// is ~60 KB).
pub const DEFAULT_MAX_RULE_FILE_BYTES: u64 = 1 << 20;

impl RuleSet {
    /// Reads files and directories (recursively, `*.yml` and `*.yaml`).
    /// A path that does not exist or cannot be read is an error; a bad
    /// document inside a file is a [`Rejection`].
    pub fn load_paths<P: AsRef<Path>>(paths: &[P]) -> Result<RuleSet, Error> {
        Self::load_paths_limited(paths, DEFAULT_MAX_RULE_FILE_BYTES)
    }

    /// [`RuleSet::load_paths`], where a file larger than `max_file_bytes` is
    /// rejected (with that reason) instead of read.
    pub fn load_paths_limited<P: AsRef<Path>>(
        paths: &[P],
        max_file_bytes: u64,
    ) -> Result<RuleSet, Error> {
        let mut set = RuleSet::default();
        let mut files = Vec::new();
        for p in paths {
            collect_files(p.as_ref(), &mut files)?;
        }
        // The same file given twice (directly and through its directory) loads once.
        let mut seen = std::collections::HashSet::new();
        files.retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
        for f in files {
            let len = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
            if len > max_file_bytes {
                set.files += 1;
                set.rejected.push(Rejection {
                    source: Source { path: f.clone(), line: 1 },
                    id: None,
                    title: None,
                    reason: format!(
                        "file is {len} bytes, over the {max_file_bytes}-byte limit (max_rule_file_bytes)"
                    ),
                });
                continue;
            }
            let text = std::fs::read(&f).map_err(|e| Error::Io {
                path: f.clone(),
                source: e,
            })?;
            let text = String::from_utf8_lossy(&text);
            set.add_str(&text, &f);
        }
        Ok(set)
    }

    /// Adds every document of one file's text.
    pub fn add_str(&mut self, text: &str, path: &Path) {
        self.files += 1;
        for (index, (line, chunk)) in split_documents(text).into_iter().enumerate() {
            let source = Source {
                path: path.to_path_buf(),
                line,
            };
            let docs = match YamlLoader::load_from_str(chunk) {
                Ok(d) => d,
                Err(e) => {
                    self.rejected.push(Rejection {
                        source: Source {
                            line: line + e.marker().line().saturating_sub(1),
                            ..source
                        },
                        id: None,
                        title: None,
                        reason: format!("YAML syntax error: {}", e.info()),
                    });
                    continue;
                }
            };
            for doc in docs {
                if doc.is_null() {
                    continue;
                }
                match parse_document(&doc, source.clone(), index) {
                    Ok(Document::Rule(r)) => self.rules.push(r),
                    Ok(Document::Filter(f)) => self.filters.push(f),
                    Ok(Document::Correlation { meta, source }) => {
                        self.correlations.push((meta, source))
                    }
                    Err(r) => self.rejected.push(r),
                }
            }
        }
    }
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let meta = std::fs::metadata(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    // Sorted, so rule order (and the order of tags) does not depend on the filesystem.
    entries.sort();
    for e in entries {
        if e.is_dir() {
            collect_files(&e, out)?;
        } else if matches!(e.extension().and_then(|x| x.to_str()), Some("yml" | "yaml")) {
            out.push(e);
        }
    }
    Ok(())
}

/// Splits a multi-document YAML text at `---` lines; returns each document's
/// 1-based first line and its text.
fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let t = line.trim_end();
        let is_marker = t == "---" || t.starts_with("--- ") || t == "...";
        if is_marker {
            if !text[start..offset].trim().is_empty() {
                docs.push((start_line, &text[start..offset]));
            }
            start = offset + line.len();
            start_line = i + 2;
        }
        offset += line.len();
    }
    if !text[start..].trim().is_empty() {
        docs.push((start_line, &text[start..]));
    }
    docs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_documents_with_lines() {
        let t = "a: 1\n---\nb: 2\nc: 3\n---\n\n--- \nd: 4\n";
        let d = split_documents(t);
        assert_eq!(d.len(), 3);
        assert_eq!(d[0], (1, "a: 1\n"));
        assert_eq!(d[1].0, 3);
        assert_eq!(d[2], (8, "d: 4\n"));
    }

    #[test]
    fn bad_document_does_not_stop_others() {
        let mut set = RuleSet::default();
        let t = "title: ok\nid: 1\nlogsource: {product: windows}\ndetection: {s: {a: 1}, condition: s}\n---\ntitle: [unclosed\n---\ntitle: ok2\nid: 2\nlogsource: {product: windows}\ndetection: {s: {a: 1}, condition: s}\n";
        set.add_str(t, Path::new("multi.yml"));
        assert_eq!(set.rules.len(), 2);
        assert_eq!(set.rejected.len(), 1);
        assert!(
            (6..=7).contains(&set.rejected[0].source.line),
            "{}",
            set.rejected[0].source.line
        );
        assert!(set.rejected[0].reason.contains("YAML"));
    }
}
