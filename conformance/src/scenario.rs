//! Scenarios: the steps the harness takes ([`Step`]) and the reference that generates them
//! ([`Plan`], a proptest-state-machine `ReferenceStateMachine`).
//!
//! A [`Plan`] is what the harness expects of the cluster once a step has settled: which workers
//! are alive (and how their puppets behave), how many messages each way, the restart policy and
//! its intensity count. Its rules restate crew-model's where they concern the primary's commands
//! (a send only to an online worker that was not asked to disconnect, G4; a kill only of a live
//! worker, G6; no fork after shutdown, G9; restart decisions, G11) and add what only the harness
//! knows: what each puppet was scripted to do. Steps are drawn only from what the plan allows,
//! so every generated scenario is legal; shrinking keeps it so (the preconditions are rechecked).
//!
//! Whether the real cluster did what the plan says is judged twice: the trace must be accepted
//! by crew-model's checker (the guarantees), and the model state it reaches must match the plan
//! (the harness's own expectation: a killed worker is dead, every scripted message arrived).

use std::fmt;

use crew_model::{RestartPolicy, Signal, WorkerId};
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest_state_machine::ReferenceStateMachine;

use crate::script::{RawFault, Script};

/// Signals the scenarios send with `kill`: SIGINT, SIGKILL, SIGUSR1, SIGTERM.
pub const KILL_SIGNALS: [Signal; 4] = [2, 9, 10, 15];

/// The restart intensity window: long enough that no restart leaves it during a scenario, so the
/// restart decisions are deterministic.
pub const RESTART_WINDOW_MS: u64 = 60_000;

/// Live workers at most (forks are refused beyond).
pub const MAX_ALIVE: usize = 3;

/// Forks at most, replacements included.
pub const MAX_FORKS: usize = 8;

/// One thing the harness does to the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// `Cluster::fork`.
    Fork,
    /// `Cluster::send(worker, script)`: the puppet then performs `script`.
    Script {
        /// The addressee.
        worker: WorkerId,
        /// What it will do.
        script: Script,
    },
    /// `Cluster::kill(worker, signal)`.
    Kill {
        /// The worker.
        worker: WorkerId,
        /// The signal.
        signal: Signal,
    },
    /// `Cluster::disconnect(worker, timeout)`.
    Disconnect {
        /// The worker.
        worker: WorkerId,
        /// Kill it with SIGKILL if it has not exited after this many ms.
        timeout_ms: Option<u64>,
    },
    /// `Cluster::set_restart`, with the window [`RESTART_WINDOW_MS`].
    SetRestart {
        /// The policy.
        policy: RestartPolicy,
        /// R: restarts allowed within the window.
        max_restarts: u32,
    },
    /// Nothing: let the cluster run a moment, then settle and check again (the only step
    /// after shutdown).
    Observe,
    /// `Cluster::shutdown(timeout)`: every step after it is [`Step::Observe`].
    Shutdown {
        /// Kill workers still running after this many ms.
        timeout_ms: Option<u64>,
    },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Fork => f.write_str("fork"),
            Step::Script { worker, script } => write!(f, "script worker {worker}: {script:?}"),
            Step::Kill { worker, signal } => write!(
                f,
                "kill worker {worker} with {}",
                crew_model::state::signal_name(*signal)
            ),
            Step::Disconnect { worker, timeout_ms } => {
                write!(f, "disconnect worker {worker}, timeout {timeout_ms:?} ms")
            }
            Step::SetRestart {
                policy,
                max_restarts,
            } => write!(
                f,
                "set restart {policy:?}, at most {max_restarts} per {RESTART_WINDOW_MS} ms"
            ),
            Step::Observe => f.write_str("observe"),
            Step::Shutdown { timeout_ms } => write!(f, "shutdown, timeout {timeout_ms:?} ms"),
        }
    }
}

