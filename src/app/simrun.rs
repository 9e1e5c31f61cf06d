//! `sim run`: a benchmark of the simulated engine as a discrete-event run (no HTTP, no
//! waiting), writing the same `run.json`, `records.jsonl`, `summary.json` and report as
//! `bench`. The run specification is the one `bench` takes; its target section is unused.

use super::info;
use super::output::{self, Files, Ui};
use crate::error::Error;
use crate::report;
use crate::sim::offline::{self, OfflinePlan};
use crate::sim::offline_feed::WorkloadFeed;
use crate::sim::timing::describe_with_band;
use crate::spec::validate::SimRunConfig;
use crate::spec::validate::SourceConfig;
use crate::workload::Tokenizer;
use infermeter_perfmodel::Metric;
use std::io::{BufWriter, Write};

/// Run the simulation and write its outputs; returns the exit code.
pub fn run(c: &SimRunConfig, ui: Ui) -> Result<u8, Error> {
    let built = &c.engine;
    // A dataset, trace, shared prefix or sessions: read and checked against the engine's
    // context before anything runs.
    let synthetic = matches!(c.workload.source, SourceConfig::Synthetic) && c.workload.sessions.is_none();
    let workload = if synthetic {
        None
    } else {
        let tok = Tokenizer::load(&c.workload.tokenizer).map_err(Error::usage)?;
        let mut w = super::workload::build(&c.workload, c.seed, tok, false, &c.load)?;
        super::workload::limit_context(
            &mut w,
            Some(built.config.max_model_len),
            c.workload.skip_invalid,
            c.load.requests,
        )?;
        Some(w)
    };
    std::fs::create_dir_all(&c.out).map_err(|e| Error::failed(format!("cannot create {}: {e}", c.out.display())))?;
    let mut run_info = info::with_load(info::common(&c.spec, c.slo.clone(), c.price), &c.load);
    run_info.target = format!("sim-offline:{}", built.label);
    run_info.embedded_sim = true;
    run_info.model = built.timer.deployment.model.name.clone();
    run_info.api = "completions".into();
    run_info.stream = true;
    run_info.tokenizer = match &workload {
        Some(w) => format!("{} (prompt lengths), words (simulated)", w.tokenizer.name()),
        None => "words (simulated)".into(),
    };
    run_info.sim_engine = Some(built.describe());
    let mut requests = c.load.requests;
    if let Some(w) = &workload {
        let facts = super::workload::facts(w, &c.load);
        if let Some(t) = facts.trace.as_ref().filter(|t| !t.untimed) {
            run_info.request_rate = t.offered_rate;
        }
        requests = super::workload::trace_requests(w).or(requests);
        run_info.requests = requests;
        run_info.workload = Some(facts);
    }
    info::write_run_json(&c.out, &c.spec, &run_info)?;
    let plan = OfflinePlan {
        input: c.workload.input.clone(),
        output: c.workload.output.clone(),
        seed: c.seed,
        load: c.load.load.clone(),
        requests,
        duration: c.load.duration,
        ignore_eos: c.workload.ignore_eos,
        warmup: c.load.warmup,
    };
    let records_path = c.out.join("records.jsonl");
    let file = std::fs::File::create(&records_path)
        .map_err(|e| Error::failed(format!("cannot write {}: {e}", records_path.display())))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut write_err: Option<std::io::Error> = None;
    let t0 = std::time::Instant::now();
    let on_record = |r: &crate::record::RequestRecord| {
        if write_err.is_none() {
            if let Err(e) = crate::record::write_jsonl(&mut w, r) {
                write_err = Some(e);
            }
        }
    };
    let outcome = match &workload {
        None => offline::run(built, &plan, on_record),
        Some(wl) => {
            let total = plan.requests.map(|n| n + plan.warmup);
            let mut feed = WorkloadFeed::new(
                wl,
                &plan.load,
                built.config.block_size,
                plan.ignore_eos,
                total,
                plan.duration,
            );
            let users = wl.sessions.as_ref().map(|s| s.users as usize);
            offline::run_with(built, &plan, &mut feed, users, on_record)
        }
    };
    let sim_wall = t0.elapsed().as_secs_f64();
    if let Some(e) = write_err.or_else(|| w.flush().err()) {
        return Err(Error::failed(format!("cannot write {}: {e}", records_path.display())));
    }
    // Virtual time, no client: the self-health block has only record-derived parts.
    let runtime = crate::metrics::health::RuntimeSamples {
        wall_s: outcome.sim_s,
        ..Default::default()
    };
    let summary = report::build_summary(run_info, &outcome.records, &runtime, false);
    let st = &outcome.stats;
    let measured = outcome.records.iter().filter(|r| !r.warmup).count();
    let note = format!(
        "simulated: {} on {} KV blocks: {:.1} s simulated in {:.2} s wall ({:.0} requests/s of wall time), {} steps, {} preemptions, prefix cache hits {}/{} tokens",
        built.label,
        built.config.num_gpu_blocks,
        outcome.sim_s,
        sim_wall,
        measured as f64 / sim_wall.max(1e-9),
        st.num_steps,
        st.num_preemptions,
        st.prefix_cache_hits,
        st.prefix_cache_queries
    );
    let m = &summary.metrics;
    let note = format!(
        "{note}\nuncertainty (80 % of the held-out validation points, docs/simulator.md): output {}, TTFT p50 {}, TPOT p50 {}",
        describe_with_band(Metric::Throughput, m.throughput.output_tokens_per_s, "tok/s"),
        describe_with_band(Metric::Ttft, m.latency_ms.ttft.p50, "ms"),
        describe_with_band(Metric::Tpot, m.latency_ms.tpot.p50, "ms"),
    );
    output::write_all(
        &c.out,
        &summary,
        &outcome.records,
        Files {
            csv: c.csv,
            html: c.html,
        },
        ui,
        Some(note),
    )?;
    match output::all_failed(&summary, &outcome.records, "were refused by the simulated engine") {
        Some(msg) => Err(Error::failed(msg)),
        None => Ok(0),
    }
}
