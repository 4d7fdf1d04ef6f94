//! The options every subcommand shares: where rules come from and how
//! records are read.

use std::path::PathBuf;

use sigmaline_core::{
    BuildReport, Engine, EngineBuilder, LogsourceMap, Mode, ProfileSet, RuleSet, Unmapped,
};

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
}

impl RuleArgs {
    /// Loads and compiles the rules.
    pub fn build(&self, mode: Mode, tag_field: &str) -> Result<(Engine, BuildReport), String> {
        let mut set = RuleSet::load_paths(&self.rules).map_err(|e| e.to_string())?;
        if let Some(p) = &self.product {
            let p = p.to_lowercase();
            set.rules
                .retain(|r| r.logsource.product.as_deref() == Some(p.as_str()));
        }
        let mut b = EngineBuilder::new()
            .unmapped(self.unmapped_logsources)
            .profiles(ProfileSet::by_name(&self.profile).map_err(|e| e.to_string())?)
            .mode(mode)
            .tag_field(tag_field);
        if let Some(p) = &self.logsources {
            let mut m = LogsourceMap::builtin();
            m.extend(LogsourceMap::from_file(p).map_err(|e| e.to_string())?);
            b = b.logsources(m);
        }
        if let Some(f) = &self.placeholder_file {
            for (name, values) in
                sigmaline_core::engine::load_placeholders(f).map_err(|e| e.to_string())?
            {
                b = b.placeholder(&name, values);
            }
        }
        for p in &self.placeholders {
            let (name, values) = p
                .split_once('=')
                .ok_or_else(|| format!("--placeholder `{p}`: expected NAME=VALUE[,VALUE...]"))?;
            b = b.placeholder(
                name.trim_matches('%'),
                values.split(',').map(str::to_string).collect(),
            );
        }
        b.build(&set).map_err(|e| e.to_string())
    }

    /// Builds an engine that must hold at least one rule.
    pub fn build_nonempty(
        &self,
        mode: Mode,
        tag_field: &str,
    ) -> Result<(Engine, BuildReport), String> {
        let (engine, report) = self.build(mode, tag_field)?;
        if engine.rule_count() == 0 {
            let mut msg = format!(
                "no rule could be compiled ({} rejected)",
                report.rejected.len()
            );
            for r in report.rejected.iter().take(10) {
                msg.push_str(&format!("\n  {r}"));
            }
            return Err(msg);
        }
        Ok((engine, report))
    }
}
