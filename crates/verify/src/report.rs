//! What verify reports: one line per check — PASS, WARN or FAIL, what was found and, when it is
//! not a pass, what to do — as text for operators or JSON for machines.

use serde::Serialize;

/// Details printed under a check in the text report (the JSON report has all of them).
const TEXT_DETAILS: usize = 50;

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

/// One check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// What was checked, e.g. `topic metrics`.
    pub name: String,
    pub status: Status,
    /// What was found.
    pub found: String,
    /// What to do about a WARN or FAIL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Every item found (e.g. each differing window), one line each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

impl Check {
    pub fn pass(name: impl Into<String>, found: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: Status::Pass,
            found: found.into(),
            action: None,
            details: Vec::new(),
        }
    }

    /// The same with `details`.
    pub fn with_details(mut self, details: Vec<String>) -> Check {
        self.details = details;
        self
    }

    pub fn warn(name: impl Into<String>, found: impl Into<String>, action: &str) -> Check {
        Check {
            status: Status::Warn,
            action: Some(action.to_string()),
            ..Check::pass(name, found)
        }
    }

    pub fn fail(name: impl Into<String>, found: impl Into<String>, action: &str) -> Check {
        Check {
            status: Status::Fail,
            action: Some(action.to_string()),
            ..Check::pass(name, found)
        }
    }
}

/// Every check of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether nothing failed (the exit status is 0 then).
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Fail)
    }

    /// One line per check, then a summary line.
    pub fn text(&self) -> String {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for check in &self.checks {
            let status = format!("{:?}", check.status).to_uppercase();
            out.push_str(&format!(
                "{status:<4}  {:<width$}  {}",
                check.name, check.found
            ));
            if let Some(action) = &check.action {
                out.push_str(&format!(" → {action}"));
            }
            out.push('\n');
            for detail in check.details.iter().take(TEXT_DETAILS) {
                out.push_str(&format!("      · {detail}\n"));
            }
            if check.details.len() > TEXT_DETAILS {
                let more = check.details.len() - TEXT_DETAILS;
                out.push_str(&format!(
                    "      · … and {more} more (--json lists them all)\n"
                ));
            }
        }
        let count = |s: Status| self.checks.iter().filter(|c| c.status == s).count();
        out.push_str(&format!(
            "{} checks: {} passed, {} warnings, {} failed\n",
            self.checks.len(),
            count(Status::Pass),
            count(Status::Warn),
            count(Status::Fail)
        ));
        out
    }

    /// The report as one JSON object (`{"passed": …, "checks": […]}`).
    pub fn json(&self) -> String {
        serde_json::json!({ "passed": self.passed(), "checks": self.checks }).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fail_fails_the_report_and_lines_say_what_to_do() {
        let mut report = Report::default();
        report.checks.push(Check::pass("broker", "reachable"));
        report.checks.push(Check::warn(
            "dead letters",
            "8% rejected",
            "look at the reasons",
        ));
        assert!(report.passed());
        report
            .checks
            .push(Check::fail("topic metrics", "does not exist", "create it"));
        assert!(!report.passed());
        let text = report.text();
        assert!(text.contains("PASS  broker         reachable\n"), "{text}");
        assert!(
            text.contains("FAIL  topic metrics  does not exist → create it\n"),
            "{text}"
        );
        assert!(
            text.ends_with("3 checks: 1 passed, 1 warnings, 1 failed\n"),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&report.json()).unwrap();
        assert_eq!(json["passed"], false);
        assert_eq!(json["checks"][2]["status"], "FAIL");
        assert!(json["checks"][0].get("action").is_none());
    }
}