/// How a live puppet behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Performs scripts; exits with code 0 when its channel closes.
    Serving,
    /// Busy-looping; reads nothing.
    Hung,
    /// Closed its channel; sleeps until killed.
    Lingering,
}

/// One worker as the plan expects it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedWorker {
    /// `None` once it has exited.
    pub mode: Option<Mode>,
    /// Worker-to-primary messages the primary must have received (G3).
    pub messages: u64,
    /// Scripts sent to it (primary-to-worker messages, G4).
    pub scripts: u64,
    /// Whether it ran the seed's task (Run is logged once at most).
    pub ran: bool,
    /// Whether the primary asked it to disconnect.
    pub disconnect_requested: bool,
    /// Whether it blocked SIGTERM (a kill with it then does nothing).
    pub ignores_term: bool,
}

impl PlannedWorker {
    fn new() -> PlannedWorker {
        PlannedWorker {
            mode: Some(Mode::Serving),
            messages: 0,
            scripts: 0,
            ran: false,
            disconnect_requested: false,
            ignores_term: false,
        }
    }

    /// Whether it has not exited.
    pub fn is_alive(&self) -> bool {
        self.mode.is_some()
    }

    /// Whether it reads scripts (G4: the primary may send to it).
    pub fn takes_scripts(&self) -> bool {
        self.mode == Some(Mode::Serving) && !self.disconnect_requested
    }
}

/// What the cluster should look like once each step has settled: the reference state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Worker `id` is `workers[id - 1]`.
    pub workers: Vec<PlannedWorker>,
    /// The restart policy in force.
    pub policy: RestartPolicy,
    /// R of the policy in force.
    pub max_restarts: u32,
    /// Restarts since the policy was set.
    pub restarts: u32,
    /// Whether the primary gave up restarting (until the next policy).
    pub gave_up: bool,
    /// Whether shutdown happened (nothing follows).
    pub shut_down: bool,
    /// Whether puppets start the raw-channel helper (scenarios with bad frames, G10).
    pub raw: bool,
}

impl Plan {
    /// The empty cluster: no workers, restart policy `Never`.
    pub fn new(raw: bool) -> Plan {
        Plan {
            workers: Vec::new(),
            policy: RestartPolicy::Never,
            max_restarts: 0,
            restarts: 0,
            gave_up: false,
            shut_down: false,
            raw,
        }
    }

    /// Worker `id`'s plan.
    pub fn worker(&self, id: WorkerId) -> Option<&PlannedWorker> {
        (id as usize)
            .checked_sub(1)
            .and_then(|index| self.workers.get(index))
    }

    fn worker_mut(&mut self, id: WorkerId) -> &mut PlannedWorker {
        &mut self.workers[id as usize - 1]
    }

    /// Ids of workers not yet exited.
    pub fn alive(&self) -> Vec<WorkerId> {
        self.ids(PlannedWorker::is_alive)
    }

    fn ids(&self, keep: impl Fn(&PlannedWorker) -> bool) -> Vec<WorkerId> {
        (1..=self.workers.len() as WorkerId)
            .filter(|&id| self.worker(id).is_some_and(&keep))
            .collect()
    }

    /// Whether `step` may be taken now.
    pub fn allows(&self, step: &Step) -> bool {
        if self.shut_down || matches!(step, Step::Observe) {
            return matches!(step, Step::Observe);
        }
        let worker = |id: WorkerId| self.worker(id);
        match step {
            Step::Fork => self.alive().len() < MAX_ALIVE && self.workers.len() < MAX_FORKS,
            Step::Script { worker: id, script } => worker(*id).is_some_and(|w| {
                w.takes_scripts()
                    && !(matches!(script, Script::Task { .. }) && w.ran)
                    && (self.raw || !matches!(script, Script::Raw { .. }))
            }),
            Step::Kill { worker: id, signal } => worker(*id).is_some_and(|w| {
                w.is_alive() && !w.disconnect_requested && KILL_SIGNALS.contains(signal)
            }),
            Step::Disconnect {
                worker: id,
                timeout_ms,
            } => worker(*id).is_some_and(|w| match w.mode {
                Some(Mode::Serving) => !w.disconnect_requested,
                Some(Mode::Hung) => !w.disconnect_requested && timeout_ms.is_some(),
                Some(Mode::Lingering) | None => false,
            }),
            Step::SetRestart { .. } | Step::Observe => true,
            Step::Shutdown { timeout_ms } => {
                timeout_ms.is_some()
                    || self
                        .workers
                        .iter()
                        .all(|w| !matches!(w.mode, Some(Mode::Hung | Mode::Lingering)))
            }
        }
    }

