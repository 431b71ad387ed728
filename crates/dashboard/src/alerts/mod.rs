//! Alerts: each rule's alert moves inactive → pending (the condition holds) → firing (it held
//! for the rule's `for`) → resolved (it stopped holding), as in Prometheus. Silences hide a
//! rule's alert (or every alert) until they expire, with a comment; every transition is kept in
//! a bounded history.

pub mod rules;

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;

pub use rules::{Rule, Signal};

/// Silences active at once; more are refused (every one is kept and shown).
pub const MAX_SILENCES: usize = 100;
/// Longest comment of a silence.
pub const MAX_COMMENT_BYTES: usize = 1024;
/// Transitions kept in the history.
const HISTORY: usize = 500;

/// Measures a signal at `now` over the span `over` (rates and increases); `None`: no data.
pub trait Measure {
    fn measure(&self, signal: Signal, over: Duration, now: i64) -> Option<f64>;
}

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Inactive,
    Pending,
    Firing,
    Resolved,
}

/// A rule's alert.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub rule: Rule,
    pub state: State,
    /// When the alert entered its state (epoch seconds).
    pub since: i64,
    /// The signal's value at the last evaluation; `None`: no data.
    pub value: Option<f64>,
    /// The silence that hides it now, if any.
    pub silenced_by: Option<u64>,
}

/// A silence: hides the alert of `rule` (every alert when `None`) until `until`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Silence {
    pub id: u64,
    pub rule: Option<String>,
    pub until: i64,
    pub comment: String,
    pub created: i64,
}

/// One change of an alert's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    pub at: i64,
    pub rule: String,
    pub from: State,
    pub to: State,
    pub value: Option<f64>,
}

/// Every rule's alert, the silences and the history of transitions.
#[derive(Debug, Clone, Serialize)]
pub struct Alerts {
    pub alerts: Vec<Alert>,
    pub silences: Vec<Silence>,
    /// Newest first.
    pub history: VecDeque<Transition>,
    #[serde(skip)]
    next_silence: u64,
}

impl Alerts {
    /// Every rule inactive, from `now`.
    pub fn new(rules: Vec<Rule>, now: i64) -> Alerts {
        let alerts = rules
            .into_iter()
            .map(|rule| Alert {
                rule,
                state: State::Inactive,
                since: now,
                value: None,
                silenced_by: None,
            })
            .collect();
        Alerts {
            alerts,
            silences: Vec::new(),
            history: VecDeque::new(),
            next_silence: 1,
        }
    }

    /// Measures every rule's signal and moves the alerts; drops expired silences.
    pub fn evaluate(&mut self, measure: &dyn Measure, now: i64) {
        self.silences.retain(|s| s.until > now);
        for alert in &mut self.alerts {
            let value = measure.measure(alert.rule.signal, alert.rule.over, now);
            alert.value = value;
            let next = next_state(alert, value.is_some_and(|v| alert.rule.breached(v)), now);
            if next != alert.state {
                self.history.push_front(Transition {
                    at: now,
                    rule: alert.rule.name.clone(),
                    from: alert.state,
                    to: next,
                    value,
                });
                self.history.truncate(HISTORY);
                alert.state = next;
                alert.since = now;
            }
            alert.silenced_by = self
                .silences
                .iter()
                .find(|s| s.rule.as_ref().is_none_or(|r| *r == alert.rule.name))
                .map(|s| s.id);
        }
    }

    /// Adds a silence of `rule` (all rules when `None`) for `duration` from `now`.
    pub fn silence(
        &mut self,
        rule: Option<String>,
        duration: Duration,
        comment: String,
        now: i64,
    ) -> Result<Silence, String> {
        if let Some(name) = &rule {
            if !self.alerts.iter().any(|a| a.rule.name == *name) {
                return Err(format!("no rule named {name:?}"));
            }
        }
        if comment.trim().is_empty() {
            return Err("a silence needs a comment (who and why)".into());
        }
        if duration.is_zero() || duration > Duration::from_secs(30 * 86_400) {
            return Err("a silence lasts between 1 second and 30 days".into());
        }
        if comment.len() > MAX_COMMENT_BYTES {
            return Err(format!(
                "a silence's comment holds at most {MAX_COMMENT_BYTES} bytes"
            ));
        }
        let active = self.silences.iter().filter(|s| s.until > now).count();
        if active >= MAX_SILENCES {
            return Err(format!(
                "{MAX_SILENCES} silences are active already: end one first"
            ));
        }
        let silence = Silence {
            id: self.next_silence,
            rule,
            until: now + duration.as_secs() as i64,
            comment,
            created: now,
        };
        self.next_silence += 1;
        self.silences.push(silence.clone());
        for alert in &mut self.alerts {
            if silence.rule.as_ref().is_none_or(|r| *r == alert.rule.name) {
                alert.silenced_by.get_or_insert(silence.id);
            }
        }
        Ok(silence)
    }

    /// Ends silence `id` now; whether there was one.
    pub fn expire(&mut self, id: u64) -> bool {
        let before = self.silences.len();
        self.silences.retain(|s| s.id != id);
        for alert in &mut self.alerts {
            if alert.silenced_by == Some(id) {
                alert.silenced_by = None;
            }
        }
        self.silences.len() < before
    }
}

