//! Restart policy and its intensity limit (G11), as pure bookkeeping.
//!
//! Like Erlang/OTP supervisors: at most `max_restarts` restarts within any window of `window`;
//! one more unexpected exit than that and the primary gives up restarting.

use std::collections::VecDeque;
use std::time::Duration;

pub use crew_model::RestartPolicy;

/// A restart policy with its intensity limit (G11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restart {
    /// Which unexpected exits are replaced.
    pub policy: RestartPolicy,
    /// R: at most this many restarts within `window`.
    pub max_restarts: u32,
    /// T: the intensity window.
    pub window: Duration,
}

impl Restart {
    /// No restarts (the default, as in Node).
    pub const NEVER: Restart = Restart {
        policy: RestartPolicy::Never,
        max_restarts: 0,
        window: Duration::from_secs(5),
    };

    /// Replace workers that fail (non-zero exit code or a signal), at most `max_restarts` times
    /// within `window`.
    pub fn on_failure(max_restarts: u32, window: Duration) -> Restart {
        Restart {
            policy: RestartPolicy::OnFailure,
            max_restarts,
            window,
        }
    }

    /// Replace every worker that exits unexpectedly, at most `max_restarts` times within `window`.
    pub fn always(max_restarts: u32, window: Duration) -> Restart {
        Restart {
            policy: RestartPolicy::Always,
            max_restarts,
            window,
        }
    }

    /// Whether an unexpected exit with this status calls for a replacement under the policy.
    pub fn wants_replacement(&self, code: Option<i32>) -> bool {
        match self.policy {
            RestartPolicy::Never => false,
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => code != Some(0),
        }
    }

    pub(crate) fn window_ms(&self) -> u64 {
        u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX)
    }
}

impl Default for Restart {
    fn default() -> Self {
        Restart::NEVER
    }
}

/// What the primary decides about an unexpected exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Not a case for a replacement (policy, or an expected exit).
    None,
    /// Replace the worker.
    Restart,
    /// The intensity is exceeded: do not replace, report that the primary gave up.
    GiveUp,
}

/// Restart times within the window, in the primary's monotonic milliseconds.
#[derive(Debug, Default)]
pub(crate) struct Intensity {
    recent: VecDeque<u64>,
    gave_up: bool,
}

impl Intensity {
    /// Decides, at `now_ms`, about an unexpected exit with exit `code` (None: a signal), and
    /// records a restart when it decides for one.
    pub(crate) fn decide(&mut self, restart: &Restart, code: Option<i32>, now_ms: u64) -> Decision {
        if self.gave_up || !restart.wants_replacement(code) {
            return Decision::None;
        }
        let window = restart.window_ms();
        while self
            .recent
            .front()
            .is_some_and(|&t| now_ms.saturating_sub(t) >= window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= restart.max_restarts as usize {
            self.gave_up = true;
            return Decision::GiveUp;
        }
        self.recent.push_back(now_ms);
        Decision::Restart
    }

    /// A new policy starts a new count (as a new Config does in the model).
    pub(crate) fn reset(&mut self) {
        self.recent.clear();
        self.gave_up = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intensity_gives_up_after_r_restarts_within_t() {
        let r = Restart::on_failure(2, Duration::from_millis(1000));
        let mut i = Intensity::default();
        assert_eq!(i.decide(&r, Some(0), 0), Decision::None);
        assert_eq!(i.decide(&r, Some(1), 0), Decision::Restart);
        assert_eq!(i.decide(&r, None, 10), Decision::Restart);
        assert_eq!(i.decide(&r, Some(1), 20), Decision::GiveUp);
        assert_eq!(
            i.decide(&r, Some(1), 5000),
            Decision::None,
            "gave up for good"
        );
    }

    #[test]
    fn intensity_window_slides() {
        let r = Restart::always(1, Duration::from_millis(100));
        let mut i = Intensity::default();
        assert_eq!(i.decide(&r, Some(0), 0), Decision::Restart);
        assert_eq!(i.decide(&r, Some(0), 100), Decision::Restart);
        assert_eq!(i.decide(&r, Some(0), 150), Decision::GiveUp);
    }
}
