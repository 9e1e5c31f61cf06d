//! Engine mode of the simulated server: one task owns the simulated vLLM-like [`Engine`] and
//! runs it against the real clock.
//!
//! HTTP handlers send the task a request plus a channel for its tokens ([`Cmd::Add`]). The
//! task steps the engine on its virtual clock and releases each step's tokens when the real
//! clock reaches `run_start + virtual_end_of_step × time_scale` (`sleep_until` on absolute
//! deadlines, so timer lateness never accumulates; `time_scale` < 1 runs faster than real
//! time). A request that arrives while a step is "running" gets its real arrival time (in the
//! past of the engine clock), as in vLLM. A client that goes away aborts its request
//! ([`Cmd::Abort`], sent by [`AbortGuard`] on drop), which frees its KV blocks.
//!
//! The task also keeps the [`PromState`] behind `/metrics` up to date.

use super::prom::PromState;
use super::timing::{BuiltEngine, PerfTimer};
use infermeter_engine::{Engine, FinishReason, Request, StepReport};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// An event for one request's handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ev {
    /// One output token; `Some(reason)` on the last one (`"stop"` or `"length"`).
    Token(Option<&'static str>),
    /// The engine aborted the request.
    Aborted,
    /// The request was admitted; this many prompt tokens came from the prefix cache.
    Cached(u32),
}

/// A message to the engine task.
pub enum Cmd {
    Add {
        req: Request,
        events: mpsc::UnboundedSender<Ev>,
        /// `Err(message)` when the engine refuses the request (an HTTP 400).
        reply: oneshot::Sender<Result<(), String>>,
    },
    Abort(u64),
}

/// The handlers' side of the engine task.
pub struct EngineHandle {
    tx: mpsc::UnboundedSender<Cmd>,
    next_id: AtomicU64,
    pub prom: Arc<Mutex<PromState>>,
    pub block_size: u32,
    pub prefix_caching: bool,
}

/// Aborts its request in the engine when dropped before [`AbortGuard::done`].
pub struct AbortGuard {
    tx: mpsc::UnboundedSender<Cmd>,
    id: u64,
    finished: bool,
}

impl AbortGuard {
    pub fn done(&mut self) {
        self.finished = true;
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.tx.send(Cmd::Abort(self.id));
        }
    }
}

impl EngineHandle {
    /// Start the engine task (needs a tokio runtime).
    pub fn start(built: BuiltEngine, time_scale: f64) -> EngineHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        let gpu_memory = super::prom::SimGpuMemory::of(&built);
        let engine = Engine::new(built.config.clone(), built.timer);
        let mut state = PromState::new(
            engine.stats(),
            built.config.block_size,
            built.config.num_gpu_blocks,
            built.config.enable_prefix_caching,
        );
        state.gpu_memory = Some(gpu_memory);
        let prom = Arc::new(Mutex::new(state));
        tokio::spawn(engine_task(engine, time_scale, rx, prom.clone()));
        EngineHandle {
            tx,
            next_id: AtomicU64::new(0),
            prom,
            block_size: built.config.block_size,
            prefix_caching: built.config.enable_prefix_caching,
        }
    }

    /// Submit a request (its `id` is assigned here). Returns the token events and a guard that
    /// aborts the request if dropped before it is marked done.
    pub async fn submit(&self, mut req: Request) -> Result<(mpsc::UnboundedReceiver<Ev>, AbortGuard), String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        req.id = id;
        let (events, rx) = mpsc::unbounded_channel();
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Cmd::Add { req, events, reply })
            .map_err(|_| "the simulated engine has stopped".to_string())?;
        let guard = AbortGuard {
            tx: self.tx.clone(),
            id,
            finished: false,
        };
        match answer.await {
            Ok(Ok(())) => Ok((rx, guard)),
            Ok(Err(e)) => {
                let mut guard = guard;
                guard.done();
                Err(e)
            }
            Err(_) => Err("the simulated engine has stopped".into()),
        }
    }
}

/// Per-request bookkeeping of the engine task (virtual seconds).
struct Live {
    events: mpsc::UnboundedSender<Ev>,
    arrival: f64,
    scheduled: Option<f64>,
    first_token: Option<f64>,
    last_token: Option<f64>,
    tokens: u32,
}

struct Task {
    engine: Engine<PerfTimer>,
    start: Instant,
    scale: f64,
    live: HashMap<u64, Live>,
    prom: Arc<Mutex<PromState>>,
}

impl Task {
    fn virtual_now(&self) -> f64 {
        self.start.elapsed().as_secs_f64() / self.scale
    }

