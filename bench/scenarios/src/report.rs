//! One scenario's results: the raw runs, a `summary` of medians and
//! ratios, the machine and the command, written as
//! `bench/results/<name>.json`, a Markdown table `<name>.md` and an SVG
//! plot `<name>.svg` (issue 6, "Machine-readable results").

use std::path::Path;

use serde_json::{Map, Value, json};
use trickles_sim::plot::Chart;
use trickles_xdp::scenario::machine;

/// The median of `v` (NaN when empty).
pub fn median(v: &[f64]) -> f64 {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// A scenario's results, built up as it runs.
#[derive(Debug)]
pub struct Report {
    /// Scenario name (file stem).
    pub name: &'static str,
    /// The command that reproduces it.
    pub command: String,
    /// One JSON object per run.
    pub runs: Vec<Value>,
    /// Top-level figures (issue 6 names the required keys).
    pub summary: Map<String, Value>,
    /// Markdown: the table and its notes.
    pub table: String,
    /// The plot.
    pub chart: Option<Chart>,
}

impl Report {
    /// An empty report for `name`.
    pub fn new(name: &'static str, runs: usize) -> Report {
        Report {
            name,
            command: format!("cargo xtask bench {name} --runs {runs}"),
            runs: Vec::new(),
            summary: Map::new(),
            table: String::new(),
            chart: None,
        }
    }

    /// Put `value` in the summary under `key`.
    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.summary.insert(key.to_owned(), value.into());
    }

    /// Write `<dir>/<name>.json`, `.md` and `.svg`; print the table.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let machine = machine();
        let commit = commit();
        let doc = json!({
            "scenario": self.name,
            "command": self.command,
            "machine": machine,
            "commit": commit,
            "summary": self.summary,
            "runs": self.runs,
        });
        let json_path = dir.join(format!("{}.json", self.name));
        std::fs::write(&json_path, serde_json::to_string_pretty(&doc)? + "\n")?;
        let mut md = format!(
            "# Scenario `{}`\n\nMachine: {machine}. Commit: `{commit}`. Command: `{}` (run as root; nothing else ran on the machine).\n\n{}",
            self.name, self.command, self.table
        );
        if self.chart.is_some() {
            md.push_str(&format!("\n![{0}]({0}.svg)\n", self.name));
        }
        md.push_str("\nSummary (`summary` of the JSON):\n\n```json\n");
        md.push_str(&serde_json::to_string_pretty(&self.summary)?);
        md.push_str("\n```\n");
        std::fs::write(dir.join(format!("{}.md", self.name)), md)?;
        if let Some(c) = &self.chart {
            std::fs::write(dir.join(format!("{}.svg", self.name)), c.to_svg())?;
        }
        println!("{}", self.table);
        println!(
            "summary: {}",
            serde_json::to_string(&self.summary).unwrap_or_default()
        );
        eprintln!("trickles-bench: wrote {}", json_path.display());
        Ok(())
    }
}

/// The commit measured: `git describe`'s short hash, with `-dirty` when
/// the sources differ from it (results files aside), or "unknown" outside
/// a git checkout.
fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let Some(hash) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "unknown".into();
    };
    let dirty = git(&[
        "status",
        "--porcelain",
        "--",
        ":/",
        ":(top,exclude)bench/results",
    ])
    .is_some_and(|s| !s.is_empty());
    if dirty { format!("{hash}-dirty") } else { hash }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(median(&[f64::NAN, 5.0]), 5.0);
    }
}