/// The state an alert moves to when its condition `breached` holds or not at `now`.
fn next_state(alert: &Alert, breached: bool, now: i64) -> State {
    match (alert.state, breached) {
        (State::Inactive | State::Resolved, true) if alert.rule.hold.is_zero() => State::Firing,
        (State::Inactive | State::Resolved, true) => State::Pending,
        (State::Pending, true) if now - alert.since >= alert.rule.hold.as_secs() as i64 => {
            State::Firing
        }
        (State::Pending, false) => State::Inactive,
        (State::Firing, false) => State::Resolved,
        (state, _) => state,
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::rules::{Comparison, Severity};
    use super::*;

    /// A measure that gives one value to every signal.
    struct Fixed(Cell<Option<f64>>);

    impl Measure for Fixed {
        fn measure(&self, _: Signal, _: Duration, _: i64) -> Option<f64> {
            self.0.get()
        }
    }

    fn rule(name: &str, hold: u64) -> Rule {
        Rule {
            name: name.into(),
            signal: Signal::RatingsPerMinute,
            when: Comparison::Below,
            threshold: 10.0,
            hold: Duration::from_secs(hold),
            over: Duration::from_secs(60),
            severity: Severity::Critical,
            summary: String::new(),
        }
    }

    fn states(alerts: &Alerts) -> Vec<State> {
        alerts.alerts.iter().map(|a| a.state).collect()
    }

    #[test]
    fn an_alert_goes_pending_then_firing_after_its_hold_then_resolves() {
        let mut alerts = Alerts::new(vec![rule("Low", 30), rule("LowNow", 0)], 0);
        let measure = Fixed(Cell::new(Some(50.0)));
        alerts.evaluate(&measure, 10);
        assert_eq!(states(&alerts), [State::Inactive, State::Inactive]);
        measure.0.set(Some(2.0));
        alerts.evaluate(&measure, 20);
        assert_eq!(states(&alerts), [State::Pending, State::Firing]);
        alerts.evaluate(&measure, 49);
        assert_eq!(states(&alerts), [State::Pending, State::Firing]);
        alerts.evaluate(&measure, 50);
        assert_eq!(states(&alerts), [State::Firing, State::Firing]);
        assert_eq!(alerts.alerts[0].since, 50);
        measure.0.set(Some(12.0));
        alerts.evaluate(&measure, 60);
        assert_eq!(states(&alerts), [State::Resolved, State::Resolved]);
        let newest: Vec<(&str, State, State)> = alerts
            .history
            .iter()
            .map(|t| (t.rule.as_str(), t.from, t.to))
            .collect();
        assert_eq!(
            newest,
            [
                ("LowNow", State::Firing, State::Resolved),
                ("Low", State::Firing, State::Resolved),
                ("Low", State::Pending, State::Firing),
                ("LowNow", State::Inactive, State::Firing),
                ("Low", State::Inactive, State::Pending),
            ]
        );
    }

    #[test]
    fn a_condition_that_stops_before_the_hold_never_fires_and_no_data_is_not_a_breach() {
        let mut alerts = Alerts::new(vec![rule("Low", 30)], 0);
        let measure = Fixed(Cell::new(Some(2.0)));
        alerts.evaluate(&measure, 0);
        measure.0.set(None);
        alerts.evaluate(&measure, 40);
        assert_eq!(states(&alerts), [State::Inactive]);
        assert_eq!(alerts.alerts[0].value, None);
    }

    #[test]
    fn silences_are_capped_in_number_and_comment_and_expired_ones_free_their_place() {
        let mut alerts = Alerts::new(vec![rule("Low", 0)], 0);
        let minute = Duration::from_secs(60);
        for _ in 0..MAX_SILENCES {
            alerts.silence(None, minute, "x".into(), 0).unwrap();
        }
        let refused = alerts.silence(None, minute, "x".into(), 0).unwrap_err();
        assert!(refused.contains("100 silences are active"), "{refused}");
        let long = "y".repeat(MAX_COMMENT_BYTES + 1);
        assert!(alerts.silence(None, minute, long, 61).is_err());
        // a minute later all have expired
        assert!(alerts.silence(None, minute, "x".into(), 61).is_ok());
    }

    #[test]
    fn silences_hide_until_they_expire_and_need_a_comment() {
        let mut alerts = Alerts::new(vec![rule("Low", 0), rule("Other", 0)], 0);
        let measure = Fixed(Cell::new(Some(2.0)));
        alerts.evaluate(&measure, 0);
        let hour = Duration::from_secs(3600);
        assert!(alerts
            .silence(Some("Low".into()), hour, " ".into(), 0)
            .is_err());
        assert!(alerts
            .silence(Some("Nope".into()), hour, "x".into(), 0)
            .is_err());
        let silence = alerts
            .silence(Some("Low".into()), hour, "deploy".into(), 0)
            .unwrap();
        assert_eq!(alerts.alerts[0].silenced_by, Some(silence.id));
        assert_eq!(alerts.alerts[1].silenced_by, None);
        alerts.evaluate(&measure, 3599);
        assert_eq!(alerts.alerts[0].silenced_by, Some(silence.id));
        alerts.evaluate(&measure, 3600);
        assert_eq!(alerts.alerts[0].silenced_by, None, "expired");
        assert!(alerts.silences.is_empty());
        let all = alerts
            .silence(None, hour, "maintenance".into(), 3600)
            .unwrap();
        assert!(alerts.alerts.iter().all(|a| a.silenced_by == Some(all.id)));
        assert!(alerts.expire(all.id));
        assert!(alerts.alerts.iter().all(|a| a.silenced_by.is_none()));
        assert!(!alerts.expire(all.id));
    }
}
