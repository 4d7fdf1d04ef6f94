//! The options every subcommand shares: where rules come from and how
//! records are read.

use std::path::PathBuf;

use sigmaline_core::{BuildReport, Engine, Mode, Settings, Unmapped};

fn parse_unmapped(s: &str) -> Result<Unmapped, String> {
    s.parse()
}

#[derive(clap::Args, Clone, Debug)]
pub struct RuleArgs {
    /// Rule file or directory (recursive, *.yml/*.yaml); repeat for more.
    #[arg(long = "rules", short = 'r', value_name = "PATH", required = true)]
    pub rules: Vec<PathBuf>,
    /// Record shape: auto, flat, evtx, ecs, or a profile YAML file.
    #[arg(long, default_value = "auto", value_name = "PROFILE")]
    pub profile: String,
    /// Extra logsource map (YAML) that extends or overrides the built-in one.
    #[arg(long, value_name = "FILE")]
    pub logsources: Option<PathBuf>,
    /// Value(s) for a `%name%` placeholder of the expand modifier: NAME=V1,V2.
    #[arg(long = "placeholder", value_name = "NAME=VALUES")]
    pub placeholders: Vec<String>,
    /// Rules whose logsource is not in the map: inactive (loaded, never fire) or all (apply to every record).
    #[arg(long, default_value = "inactive", value_name = "POLICY", value_parser = parse_unmapped)]
    pub unmapped_logsources: Unmapped,
    /// Load only rules of this logsource product (e.g. windows).
    #[arg(long, value_name = "PRODUCT")]
    pub product: Option<String>,
    /// YAML file of placeholder values (`name: [value, ...]`).
    #[arg(long = "placeholders", value_name = "FILE")]
    pub placeholder_file: Option<PathBuf>,
    /// Records larger than this pass through unread and are counted as malformed (512K, 1M, ...).
    #[arg(long, default_value = "1M", value_name = "SIZE")]
    pub max_record_bytes: String,
    /// Rule files larger than this are rejected unread.
    #[arg(long, default_value = "1M", value_name = "SIZE")]
    pub max_rule_file_bytes: String,
}

impl RuleArgs {
    pub fn settings(&self, mode: Mode, tag_field: &str) -> Result<Settings, String> {
        let mut st = Settings {
            rules: self.rules.iter().map(|p| p.display().to_string()).collect(),
            mode,
            profile: self.profile.clone(),
            tag_key: tag_field.to_string(),
            logsources: self.logsources.clone(),
            placeholder_files: self.placeholder_file.iter().cloned().collect(),
            unmapped: self.unmapped_logsources,
            product: self.product.as_ref().map(|p| p.to_lowercase()),
            ..Settings::default()
        };
        st.set("max_record_bytes", &self.max_record_bytes)
            .map_err(|e| format!("--max-record-bytes: {e}"))?;
        st.set("max_rule_file_bytes", &self.max_rule_file_bytes)
            .map_err(|e| format!("--max-rule-file-bytes: {e}"))?;
        for p in &self.placeholders {
            st.set("placeholder", p)
                .map_err(|e| format!("--placeholder: {e}"))?;
        }
        Ok(st)
    }

    /// Loads and compiles the rules.
    pub fn build(&self, mode: Mode, tag_field: &str) -> Result<(Engine, BuildReport), String> {
        self.settings(mode, tag_field)?.build_report()
    }

    /// Builds an engine that must hold at least one rule.
    pub fn build_nonempty(
        &self,
        mode: Mode,
        tag_field: &str,
    ) -> Result<(Engine, BuildReport), String> {
        self.settings(mode, tag_field)?.build()
    }
}
