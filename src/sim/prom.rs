//! `/metrics` of the simulated server in Prometheus text format, with vLLM V1's metric names,
//! labels (`model_name`, `engine`) and histogram buckets, so dashboards and autoscalers built
//! for vLLM can scrape the simulator unchanged.
//!
//! The engine task owns a [`PromState`] behind a mutex: it copies the engine's counters and
//! gauges after every step and observes one histogram sample per request event. Durations are
//! in real (scaled) seconds, i.e. what a client of the simulated server measures.
//!
//! Besides vLLM's names, the exposition carries the simulated GPUs' framebuffer memory under
//! the DCGM exporter's names (`DCGM_FI_DEV_FB_USED`/`_FREE`, MiB, one series per tensor-parallel
//! rank, `modelName` ending in "(simulated)"), as a DCGM exporter next to a real vLLM would, so
//! GPU memory utilization can be tested end to end without a GPU. The figures follow vLLM's
//! allocation: at start-up it reserves weights, the activation peak, its overhead and the whole
//! KV-block pool (`num_gpu_blocks`), so memory used stays constant while KV-cache usage moves —
//! the two are different quantities, and the simulator shows both. `DCGM_FI_DEV_GPU_UTIL` is
//! the share of wall time the engine spent executing steps since the previous scrape.
use infermeter_engine::EngineStats;
use std::fmt::Write as _;

/// vLLM's TTFT buckets.
pub const TTFT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
    160.0, 640.0, 2560.0,
];
/// vLLM's inter-token latency / TPOT buckets.
pub const ITL_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
];
/// vLLM's request-phase latency buckets (e2e, queue, inference, prefill, decode).
pub const REQUEST_BUCKETS: &[f64] = &[
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0,
    1920.0, 7680.0,
];