    fn deadline(&self, v: f64) -> Instant {
        self.start + Duration::from_secs_f64((v * self.scale).max(0.0))
    }

    fn handle(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Add { mut req, events, reply } => {
                let v = self.virtual_now();
                if v > self.engine.now() && !self.engine.has_runnable_work() {
                    // Idle engine: its clock jumps to the real present.
                    self.engine.advance_to(v);
                }
                req.arrival_s = v;
                let id = req.id;
                match self.engine.add_request(req) {
                    Ok(()) => {
                        self.live.insert(
                            id,
                            Live {
                                events,
                                arrival: v,
                                scheduled: None,
                                first_token: None,
                                last_token: None,
                                tokens: 0,
                            },
                        );
                        let _ = reply.send(Ok(()));
                    }
                    Err(why) => {
                        let _ = reply.send(Err(why.to_string()));
                    }
                }
            }
            Cmd::Abort(id) => {
                if self.engine.abort(id).is_some() {
                    if let Some(l) = self.live.remove(&id) {
                        let _ = l.events.send(Ev::Aborted);
                        self.observe_finish(&l, self.engine.now());
                    }
                }
            }
        }
        self.refresh();
    }

    fn refresh(&self) {
        if let Ok(mut p) = self.prom.lock() {
            p.stats = self.engine.stats();
        }
    }

    fn observe_finish(&self, l: &Live, end: f64) {
        let s = self.scale;
        let Ok(mut p) = self.prom.lock() else { return };
        p.e2e.observe((end - l.arrival) * s);
        if let Some(sched) = l.scheduled {
            p.queue.observe((sched - l.arrival) * s);
            p.inference.observe((end - sched) * s);
            if let Some(ft) = l.first_token {
                p.prefill.observe((ft - sched) * s);
            }
        }
        if let (Some(ft), Some(lt)) = (l.first_token, l.last_token) {
            p.decode.observe((lt - ft) * s);
            if l.tokens > 1 {
                p.tpot.observe((lt - ft) * s / f64::from(l.tokens - 1));
            }
        }
    }

    /// Hand out the tokens of a step whose end the real clock has reached.
    fn deliver(&mut self, rep: &StepReport) {
        if let Ok(mut p) = self.prom.lock() {
            p.busy.busy_s += (rep.end_s - rep.start_s).max(0.0) * self.scale;
        }
        for a in &rep.admitted {
            if let Some(l) = self.live.get_mut(&a.id) {
                if l.scheduled.is_none() && !a.resumed {
                    let _ = l.events.send(Ev::Cached(a.cached_tokens));
                }
                l.scheduled.get_or_insert(a.time_s);
            }
        }
        let finished: HashMap<u64, FinishReason> = rep.finished.iter().map(|f| (f.id, f.reason)).collect();
        {
            let s = self.scale;
            let Ok(mut p) = self.prom.lock() else { return };
            for t in &rep.tokens {
                let Some(l) = self.live.get_mut(&t.id) else { continue };
                match l.last_token {
                    None => p.ttft.observe((t.time_s - l.arrival) * s),
                    Some(prev) => p.itl.observe((t.time_s - prev) * s),
                }
                l.first_token.get_or_insert(t.time_s);
                l.last_token = Some(t.time_s);
                l.tokens += 1;
                let last = finished.get(&t.id).map(|r| r.as_str());
                let _ = l.events.send(Ev::Token(last));
            }
        }
        for f in &rep.finished {
            if let Some(l) = self.live.remove(&f.id) {
                if f.reason == FinishReason::Abort {
                    let _ = l.events.send(Ev::Aborted);
                }
                self.observe_finish(&l, f.time_s);
            }
        }
        self.refresh();
    }
}

async fn engine_task(
    engine: Engine<PerfTimer>,
    scale: f64,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
    prom: Arc<Mutex<PromState>>,
) {
    let mut t = Task {
        engine,
        start: Instant::now(),
        scale,
        live: HashMap::new(),
        prom,
    };
    loop {
        loop {
            match rx.try_recv() {
                Ok(cmd) => t.handle(cmd),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => return,
            }
        }
        if let Some(rep) = t.engine.step() {
            t.refresh();
            let deadline = t.deadline(rep.end_s);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => break,
                    cmd = rx.recv() => match cmd {
                        Some(cmd) => t.handle(cmd),
                        None => return,
                    },
                }
            }
            t.deliver(&rep);
        } else if let Some(v) = t.engine.next_arrival() {
            // Only when the task runs behind real time: catch the clock up.
            t.engine.advance_to(v);
        } else {
            match rx.recv().await {
                Some(cmd) => t.handle(cmd),
                None => return,
            }
        }
    }
}
