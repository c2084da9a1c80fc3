//! The soak: 2–8 streaming workers, random SIGKILLs, restarts, for a while; then every message
//! the primary received is checked for loss, duplication and reordering (by content and by the
//! model over the complete trace), and the process for zombies and leaked descriptors.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crew::model::{Trace, Verdict};
use crew::{Cluster, ClusterEvent, Restart, WorkerId};
use serde::Serialize;

use crate::oracle;
use crate::script::{Report, Script};

/// What a soak found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SoakReport {
    /// Seconds run.
    pub seconds: f64,
    /// Workers started at the beginning.
    pub initial_workers: u32,
    /// Workers forked in total (replacements included).
    pub workers_forked: u32,
    /// Messages the primary received and the soak checked.
    pub messages_checked: u64,
    /// SIGKILLs sent (each followed by its Exit and a replacement).
    pub kills_survived: u64,
    /// Messages missing (a gap in a worker's numbering), acknowledged or not, plus G3
    /// rejections of the complete trace (acknowledged messages lost).
    pub lost: u64,
    /// Messages received twice.
    pub duplicated: u64,
    /// Messages received out of order.
    pub reordered: u64,
    /// The checker's verdict on the complete trace (`accepted (N events)`, or the diagnosis).
    pub verdict: String,
    /// Events in the complete trace.
    pub events_checked: u64,
    /// Zombie children of this process after shutdown.
    pub zombies: u64,
    /// Descriptors open after the cluster was dropped minus before it was built.
    pub leaked_fds: i64,
}

/// SplitMix64: a seeded generator for the soak's choices (reproducible with the same seed, up
/// to scheduling).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn open_fds() -> i64 {
    std::fs::read_dir("/proc/self/fd").map_or(-1, |d| d.count() as i64)
}

/// Zombie processes whose parent is this process.
pub fn zombie_children() -> u64 {
    let me = std::process::id().to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            // "pid (comm) S ppid …": comm may hold spaces, so split after the last ')'.
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                return false;
            };
            let mut fields = rest.split_whitespace();
            let state = fields.next();
            let ppid = fields.next();
            state == Some("Z") && ppid == Some(me.as_str())
        })
        .count() as u64
}

/// Runs the soak for `seconds` with workers running `program` (a puppet), seeded by `seed`.
pub fn soak(program: &std::path::Path, seconds: f64, seed: u64) -> Result<SoakReport, String> {
    let mut rng = SplitMix(seed);
    let fds_before = open_fds();
    let dir = std::env::temp_dir().join(format!("crew-conformance-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut report = SoakReport {
        initial_workers: rng.below(7) as u32 + 2,
        ..SoakReport::default()
    };
    let start = Instant::now();
    {
        let mut cluster: Cluster<Report, Script> = Cluster::builder()
            .exec(program)
            .silent(true)
            .trace_dir(&dir)
            .restart(Restart::always(u32::MAX, Duration::from_secs(1)))
            .build()
            .map_err(|e| e.to_string())?;
        for _ in 0..report.initial_workers {
            cluster.fork().map_err(|e| e.to_string())?;
        }
        let mut next: BTreeMap<WorkerId, u32> = BTreeMap::new();
        let mut online: Vec<WorkerId> = Vec::new();
        let deadline = start + Duration::from_secs_f64(seconds);
        let mut next_kill = Instant::now() + Duration::from_millis(20 + rng.below(180));
        while Instant::now() < deadline {
            let event = cluster
                .next_event(Some(Duration::from_millis(5)))
                .map_err(|e| e.to_string())?;
            match event {
                Some(ClusterEvent::Online { worker }) => {
                    cluster
                        .send(worker, &Script::Stream { batch: 8 })
                        .map_err(|e| format!("send to worker {worker}: {e}"))?;
                    online.push(worker);
                }
                Some(ClusterEvent::Message {
                    worker,
                    message: Report::Message { n },
                }) => {
                    report.messages_checked += 1;
                    let expected = next.entry(worker).or_insert(0);
                    match n.cmp(expected) {
                        std::cmp::Ordering::Equal => *expected += 1,
                        std::cmp::Ordering::Greater => {
                            report.lost += u64::from(n - *expected);
                            *expected = n + 1;
                        }
                        std::cmp::Ordering::Less => {
                            // Seen before (n < expected): duplicated or reordered; count both
                            // as reordered unless this exact n was the previous one.
                            if n + 1 == *expected {
                                report.duplicated += 1;
                            } else {
                                report.reordered += 1;
                            }
                        }
                    }
                }
                Some(ClusterEvent::Exit { worker, .. }) => online.retain(|&w| w != worker),
                Some(ClusterEvent::Fork { .. }) => report.workers_forked += 1,
                _ => {}
            }
            if Instant::now() >= next_kill && !online.is_empty() {
                let victim = online[rng.below(online.len() as u64) as usize];
                cluster
                    .kill(victim, crew::signal::SIGKILL)
                    .map_err(|e| format!("kill worker {victim}: {e}"))?;
                online.retain(|&w| w != victim);
                report.kills_survived += 1;
                next_kill = Instant::now() + Duration::from_millis(20 + rng.below(180));
            }
        }
        cluster
            .shutdown(Some(Duration::from_millis(200)))
            .map_err(|e| e.to_string())?;
        while let Some(event) = cluster.next_event(None).map_err(|e| e.to_string())? {
            if let ClusterEvent::Message {
                worker,
                message: Report::Message { n },
            } = event
            {
                report.messages_checked += 1;
                let expected = next.entry(worker).or_insert(0);
                if n == *expected {
                    *expected += 1;
                } else if n > *expected {
                    report.lost += u64::from(n - *expected);
                    *expected = n + 1;
                } else {
                    report.reordered += 1;
                }
            }
        }
        report.zombies = zombie_children();
    }
    report.seconds = start.elapsed().as_secs_f64();
    report.leaked_fds = open_fds() - fds_before;
    let mut text = String::new();
    for entry in std::fs::read_dir(&dir)
        .map_err(|e| e.to_string())?
        .flatten()
    {
        text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    let trace = Trace::from_jsonl(&text).map_err(|e| e.to_string())?;
    report.events_checked = trace.len() as u64;
    let verdict = oracle::judge(&trace, true);
    if let Verdict::Rejected { violation, .. } = &verdict {
        if violation.guarantee == crew_model::Guarantee::G3 {
            report.lost += 1;
        }
        report.verdict = format!("{verdict}");
    } else {
        report.verdict = format!("{verdict}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(report)
}