/// A cumulative Prometheus histogram.
#[derive(Debug, Clone)]
pub struct Histogram {
    buckets: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn new(buckets: &'static [f64]) -> Self {
        Histogram {
            buckets,
            counts: vec![0; buckets.len()],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, v: f64) {
        let v = if v.is_finite() { v.max(0.0) } else { 0.0 };
        if let Some(i) = self.buckets.iter().position(|&b| v <= b) {
            self.counts[i] += 1;
        }
        self.sum += v;
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

/// The simulated GPUs' memory (per tensor-parallel rank), bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct SimGpuMemory {
    /// GPU preset name, e.g. `h100-sxm`.
    pub gpu: String,
    pub ranks: u32,
    pub total_bytes: u64,
    /// Weights + activation peak + overhead + the KV-block pool, as vLLM allocates at start.
    pub used_bytes: u64,
    /// The engine's `gpu_memory_utilization` setting.
    pub utilization_setting: f64,
}

impl SimGpuMemory {
    /// The memory one rank of `built` holds.
    pub fn of(built: &super::timing::BuiltEngine) -> SimGpuMemory {
        let d = &built.timer.deployment;
        let kv_pool =
            f64::from(built.config.num_gpu_blocks) * f64::from(built.config.block_size) * d.kv_bytes_per_token();
        let used = d.weights_bytes_per_gpu() + d.activation_bytes() + d.engine.overhead_bytes + kv_pool;
        SimGpuMemory {
            gpu: d.gpu.name.clone(),
            ranks: d.tp.max(1),
            total_bytes: d.gpu.memory_bytes,
            used_bytes: (used.max(0.0) as u64).min(d.gpu.memory_bytes),
            utilization_setting: d.engine.gpu_memory_utilization,
        }
    }
}

/// Simulated GPU utilization: the share of wall time the engine spent executing steps,
/// between two renders of `/metrics` (DCGM's `GPU_UTIL` is "the percent of time over the past
/// sample period during which one or more kernels was executing").
#[derive(Debug, Clone)]
pub struct BusyClock {
    /// Real seconds of executed steps since the engine started.
    pub busy_s: f64,
    last_render: std::time::Instant,
    last_busy_s: f64,
}

impl Default for BusyClock {
    fn default() -> Self {
        BusyClock {
            busy_s: 0.0,
            last_render: std::time::Instant::now(),
            last_busy_s: 0.0,
        }
    }
}

impl BusyClock {
    /// Busy fraction since the previous call (0–1), and start a new period.
    fn take(&mut self) -> f64 {
        let now = std::time::Instant::now();
        let wall = now.duration_since(self.last_render).as_secs_f64();
        let busy = self.busy_s - self.last_busy_s;
        self.last_render = now;
        self.last_busy_s = self.busy_s;
        if wall > 0.0 {
            (busy / wall).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// Everything `/metrics` shows.
#[derive(Debug, Clone)]
pub struct PromState {
    pub stats: EngineStats,
    pub block_size: u32,
    pub num_gpu_blocks: u32,
    pub prefix_caching: bool,
    /// Simulated GPU memory (DCGM-style series); `None` leaves them out.
    pub gpu_memory: Option<SimGpuMemory>,
    /// Engine busy time, for the simulated GPU utilization.
    pub busy: BusyClock,
    pub ttft: Histogram,
    pub itl: Histogram,
    pub tpot: Histogram,
    pub e2e: Histogram,
    pub queue: Histogram,
    pub inference: Histogram,
    pub prefill: Histogram,
    pub decode: Histogram,
}

impl PromState {
    pub fn new(stats: EngineStats, block_size: u32, num_gpu_blocks: u32, prefix_caching: bool) -> Self {
        PromState {
            stats,
            block_size,
            num_gpu_blocks,
            prefix_caching,
            gpu_memory: None,
            busy: BusyClock::default(),
            ttft: Histogram::new(TTFT_BUCKETS),
            itl: Histogram::new(ITL_BUCKETS),
            tpot: Histogram::new(ITL_BUCKETS),
            e2e: Histogram::new(REQUEST_BUCKETS),
            queue: Histogram::new(REQUEST_BUCKETS),
            inference: Histogram::new(REQUEST_BUCKETS),
            prefill: Histogram::new(REQUEST_BUCKETS),
            decode: Histogram::new(REQUEST_BUCKETS),
        }
    }

    /// The text exposition (format 0.0.4). `model_json` is the model name as a JSON string
    /// (quoted and escaped), which is also a valid Prometheus label value for plain names.
    pub fn render(&mut self, model_json: &str) -> String {
        let labels = format!("model_name={model_json},engine=\"0\"");
        let mut s = String::with_capacity(16 * 1024);
        let st = &self.stats;
        let gauge = |s: &mut String, name: &str, help: &str, v: f64| {
            let _ = write!(
                s,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{{labels}}} {}\n",
                num(v)
            );
        };
        gauge(
            &mut s,
            "vllm:num_requests_running",
            "Number of requests in model execution batches.",
            f64::from(st.num_running),
        );
        gauge(
            &mut s,
            "vllm:num_requests_waiting",
            "Number of requests waiting to be processed.",
            f64::from(st.num_waiting + st.num_pending),
        );
        gauge(
            &mut s,
            "vllm:kv_cache_usage_perc",
            "KV-cache usage. 1 means 100 percent usage.",
            st.kv_cache_usage,
        );
        let gmu = self
            .gpu_memory
            .as_ref()
            .map(|g| format!(",gpu_memory_utilization=\"{}\"", g.utilization_setting))
            .unwrap_or_default();
        let _ = write!(
            s,
            "# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig\n# TYPE vllm:cache_config_info gauge\n\
             vllm:cache_config_info{{block_size=\"{}\",enable_prefix_caching=\"{}\",engine=\"0\"{gmu},num_gpu_blocks=\"{}\"}} 1.0\n",
            self.block_size,
            if self.prefix_caching { "True" } else { "False" },
            self.num_gpu_blocks
        );
        let counter = |s: &mut String, name: &str, help: &str, v: u64| {
            let _ = write!(
                s,
                "# HELP {name}_total {help}\n# TYPE {name}_total counter\n{name}_total{{{labels}}} {}\n",
                num(v as f64)
            );
        };
        counter(
            &mut s,
            "vllm:num_preemptions",
            "Cumulative number of preemption from the engine.",
            st.num_preemptions,
        );
        counter(
            &mut s,
            "vllm:prompt_tokens",
            "Number of prefill tokens processed.",
            st.prompt_tokens,
        );
        counter(
            &mut s,
            "vllm:generation_tokens",
            "Number of generation tokens processed.",
            st.generation_tokens,
        );
        counter(
            &mut s,
            "vllm:prefix_cache_queries",
            "Prefix cache queries, in terms of number of queried tokens.",
            st.prefix_cache_queries,
        );
        counter(
            &mut s,
            "vllm:prefix_cache_hits",
            "Prefix cache hits, in terms of number of cached tokens.",
            st.prefix_cache_hits,
        );
        let _ = writeln!(
            s,
            "# HELP vllm:request_success_total Count of successfully processed requests.\n# TYPE vllm:request_success_total counter"
        );
        for (reason, v) in [
            ("stop", st.finished_stop),
            ("length", st.finished_length),
            ("abort", st.finished_abort),
        ] {
            let _ = writeln!(
                s,
                "vllm:request_success_total{{{labels},finished_reason=\"{reason}\"}} {}",
                num(v as f64)
            );
        }
        for (name, help, h) in [
            (
                "vllm:time_to_first_token_seconds",
                "Histogram of time to first token in seconds.",
                &self.ttft,
            ),
            (
                "vllm:inter_token_latency_seconds",
                "Histogram of inter-token latency in seconds.",
                &self.itl,
            ),
            (
                "vllm:request_time_per_output_token_seconds",
                "Histogram of time_per_output_token_seconds per request.",
                &self.tpot,
            ),
            (
                "vllm:e2e_request_latency_seconds",
                "Histogram of e2e request latency in seconds.",
                &self.e2e,
            ),
            (
                "vllm:request_queue_time_seconds",
                "Histogram of time spent in WAITING phase for request.",
                &self.queue,
            ),
            (
                "vllm:request_inference_time_seconds",
                "Histogram of time spent in RUNNING phase for request.",
                &self.inference,
            ),
            (
                "vllm:request_prefill_time_seconds",
                "Histogram of time spent in PREFILL phase for request.",
                &self.prefill,
            ),
            (
                "vllm:request_decode_time_seconds",
                "Histogram of time spent in DECODE phase for request.",
                &self.decode,
            ),
        ] {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} histogram");
            let mut cum = 0u64;
            for (b, c) in h.buckets.iter().zip(&h.counts) {
                cum += c;
                let _ = writeln!(s, "{name}_bucket{{{labels},le=\"{}\"}} {}", num(*b), num(cum as f64));
            }
            let _ = writeln!(s, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", num(h.count as f64));
            let _ = writeln!(s, "{name}_count{{{labels}}} {}", num(h.count as f64));
            let _ = writeln!(s, "{name}_sum{{{labels}}} {}", h.sum);
        }
        let util = (self.busy.take() * 100.0).round() as u64;
        if let Some(g) = &self.gpu_memory {
            const MIB: u64 = 1 << 20;
            let (used, free) = (g.used_bytes / MIB, (g.total_bytes - g.used_bytes) / MIB);
            for (field, help, v) in [
                ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", util),
                ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", free),
                ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", used),
            ] {
                let _ = writeln!(s, "# HELP {field} {help}\n# TYPE {field} gauge");
                for rank in 0..g.ranks {
                    let _ = writeln!(
                        s,
                        "{field}{{gpu=\"{rank}\",UUID=\"GPU-infermeter-sim-{rank}\",device=\"nvidia{rank}\",modelName=\"{} {}\",Hostname=\"infermeter-sim\"}} {v}",
                        g.gpu,
                        crate::telemetry::gpu::SIMULATED_MARK
                    );
                }
            }
        }
        s
    }
}

/// Python-style float text (`2.0`, `0.25`), as prometheus_client prints.
fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_vllm_names_and_cumulative_buckets() {
        let stats = EngineStats {
            num_running: 2,
            num_waiting: 1,
            ..Default::default()
        };
        let mut p = PromState::new(stats, 16, 1000, true);
        p.ttft.observe(0.03);
        p.ttft.observe(0.5);
        p.ttft.observe(5000.0);
        let text = p.render("\"m\"");
        assert!(
            text.contains("vllm:num_requests_running{model_name=\"m\",engine=\"0\"} 2.0\n"),
            "{text}"
        );
        assert!(text.contains("vllm:num_requests_waiting{model_name=\"m\",engine=\"0\"} 1.0\n"));
        assert!(
            text.contains("vllm:time_to_first_token_seconds_bucket{model_name=\"m\",engine=\"0\",le=\"0.04\"} 1.0\n")
        );
        assert!(
            text.contains("vllm:time_to_first_token_seconds_bucket{model_name=\"m\",engine=\"0\",le=\"0.5\"} 2.0\n")
        );
        assert!(
            text.contains("vllm:time_to_first_token_seconds_bucket{model_name=\"m\",engine=\"0\",le=\"+Inf\"} 3.0\n")
        );
        assert!(text.contains("vllm:time_to_first_token_seconds_count{model_name=\"m\",engine=\"0\"} 3.0\n"));
        assert!(
            text.contains("vllm:request_success_total{model_name=\"m\",engine=\"0\",finished_reason=\"abort\"} 0.0\n")
        );
        assert!(text.contains("# TYPE vllm:prompt_tokens_total counter\n"));
        assert!(!text.contains("DCGM_FI_DEV_FB_USED"), "no GPU memory unless set");
    }

    #[test]
    fn simulated_gpu_memory_is_the_preallocated_budget_and_parses_as_dcgm() {
        use crate::telemetry::concepts::{Concept, Engine};
        let built = crate::sim::timing::EngineSpec {
            tp: 2,
            model_preset: "llama-3.1-70b".into(),
            ..crate::sim::timing::EngineSpec::reference()
        }
        .build()
        .unwrap();
        let g = SimGpuMemory::of(&built);
        assert_eq!(g.ranks, 2);
        // vLLM sizes the KV pool to fill its budget: used is just under 0.9 × total.
        let frac = g.used_bytes as f64 / g.total_bytes as f64;
        assert!(frac > 0.85 && frac <= 0.9, "{frac}");
        let mut p = PromState::new(
            EngineStats::default(),
            built.config.block_size,
            built.config.num_gpu_blocks,
            true,
        );
        p.gpu_memory = Some(g.clone());
        let f = crate::telemetry::scraper::frame_of(&p.render("\"m\"")).unwrap();
        assert_eq!(f.engines, vec![Engine::Vllm, Engine::Dcgm]);
        assert_eq!(f.gpus.len(), 2);
        assert!(f.gpus[0].name.as_deref().unwrap().ends_with("(simulated)"));
        let mib = (1u64 << 20) as f64;
        let used = f.value(Concept::GpuMemoryUsedBytes).unwrap();
        let total = f.value(Concept::GpuMemoryTotalBytes).unwrap();
        assert!((used - 2.0 * (g.used_bytes / (1 << 20)) as f64 * mib).abs() < 1.0);
        assert!((total - 2.0 * g.total_bytes as f64).abs() <= 2.0 * mib);
        assert_eq!(
            f.value(Concept::KvCacheCapacityTokens),
            Some(f64::from(built.config.num_gpu_blocks) * 16.0)
        );
    }
}