    /// The plan after `step` has settled.
    pub fn after(mut self, step: &Step) -> Plan {
        match step {
            Step::Fork => self.workers.push(PlannedWorker::new()),
            Step::Script { worker, script } => {
                let id = *worker;
                let w = self.worker_mut(id);
                w.scripts += 1;
                w.messages += script.messages();
                match script {
                    Script::Task { .. } => w.ran = true,
                    Script::Hang => w.mode = Some(Mode::Hung),
                    Script::IgnoreTerm => w.ignores_term = true,
                    Script::CloseChannelAndLinger => w.mode = Some(Mode::Lingering),
                    Script::Exit { code } | Script::SendThenExit { code, .. } => {
                        self.exit(id, *code != 0, false)
                    }
                    Script::CloseChannel
                    | Script::Raw {
                        fault: RawFault::TruncatedThenExit,
                    } => self.exit(id, false, false),
                    Script::Abort
                    | Script::Segv
                    | Script::Raw {
                        fault: RawFault::Garbage | RawFault::Oversized,
                    } => self.exit(id, true, false),
                    _ => {}
                }
            }
            Step::Kill { worker, signal } => {
                let ignored = *signal == 15 && self.worker(*worker).is_some_and(|w| w.ignores_term);
                if !ignored {
                    self.exit(*worker, true, false);
                }
            }
            Step::Disconnect { worker, .. } => {
                self.worker_mut(*worker).disconnect_requested = true;
                self.exit(*worker, false, true);
            }
            Step::SetRestart {
                policy,
                max_restarts,
            } => {
                self.policy = *policy;
                self.max_restarts = *max_restarts;
                self.restarts = 0;
                self.gave_up = false;
            }
            Step::Observe => {}
            Step::Shutdown { .. } => {
                self.shut_down = true;
                for w in &mut self.workers {
                    if w.is_alive() {
                        w.disconnect_requested = true;
                        w.mode = None;
                    }
                }
            }
        }
        self
    }

    /// Worker `id` exits; under the restart policy an unexpected exit is replaced (G11).
    fn exit(&mut self, id: WorkerId, failure: bool, after_disconnect: bool) {
        self.worker_mut(id).mode = None;
        let replace = match self.policy {
            RestartPolicy::Never => false,
            RestartPolicy::OnFailure => failure,
            RestartPolicy::Always => true,
        };
        if after_disconnect || !replace || self.gave_up {
            return;
        }
        if self.restarts < self.max_restarts {
            self.restarts += 1;
            self.workers.push(PlannedWorker::new());
        } else {
            self.gave_up = true;
        }
    }
}

