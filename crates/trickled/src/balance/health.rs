//! Replica health from periodic probes: a replica leaves the rotation
//! after `down_after` probes in a row go unanswered and comes back after
//! `up_after` answered in a row, so one lost probe moves nothing and a
//! dead replica is out within `down_after` probe intervals.

/// A change of a replica's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// It stopped answering: out of the rotation.
    Down,
    /// It answers again: back in the rotation.
    Up,
}

/// One replica's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    up: bool,
    /// Probes in a row that disagree with `up`.
    streak: u32,
    down_after: u32,
    up_after: u32,
}

impl Health {
    /// A replica taken to be up until probes say otherwise (so a new
    /// balancer forwards at once).
    pub fn new(down_after: u32, up_after: u32) -> Health {
        Health {
            up: true,
            streak: 0,
            down_after: down_after.max(1),
            up_after: up_after.max(1),
        }
    }

    /// In the rotation?
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// The outcome of one probe.
    pub fn record(&mut self, answered: bool) -> Option<Transition> {
        if answered == self.up {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if self.up {
            self.down_after
        } else {
            self.up_after
        };
        if self.streak < needed {
            return None;
        }
        self.up = answered;
        self.streak = 0;
        Some(if answered {
            Transition::Up
        } else {
            Transition::Down
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_after_n_misses_in_a_row_up_after_m_answers() {
        let mut h = Health::new(3, 2);
        assert!(h.is_up());
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(false), None);
        // An answer resets the count: one lost probe moves nothing.
        assert_eq!(h.record(true), None);
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(false), Some(Transition::Down));
        assert!(!h.is_up());
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(true), None);
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(true), None);
        assert_eq!(h.record(true), Some(Transition::Up));
        assert!(h.is_up());
    }

    #[test]
    fn zero_thresholds_mean_one() {
        let mut h = Health::new(0, 0);
        assert_eq!(h.record(false), Some(Transition::Down));
        assert_eq!(h.record(true), Some(Transition::Up));
    }
}
