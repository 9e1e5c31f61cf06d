//! The multi-turn session loop: `users` tasks, each holding one conversation at a time.
//! A turn is sent when the previous one has ended plus its think time; its prompt is the
//! whole history with the reply actually received (`workload::sessions::Conversation`).
//! A failed turn ends its conversation (there is no reply to continue from); the user then
//! starts a new one. The run's request budget counts turns.
//!
//! Records carry `session` and `turn`; `sched_us` is when the turn was due (previous end +
//! think time), so schedule lag measures how late the client sent it.
//!
//! A shard of a sharded run holds its share of the users, takes every N-th conversation
//! (`session` ids K, K+N, …: the shards together hold the single process's conversations) and
//! numbers its turns like a closed loop's requests at `users` workers, so that request ids
//! never collide and `merge` can check who sent what.

use super::{send_recorded, us, Ctx};
use crate::client::Conn;
use crate::record::RequestRecord;
use crate::shard::{Partition, Shard};
use crate::workload::sessions::Conversation;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Take one turn from the budget; `false` when it is spent.
fn take(budget: &Option<AtomicU64>) -> bool {
    match budget {
        None => true,
        Some(b) => b
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok(),
    }
}

/// Run this shard's sessions until its share of the budget of `requests` turns (the whole
/// run's) is spent, the deadline passes or the run stops.
pub(super) async fn run(ctx: Arc<Ctx>, requests: Option<u64>, deadline: Option<Instant>, shard: Shard) {
    let Some(plan) = ctx.workload.sessions.clone() else {
        return;
    };
    let users = u64::from(plan.users.max(1));
    let ids = Partition::slots(shard, users);
    let conversations = Partition::stride(shard);
    let budget = Arc::new(requests.map(|r| AtomicU64::new(ids.owned_below(r))));
    let next_session = Arc::new(AtomicU64::new(0));
    let next_id = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..shard.share(users).max(1) {
        let (ctx, plan) = (ctx.clone(), plan.clone());
        let (budget, next_session, next_id) = (budget.clone(), next_session.clone(), next_id.clone());
        tasks.spawn(async move {
            let mut conn: Option<Conn> = None;
            let mut stop_rx = ctx.control.stop_tx.subscribe();
            'sessions: loop {
                let session = conversations.nth(next_session.fetch_add(1, Ordering::Relaxed));
                let mut conv = Conversation::new(session);
                let mut due = Instant::now();
                for turn in 0..plan.turns {
                    if turn > 0 {
                        let think = plan.think_s(ctx.workload.seed, session, turn);
                        due += Duration::from_secs_f64(think);
                        let stopped = tokio::select! {
                            _ = tokio::time::sleep_until(due.into()) => false,
                            _ = stop_rx.wait_for(|s| *s) => true,
                        };
                        if stopped {
                            break 'sessions;
                        }
                    }
                    let now = Instant::now();
                    if ctx.control.stopping() || deadline.is_some_and(|d| now >= d) || !take(&budget) {
                        break 'sessions;
                    }
                    let spec = conv.next_turn(&ctx.workload);
                    let rec = RequestRecord {
                        id: ids.nth(next_id.fetch_add(1, Ordering::Relaxed)),
                        sched_us: us(ctx.run_start, due.min(now)),
                        start_us: us(ctx.run_start, now),
                        source_line: spec.source_line,
                        session: Some(session),
                        turn: Some(turn),
                        ..Default::default()
                    };
                    let reply = send_recorded(&ctx, &mut conn, &spec, rec).await;
                    match reply {
                        Some(text) => conv.reply(&ctx.workload, text),
                        // A failed (or abandoned) turn ends the conversation.
                        None => continue 'sessions,
                    }
                    due = Instant::now();
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}