fn script_strategy(worker: &PlannedWorker, raw: bool) -> BoxedStrategy<Script> {
    let mut options: Vec<(u32, BoxedStrategy<Script>)> = vec![
        (
            6,
            (1u32..5).prop_map(|count| Script::Send { count }).boxed(),
        ),
        (
            3,
            (2u32..24).prop_map(|count| Script::Burst { count }).boxed(),
        ),
        (
            3,
            (1u32..12)
                .prop_map(|count| Script::Buffered { count })
                .boxed(),
        ),
        (
            3,
            any::<u64>()
                .prop_map(|payload| Script::Echo { payload })
                .boxed(),
        ),
        (
            2,
            prop_oneof![Just(0), Just(1), Just(3)]
                .prop_map(|code| Script::Exit { code })
                .boxed(),
        ),
        (
            2,
            (1u32..5, prop_oneof![Just(0), Just(1)])
                .prop_map(|(count, code)| Script::SendThenExit { count, code })
                .boxed(),
        ),
        (1, Just(Script::Abort).boxed()),
        (1, Just(Script::Segv).boxed()),
        (1, Just(Script::Hang).boxed()),
        (1, Just(Script::IgnoreTerm).boxed()),
        (1, Just(Script::CloseChannel).boxed()),
        (1, Just(Script::CloseChannelAndLinger).boxed()),
        (1, Just(Script::SpawnGrandchild).boxed()),
    ];
    if !worker.ran {
        options.push((
            2,
            (1u32..20_000)
                .prop_map(|spins| Script::Task { spins })
                .boxed(),
        ));
    }
    if raw {
        options.push((
            3,
            prop_oneof![
                Just(RawFault::Garbage),
                Just(RawFault::Oversized),
                Just(RawFault::TruncatedThenExit)
            ]
            .prop_map(|fault| Script::Raw { fault })
            .boxed(),
        ));
    }
    Union::new_weighted(options).boxed()
}

impl ReferenceStateMachine for Plan {
    type State = Plan;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Plan> {
        // One scenario in four may inject raw bytes (each of its puppets then starts a helper).
        prop_oneof![3 => Just(false), 1 => Just(true)]
            .prop_map(Plan::new)
            .boxed()
    }

    fn transitions(plan: &Plan) -> BoxedStrategy<Step> {
        let mut options: Vec<(u32, BoxedStrategy<Step>)> = Vec::new();
        if plan.allows(&Step::Fork) {
            let weight = if plan.alive().is_empty() { 12 } else { 3 };
            options.push((weight, Just(Step::Fork).boxed()));
        }
        for id in plan.ids(PlannedWorker::takes_scripts) {
            let w = plan.worker(id).cloned().unwrap_or_else(PlannedWorker::new);
            options.push((
                6,
                script_strategy(&w, plan.raw)
                    .prop_map(move |script| Step::Script { worker: id, script })
                    .boxed(),
            ));
        }
        for id in plan.ids(|w| w.is_alive() && !w.disconnect_requested) {
            options.push((
                1,
                proptest::sample::select(KILL_SIGNALS.to_vec())
                    .prop_map(move |signal| Step::Kill { worker: id, signal })
                    .boxed(),
            ));
            let hung = plan.worker(id).and_then(|w| w.mode) == Some(Mode::Hung);
            let timeouts = if hung {
                vec![Some(30), Some(80)]
            } else {
                vec![None, Some(5_000)]
            };
            let step = Step::Disconnect {
                worker: id,
                timeout_ms: timeouts[0],
            };
            if plan.allows(&step) {
                options.push((
                    1,
                    proptest::sample::select(timeouts)
                        .prop_map(move |timeout_ms| Step::Disconnect {
                            worker: id,
                            timeout_ms,
                        })
                        .boxed(),
                ));
            }
        }
        if !plan.shut_down {
            options.push((
                1,
                (
                    prop_oneof![
                        Just(RestartPolicy::Never),
                        Just(RestartPolicy::OnFailure),
                        Just(RestartPolicy::Always)
                    ],
                    0u32..3,
                )
                    .prop_map(|(policy, max_restarts)| Step::SetRestart {
                        policy,
                        max_restarts,
                    })
                    .boxed(),
            ));
            let stubborn = !plan.allows(&Step::Shutdown { timeout_ms: None });
            let timeouts = if stubborn {
                vec![Some(60)]
            } else {
                vec![None, Some(60), Some(5_000)]
            };
            options.push((
                1,
                proptest::sample::select(timeouts)
                    .prop_map(|timeout_ms| Step::Shutdown { timeout_ms })
                    .boxed(),
            ));
        }
        if options.is_empty() {
            // After shutdown.
            return Just(Step::Observe).boxed();
        }
        Union::new_weighted(options).boxed()
    }

    fn apply(plan: Plan, step: &Step) -> Plan {
        plan.after(step)
    }

    fn preconditions(plan: &Plan, step: &Step) -> bool {
        plan.allows(step)
    }
}

/// A scenario with a name: the snapshots' and the self-test's fixed runs.
#[derive(Clone, Debug)]
pub struct Named {
    /// Snapshot name.
    pub name: &'static str,
    /// The starting plan.
    pub plan: Plan,
    /// The steps.
    pub steps: Vec<Step>,
}

/// The named scenarios. Each settles after every step, so the primary's log, and hence the
/// canonical linearisation, does not depend on scheduling.
pub fn named() -> Vec<Named> {
    use Step::{Disconnect, Fork, Kill, SetRestart, Shutdown};
    let script = |worker: WorkerId, script: Script| Step::Script { worker, script };
    vec![
        Named {
            // The seed lesson: 2 workers, each runs its task, sends its result, exits; End.
            name: "seed",
            plan: Plan::new(false),
            steps: vec![
                Fork,
                Fork,
                script(1, Script::Task { spins: 1000 }),
                script(2, Script::Task { spins: 1000 }),
                script(1, Script::Exit { code: 0 }),
                script(2, Script::Exit { code: 0 }),
                Shutdown { timeout_ms: None },
            ],
        },
        Named {
            name: "crash_with_restart",
            plan: Plan::new(false),
            steps: vec![
                SetRestart {
                    policy: RestartPolicy::OnFailure,
                    max_restarts: 1,
                },
                Fork,
                script(1, Script::Send { count: 2 }),
                script(1, Script::Segv),
                script(2, Script::Echo { payload: 7 }),
                script(2, Script::Abort),
                Shutdown { timeout_ms: None },
            ],
        },
        Named {
            name: "kill",
            plan: Plan::new(false),
            steps: vec![
                Fork,
                Fork,
                script(1, Script::Send { count: 1 }),
                Kill {
                    worker: 1,
                    signal: 15,
                },
                script(2, Script::IgnoreTerm),
                Kill {
                    worker: 2,
                    signal: 15,
                },
                Kill {
                    worker: 2,
                    signal: 9,
                },
                Shutdown { timeout_ms: None },
            ],
        },
        Named {
            name: "graceful_disconnect",
            plan: Plan::new(false),
            steps: vec![
                Fork,
                script(1, Script::Buffered { count: 3 }),
                Disconnect {
                    worker: 1,
                    timeout_ms: None,
                },
                Fork,
                script(2, Script::CloseChannel),
                Shutdown { timeout_ms: None },
            ],
        },
        Named {
            name: "disconnect_timeout",
            plan: Plan::new(false),
            steps: vec![
                Fork,
                script(1, Script::Send { count: 1 }),
                script(1, Script::Hang),
                Disconnect {
                    worker: 1,
                    timeout_ms: Some(50),
                },
                Shutdown { timeout_ms: None },
            ],
        },
        Named {
            name: "garbage_frame",
            plan: Plan::new(true),
            steps: vec![
                Fork,
                Fork,
                script(
                    1,
                    Script::Raw {
                        fault: RawFault::Garbage,
                    },
                ),
                script(2, Script::Echo { payload: 1 }),
                script(
                    2,
                    Script::Raw {
                        fault: RawFault::Oversized,
                    },
                ),
                Fork,
                script(
                    3,
                    Script::Raw {
                        fault: RawFault::TruncatedThenExit,
                    },
                ),
                Shutdown { timeout_ms: None },
            ],
        },
        Named {
            name: "shutdown",
            plan: Plan::new(false),
            steps: vec![
                Fork,
                Fork,
                script(1, Script::Send { count: 2 }),
                script(2, Script::Hang),
                Shutdown {
                    timeout_ms: Some(100),
                },
            ],
        },
    ]
}
