//! Engine detection and the one mapping from each engine's metric names to infermeter's
//! normalized concepts (running, waiting, KV-cache usage, token counters, latency histograms,
//! GPU memory, ...), so that one report reads the same whatever the server is.
//!
//! The table [`MAPPINGS`] is the single source of truth; `docs/metrics.md` ("Server metrics")
//! prints the same table. For each (engine, concept) the entries are tried in order and the
//! first one present in the exposition wins, so newer names come before the names they
//! replaced (vLLM 0.9 renamed `gpu_cache_usage_perc` to `kv_cache_usage_perc`). Counters are
//! matched with and without `_total` (prometheus_client writes `_total`, TGI's Rust exporter
//! does not); TensorRT-LLM names are matched with either `trtllm_` or `trtllm:` (the latter is
//! how Dynamo re-exported them). Several series of one metric (vLLM data-parallel engines, GPUs
//! of a DCGM exporter) are summed, except fractions, which are averaged.
//!
//! Units are normalized at extraction: seconds, bytes, joules, watts, fractions 0–1. DCGM
//! reports framebuffer memory in MiB, energy in mJ and utilization in percent; the `scale`
//! column converts them.

use super::expo::{Exposition, MetricType, Sample};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// A metrics source infermeter recognizes from its names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Engine {
    #[serde(rename = "vllm")]
    Vllm,
    #[serde(rename = "sglang")]
    Sglang,
    #[serde(rename = "tgi")]
    Tgi,
    #[serde(rename = "llama.cpp")]
    LlamaCpp,
    #[serde(rename = "tensorrt-llm")]
    TensorrtLlm,
    /// NVIDIA's DCGM exporter (GPU telemetry, not an inference engine).
    #[serde(rename = "dcgm-exporter")]
    Dcgm,
}

impl Engine {
    pub const ALL: [Engine; 6] = [
        Engine::Vllm,
        Engine::Sglang,
        Engine::Tgi,
        Engine::LlamaCpp,
        Engine::TensorrtLlm,
        Engine::Dcgm,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Vllm => "vllm",
            Engine::Sglang => "sglang",
            Engine::Tgi => "tgi",
            Engine::LlamaCpp => "llama.cpp",
            Engine::TensorrtLlm => "tensorrt-llm",
            Engine::Dcgm => "dcgm-exporter",
        }
    }

    /// Name prefixes that identify the engine.
    fn prefixes(self) -> &'static [&'static str] {
        match self {
            Engine::Vllm => &["vllm:"],
            Engine::Sglang => &["sglang:"],
            Engine::Tgi => &["tgi_"],
            Engine::LlamaCpp => &["llamacpp:"],
            Engine::TensorrtLlm => &["trtllm_", "trtllm:"],
            Engine::Dcgm => &["DCGM_FI_"],
        }
    }

    /// What this engine never exposes, said once in the summary instead of a zero.
    pub fn known_gaps(self) -> &'static [(Concept, &'static str)] {
        match self {
            Engine::LlamaCpp => &[
                (
                    Concept::KvCacheUsage,
                    "llama.cpp's llama-server exposes no KV-cache gauge (kv_cache_usage_ratio and kv_cache_tokens were removed in PR #13660)",
                ),
                (
                    Concept::Ttft,
                    "llama.cpp's llama-server exposes no latency histograms; TTFT is client-side only",
                ),
                (Concept::Preemptions, "llama.cpp's llama-server exposes no preemption counter"),
            ],
            Engine::Tgi => &[
                (Concept::Ttft, "TGI exposes no TTFT histogram"),
                (Concept::KvCacheUsage, "TGI exposes no KV-cache gauge"),
            ],
            _ => &[],
        }
    }
}

/// A normalized server-side quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Concept {
    Running,
    Waiting,
    /// Fraction 0–1 of the KV cache in use.
    KvCacheUsage,
    KvCacheCapacityTokens,
    KvCacheUsedTokens,
    Preemptions,
    PrefixCacheHits,
    PrefixCacheQueries,
    PromptTokens,
    GenerationTokens,
    RequestsFinished,
    Ttft,
    Itl,
    Tpot,
    E2e,
    QueueTime,
    GpuMemoryUsedBytes,
    GpuMemoryTotalBytes,
    /// Fraction 0–1 of time a kernel ran (NVML/DCGM "GPU utilization").
    GpuUtilization,
    GpuPowerW,
    GpuEnergyJ,
}

/// How a concept behaves over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Gauge,
    Counter,
    Histogram,
}

/// How several series of one concept combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    Sum,
    Mean,
}

impl Concept {
    pub const ALL: [Concept; 21] = [
        Concept::Running,
        Concept::Waiting,
        Concept::KvCacheUsage,
        Concept::KvCacheCapacityTokens,
        Concept::KvCacheUsedTokens,
        Concept::Preemptions,
        Concept::PrefixCacheHits,
        Concept::PrefixCacheQueries,
        Concept::PromptTokens,
        Concept::GenerationTokens,
        Concept::RequestsFinished,
        Concept::Ttft,
        Concept::Itl,
        Concept::Tpot,
        Concept::E2e,
        Concept::QueueTime,
        Concept::GpuMemoryUsedBytes,
        Concept::GpuMemoryTotalBytes,
        Concept::GpuUtilization,
        Concept::GpuPowerW,
        Concept::GpuEnergyJ,
    ];

    /// The key in `summary.json` (`server.total.<key>`).
    pub fn key(self) -> &'static str {
        match self {
            Concept::Running => "running",
            Concept::Waiting => "waiting",
            Concept::KvCacheUsage => "kv_cache_usage",
            Concept::KvCacheCapacityTokens => "kv_cache_capacity_tokens",
            Concept::KvCacheUsedTokens => "kv_cache_used_tokens",
            Concept::Preemptions => "preemptions",
            Concept::PrefixCacheHits => "prefix_cache_hit_tokens",
            Concept::PrefixCacheQueries => "prefix_cache_query_tokens",
            Concept::PromptTokens => "prompt_tokens",
            Concept::GenerationTokens => "generation_tokens",
            Concept::RequestsFinished => "requests_finished",
            Concept::Ttft => "ttft_ms",
            Concept::Itl => "itl_ms",
            Concept::Tpot => "tpot_ms",
            Concept::E2e => "e2e_ms",
            Concept::QueueTime => "queue_time_ms",
            Concept::GpuMemoryUsedBytes => "gpu_memory_used_bytes",
            Concept::GpuMemoryTotalBytes => "gpu_memory_total_bytes",
            Concept::GpuUtilization => "gpu_utilization",
            Concept::GpuPowerW => "gpu_power_w",
            Concept::GpuEnergyJ => "gpu_energy_j",
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            Concept::Preemptions
            | Concept::PrefixCacheHits
            | Concept::PrefixCacheQueries
            | Concept::PromptTokens
            | Concept::GenerationTokens
            | Concept::RequestsFinished
            | Concept::GpuEnergyJ => Kind::Counter,
            Concept::Ttft | Concept::Itl | Concept::Tpot | Concept::E2e | Concept::QueueTime => Kind::Histogram,
            _ => Kind::Gauge,
        }
    }

    pub fn agg(self) -> Agg {
        match self {
            Concept::KvCacheUsage | Concept::GpuUtilization => Agg::Mean,
            _ => Agg::Sum,
        }
    }
}

/// Where a concept's value comes from in an exposition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Source {
    /// The value of a gauge (every series).
    Gauge(&'static str),
    /// A counter, named with or without `_total`.
    Counter(&'static str),
    /// A histogram's `_bucket`/`_sum`/`_count` samples.
    Histogram(&'static str),
    /// A histogram's `_sum`, used as a counter (TGI counts tokens in histograms).
    HistogramSum(&'static str),
    /// The product of two numeric labels of an info-style gauge, summed over its series
    /// (vLLM's `cache_config_info{num_gpu_blocks,block_size}`).
    InfoLabelProduct(&'static str, &'static str, &'static str),
    /// The product of two gauges (blocks × tokens per block).
    GaugeProduct(&'static str, &'static str),
    /// The sum of several gauges (DCGM framebuffer used + free + reserved).
    GaugeSum(&'static [&'static str]),
    /// The sum of several counters (llama.cpp prompt tokens + cached prompt tokens).
    CounterSum(&'static [&'static str]),
}

impl Source {
    /// How the mapping table in docs/metrics.md spells this source.
    pub fn describe(&self) -> String {
        match self {
            Source::Gauge(n) | Source::Histogram(n) => n.to_string(),
            Source::Counter(n) => format!("{n}_total"),
            Source::HistogramSum(n) => format!("{n}_sum"),
            Source::InfoLabelProduct(n, a, b) => format!("{n}{{{a}}} × {{{b}}}"),
            Source::GaugeProduct(a, b) => format!("{a} × {b}"),
            Source::GaugeSum(ns) => ns.join(" + "),
            Source::CounterSum(ns) => ns.iter().map(|n| format!("{n}_total")).collect::<Vec<_>>().join(" + "),
        }
    }
}

/// One row of the mapping table.
#[derive(Debug, Clone, Copy)]
pub struct Mapping {
    pub engine: Engine,
    pub concept: Concept,
    pub source: Source,
    /// Multiplies the raw value into the concept's unit.
    pub scale: f64,
    /// A caveat printed next to the row (units, semantics).
    pub note: &'static str,
}

const fn m(engine: Engine, concept: Concept, source: Source) -> Mapping {
    Mapping {
        engine,
        concept,
        source,
        scale: 1.0,
        note: "",
    }
}

const fn mn(engine: Engine, concept: Concept, source: Source, scale: f64, note: &'static str) -> Mapping {
    Mapping {
        engine,
        concept,
        source,
        scale,
        note,
    }
}

use Concept as C;
use Engine as E;
use Source as S;

const MIB: f64 = 1024.0 * 1024.0;

/// Engine × concept → metric, in order of preference (newest names first).
pub static MAPPINGS: &[Mapping] = &[
    // vLLM (V1 names, then the V0 / pre-0.9 names they replaced)
    m(E::Vllm, C::Running, S::Gauge("vllm:num_requests_running")),
    mn(
        E::Vllm,
        C::Waiting,
        S::Gauge("vllm:num_requests_waiting"),
        1.0,
        "includes preempted requests",
    ),
    m(E::Vllm, C::KvCacheUsage, S::Gauge("vllm:kv_cache_usage_perc")),
    mn(
        E::Vllm,
        C::KvCacheUsage,
        S::Gauge("vllm:gpu_cache_usage_perc"),
        1.0,
        "name before vLLM 0.9",
    ),
    mn(
        E::Vllm,
        C::KvCacheCapacityTokens,
        S::InfoLabelProduct("vllm:cache_config_info", "num_gpu_blocks", "block_size"),
        1.0,
        "labels of an info gauge",
    ),
    m(E::Vllm, C::Preemptions, S::Counter("vllm:num_preemptions")),
    mn(
        E::Vllm,
        C::PrefixCacheHits,
        S::Counter("vllm:prefix_cache_hits"),
        1.0,
        "tokens",
    ),
    mn(
        E::Vllm,
        C::PrefixCacheHits,
        S::Counter("vllm:gpu_prefix_cache_hits"),
        1.0,
        "name before vLLM 0.10",
    ),
    mn(
        E::Vllm,
        C::PrefixCacheQueries,
        S::Counter("vllm:prefix_cache_queries"),
        1.0,
        "tokens",
    ),
    mn(
        E::Vllm,
        C::PrefixCacheQueries,
        S::Counter("vllm:gpu_prefix_cache_queries"),
        1.0,
        "name before vLLM 0.10",
    ),
    m(E::Vllm, C::PromptTokens, S::Counter("vllm:prompt_tokens")),
    m(E::Vllm, C::GenerationTokens, S::Counter("vllm:generation_tokens")),
    mn(
        E::Vllm,
        C::RequestsFinished,
        S::Counter("vllm:request_success"),
        1.0,
        "all finished_reason labels",
    ),
    m(E::Vllm, C::Ttft, S::Histogram("vllm:time_to_first_token_seconds")),
    m(E::Vllm, C::Itl, S::Histogram("vllm:inter_token_latency_seconds")),
    mn(
        E::Vllm,
        C::Itl,
        S::Histogram("vllm:time_per_output_token_seconds"),
        1.0,
        "deprecated name (0.11) of the same per-token histogram",
    ),
    mn(
        E::Vllm,
        C::Tpot,
        S::Histogram("vllm:request_time_per_output_token_seconds"),
        1.0,
        "one sample per request",
    ),
    m(E::Vllm, C::E2e, S::Histogram("vllm:e2e_request_latency_seconds")),
    m(E::Vllm, C::QueueTime, S::Histogram("vllm:request_queue_time_seconds")),
    // SGLang (--enable-metrics)
    m(E::Sglang, C::Running, S::Gauge("sglang:num_running_reqs")),
    m(E::Sglang, C::Waiting, S::Gauge("sglang:num_queue_reqs")),
    m(E::Sglang, C::KvCacheUsage, S::Gauge("sglang:token_usage")),
    m(
        E::Sglang,
        C::KvCacheCapacityTokens,
        S::Gauge("sglang:max_total_num_tokens"),
    ),
    m(E::Sglang, C::KvCacheUsedTokens, S::Gauge("sglang:num_used_tokens")),
    mn(
        E::Sglang,
        C::Preemptions,
        S::Counter("sglang:num_retracted_requests"),
        1.0,
        "retractions",
    ),
    m(E::Sglang, C::PrefixCacheHits, S::Counter("sglang:cached_tokens")),
    mn(
        E::Sglang,
        C::PrefixCacheQueries,
        S::Counter("sglang:prompt_tokens"),
        1.0,
        "hit rate = cached / prompt tokens",
    ),
    m(E::Sglang, C::PromptTokens, S::Counter("sglang:prompt_tokens")),
    m(E::Sglang, C::GenerationTokens, S::Counter("sglang:generation_tokens")),
    m(E::Sglang, C::RequestsFinished, S::Counter("sglang:num_requests")),
    m(E::Sglang, C::Ttft, S::Histogram("sglang:time_to_first_token_seconds")),
    m(E::Sglang, C::Itl, S::Histogram("sglang:inter_token_latency_seconds")),
    m(E::Sglang, C::E2e, S::Histogram("sglang:e2e_request_latency_seconds")),
    m(E::Sglang, C::QueueTime, S::Histogram("sglang:queue_time_seconds")),
    // TGI (no TTFT histogram, no KV gauge)
    m(E::Tgi, C::Running, S::Gauge("tgi_batch_current_size")),
    m(E::Tgi, C::Waiting, S::Gauge("tgi_queue_size")),
    mn(
        E::Tgi,
        C::PromptTokens,
        S::HistogramSum("tgi_request_input_length"),
        1.0,
        "sum of a histogram",
    ),
    mn(
        E::Tgi,
        C::GenerationTokens,
        S::HistogramSum("tgi_request_generated_tokens"),
        1.0,
        "sum of a histogram",
    ),
    mn(
        E::Tgi,
        C::RequestsFinished,
        S::Counter("tgi_request_success"),
        1.0,
        "written without `_total`",
    ),
    mn(
        E::Tgi,
        C::Tpot,
        S::Histogram("tgi_request_mean_time_per_token_duration"),
        1.0,
        "per-request mean",
    ),
    m(E::Tgi, C::E2e, S::Histogram("tgi_request_duration")),
    m(E::Tgi, C::QueueTime, S::Histogram("tgi_request_queue_duration")),
    // llama.cpp llama-server (--metrics; no labels, no histograms)
    m(E::LlamaCpp, C::Running, S::Gauge("llamacpp:requests_processing")),
    m(E::LlamaCpp, C::Waiting, S::Gauge("llamacpp:requests_deferred")),
    mn(
        E::LlamaCpp,
        C::KvCacheUsage,
        S::Gauge("llamacpp:kv_cache_usage_ratio"),
        1.0,
        "removed by PR #13660",
    ),
    mn(
        E::LlamaCpp,
        C::KvCacheUsedTokens,
        S::Gauge("llamacpp:kv_cache_tokens"),
        1.0,
        "removed by PR #13660",
    ),
    m(
        E::LlamaCpp,
        C::PrefixCacheHits,
        S::Counter("llamacpp:prompt_tokens_cached"),
    ),
    mn(
        E::LlamaCpp,
        C::PrefixCacheQueries,
        S::CounterSum(&["llamacpp:prompt_tokens", "llamacpp:prompt_tokens_cached"]),
        1.0,
        "prompt_tokens excludes cached tokens",
    ),
    mn(
        E::LlamaCpp,
        C::PromptTokens,
        S::CounterSum(&["llamacpp:prompt_tokens", "llamacpp:prompt_tokens_cached"]),
        1.0,
        "prompt_tokens excludes cached tokens",
    ),
    mn(
        E::LlamaCpp,
        C::PromptTokens,
        S::Counter("llamacpp:prompt_tokens"),
        1.0,
        "versions without the cached counter",
    ),
    m(
        E::LlamaCpp,
        C::GenerationTokens,
        S::Counter("llamacpp:tokens_predicted"),
    ),
    // TensorRT-LLM trtllm-serve (/prometheus/metrics; `trtllm:` as re-exported by Dynamo)
    m(E::TensorrtLlm, C::Running, S::Gauge("trtllm_num_requests_running")),
    m(E::TensorrtLlm, C::Waiting, S::Gauge("trtllm_num_requests_waiting")),
    m(E::TensorrtLlm, C::KvCacheUsage, S::Gauge("trtllm_kv_cache_utilization")),
    m(
        E::TensorrtLlm,
        C::KvCacheCapacityTokens,
        S::GaugeProduct("trtllm_kv_cache_max_blocks", "trtllm_kv_cache_tokens_per_block"),
    ),
    m(
        E::TensorrtLlm,
        C::KvCacheUsedTokens,
        S::GaugeProduct("trtllm_kv_cache_used_blocks", "trtllm_kv_cache_tokens_per_block"),
    ),
    m(
        E::TensorrtLlm,
        C::PrefixCacheHits,
        S::Counter("trtllm_prompt_cache_hit_tokens"),
    ),
    m(
        E::TensorrtLlm,
        C::PrefixCacheQueries,
        S::Counter("trtllm_prompt_tokens"),
    ),
    m(E::TensorrtLlm, C::PromptTokens, S::Counter("trtllm_prompt_tokens")),
    m(
        E::TensorrtLlm,
        C::GenerationTokens,
        S::Counter("trtllm_generation_tokens"),
    ),
    m(
        E::TensorrtLlm,
        C::RequestsFinished,
        S::Counter("trtllm_request_success"),
    ),
    m(
        E::TensorrtLlm,
        C::Ttft,
        S::Histogram("trtllm_time_to_first_token_seconds"),
    ),
    mn(
        E::TensorrtLlm,
        C::Itl,
        S::Histogram("trtllm_time_per_output_token_seconds"),
        1.0,
        "buckets copied from vLLM 0.10's per-token histogram",
    ),
    m(
        E::TensorrtLlm,
        C::E2e,
        S::Histogram("trtllm_e2e_request_latency_seconds"),
    ),
    m(
        E::TensorrtLlm,
        C::QueueTime,
        S::Histogram("trtllm_request_queue_time_seconds"),
    ),
    mn(
        E::TensorrtLlm,
        C::GpuMemoryUsedBytes,
        S::Gauge("trtllm_gpu_memory_usage_bytes"),
        1.0,
        "no total",
    ),
    // DCGM exporter (GPU telemetry; per GPU, label `gpu`/`UUID`)
    mn(
        E::Dcgm,
        C::GpuMemoryUsedBytes,
        S::Gauge("DCGM_FI_DEV_FB_USED"),
        MIB,
        "MiB",
    ),
    mn(
        E::Dcgm,
        C::GpuMemoryTotalBytes,
        S::Gauge("DCGM_FI_DEV_FB_TOTAL"),
        MIB,
        "MiB",
    ),
    mn(
        E::Dcgm,
        C::GpuMemoryTotalBytes,
        S::GaugeSum(&["DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_FB_RESERVED"]),
        MIB,
        "MiB; used + free + reserved when FB_TOTAL is not exported",
    ),
    mn(
        E::Dcgm,
        C::GpuMemoryTotalBytes,
        S::GaugeSum(&["DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE"]),
        MIB,
        "MiB; exporters without FB_RESERVED",
    ),
    mn(
        E::Dcgm,
        C::GpuUtilization,
        S::Gauge("DCGM_FI_DEV_GPU_UTIL"),
        0.01,
        "percent",
    ),
    mn(E::Dcgm, C::GpuPowerW, S::Gauge("DCGM_FI_DEV_POWER_USAGE"), 1.0, "W"),
    mn(
        E::Dcgm,
        C::GpuEnergyJ,
        S::Counter("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"),
        0.001,
        "mJ since boot",
    ),
];

impl Concept {
    /// Unit of the concept's value, as the mapping table states it.
    pub fn unit(self) -> &'static str {
        match self {
            Concept::Running | Concept::Waiting | Concept::RequestsFinished | Concept::Preemptions => "requests",
            Concept::KvCacheUsage | Concept::GpuUtilization => "fraction 0–1",
            Concept::KvCacheCapacityTokens
            | Concept::KvCacheUsedTokens
            | Concept::PrefixCacheHits
            | Concept::PrefixCacheQueries
            | Concept::PromptTokens
            | Concept::GenerationTokens => "tokens",
            Concept::Ttft | Concept::Itl | Concept::Tpot | Concept::E2e | Concept::QueueTime => {
                "histogram, s (reported in ms)"
            }
            Concept::GpuMemoryUsedBytes | Concept::GpuMemoryTotalBytes => "bytes",
            Concept::GpuPowerW => "W",
            Concept::GpuEnergyJ => "J (counter)",
        }
    }
}

/// [`MAPPINGS`] as the Markdown table printed in docs/metrics.md (a test keeps them equal):
/// one row per concept, one column per engine, the names in order of preference.
pub fn mapping_table_markdown() -> String {
    let mut out = String::from("| concept (`summary.json` key) | unit |");
    for e in Engine::ALL {
        out.push_str(&format!(" {} |", e.as_str()));
    }
    out.push_str("\n|---|---|");
    for _ in Engine::ALL {
        out.push_str("---|");
    }
    out.push('\n');
    for c in Concept::ALL {
        out.push_str(&format!("| `{}` | {} |", c.key(), c.unit()));
        for e in Engine::ALL {
            let cells: Vec<String> = MAPPINGS
                .iter()
                .filter(|m| m.engine == e && m.concept == c)
                .map(|m| {
                    let name = format!("`{}`", m.source.describe());
                    if m.note.is_empty() {
                        name
                    } else {
                        format!("{name} ({})", m.note)
                    }
                })
                .collect();
            out.push_str(&format!(
                " {} |",
                if cells.is_empty() {
                    "—".to_string()
                } else {
                    cells.join("; ")
                }
            ));
        }
        out.push('\n');
    }
    out
}

/// A cumulative histogram snapshot in seconds: upper bounds (ascending, `+Inf` last) and the
/// cumulative count at each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistSnapshot {
    pub bounds: Vec<f64>,
    pub cumulative: Vec<f64>,
    pub sum: f64,
    pub count: f64,
}

/// One concept's value in one scrape.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    Value(f64),
    Hist(HistSnapshot),
}

/// Per-GPU telemetry from one scrape (DCGM exporter) or one NVML poll. `None` = not reported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuReading {
    /// UUID (plus MIG instance) when known, else the index.
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub memory_used_bytes: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub memory_total_bytes: Option<f64>,
    /// 0–1.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub utilization: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub power_w: Option<f64>,
    /// Cumulative energy counter, J.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub energy_j: Option<f64>,
}

/// The normalized content of one scrape of one endpoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    /// Recognized sources, the serving engine first (by number of samples), DCGM last.
    pub engines: Vec<Engine>,
    pub values: BTreeMap<Concept, Reading>,
    /// Which metric each concept came from (`describe()` of its source).
    pub sources: BTreeMap<Concept, String>,
    /// Per-GPU readings (DCGM-style metrics).
    pub gpus: Vec<GpuReading>,
}

impl Frame {
    pub fn value(&self, c: Concept) -> Option<f64> {
        match self.values.get(&c) {
            Some(Reading::Value(v)) => Some(*v),
            _ => None,
        }
    }

    pub fn hist(&self, c: Concept) -> Option<&HistSnapshot> {
        match self.values.get(&c) {
            Some(Reading::Hist(h)) => Some(h),
            _ => None,
        }
    }

    /// The serving engine (not the DCGM exporter), if any.
    pub fn engine(&self) -> Option<Engine> {
        self.engines.iter().copied().find(|e| *e != Engine::Dcgm)
    }
}

/// Engines whose names appear, most samples first (DCGM last).
pub fn detect(e: &Exposition) -> Vec<Engine> {
    let mut counts: BTreeMap<Engine, usize> = BTreeMap::new();
    for s in &e.samples {
        for eng in Engine::ALL {
            if eng.prefixes().iter().any(|p| s.name.starts_with(p)) {
                *counts.entry(eng).or_default() += 1;
                break;
            }
        }
    }
    let mut v: Vec<(Engine, usize)> = counts.into_iter().collect();
    v.sort_by_key(|&(e, n)| (e == Engine::Dcgm, std::cmp::Reverse(n), e));
    v.into_iter().map(|(e, _)| e).collect()
}

/// Sample indices by name, with the alternative spellings folded in.
struct Index<'a> {
    e: &'a Exposition,
    by_name: HashMap<&'a str, Vec<usize>>,
}

impl<'a> Index<'a> {
    fn new(e: &'a Exposition) -> Index<'a> {
        let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, s) in e.samples.iter().enumerate() {
            by_name.entry(s.name.as_str()).or_default().push(i);
        }
        Index { e, by_name }
    }

    /// Samples named exactly `name`, or with `trtllm:` for `trtllm_`.
    fn named(&self, name: &str) -> Vec<&'a Sample> {
        let mut out: Vec<&Sample> = Vec::new();
        let mut take = |n: &str| {
            if let Some(ix) = self.by_name.get(n) {
                out.extend(ix.iter().map(|&i| &self.e.samples[i]));
            }
        };
        take(name);
        if let Some(rest) = name.strip_prefix("trtllm_") {
            take(&format!("trtllm:{rest}"));
        }
        out
    }

    /// A counter's samples: `name_total`, else `name` (declared counter or untyped).
    fn counter(&self, name: &str) -> Vec<&'a Sample> {
        let total = self.named(&format!("{name}_total"));
        if !total.is_empty() {
            return total;
        }
        self.named(name)
            .into_iter()
            .filter(|s| matches!(self.e.type_of(&s.name), MetricType::Counter | MetricType::Unknown))
            .collect()
    }

    fn gauge(&self, name: &str) -> Vec<&'a Sample> {
        self.named(name)
    }
}

fn finite_sum<'a>(it: impl Iterator<Item = &'a Sample>) -> Option<f64> {
    let mut n = 0;
    let mut sum = 0.0;
    for s in it {
        if s.value.is_finite() {
            sum += s.value;
            n += 1;
        }
    }
    (n > 0).then_some(sum)
}

fn finite_mean<'a>(it: impl Iterator<Item = &'a Sample>) -> Option<f64> {
    let v: Vec<f64> = it.map(|s| s.value).filter(|v| v.is_finite()).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn labels_without<'a>(s: &'a Sample, skip: &str) -> Vec<(&'a str, &'a str)> {
    let mut l: Vec<(&str, &str)> = s
        .labels
        .iter()
        .filter(|(k, _)| k != skip)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    l.sort_unstable();
    l
}

/// A histogram's buckets summed over its series (same bounds), in the concept's unit.
fn histogram(ix: &Index, name: &str, scale: f64) -> Option<HistSnapshot> {
    let buckets = ix.named(&format!("{name}_bucket"));
    if buckets.is_empty() {
        return None;
    }
    let mut by_le: BTreeMap<u64, (f64, f64)> = BTreeMap::new(); // bits of bound → (bound, cum)
    for b in &buckets {
        let Some(le) = b.label("le").and_then(super::expo::parse_value) else {
            continue;
        };
        if le.is_nan() || !b.value.is_finite() {
            continue;
        }
        let key = ordered_bits(le);
        let e = by_le.entry(key).or_insert((le, 0.0));
        e.1 += b.value;
    }
    if by_le.is_empty() {
        return None;
    }
    let (bounds, cumulative): (Vec<f64>, Vec<f64>) = by_le
        .into_values()
        .map(|(le, c)| (if le.is_finite() { le * scale } else { le }, c))
        .unzip();
    let sum = finite_sum(ix.named(&format!("{name}_sum")).into_iter()).unwrap_or(0.0) * scale;
    let count = finite_sum(ix.named(&format!("{name}_count")).into_iter())
        .or_else(|| cumulative.last().copied())
        .unwrap_or(0.0);
    Some(HistSnapshot {
        bounds,
        cumulative,
        sum,
        count,
    })
}

/// A total order on finite and infinite floats as integers (for map keys).
fn ordered_bits(v: f64) -> u64 {
    let b = v.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

fn read(ix: &Index, map: &Mapping) -> Option<Reading> {
    let sc = map.scale;
    let agg = |v: Vec<&Sample>| match map.concept.agg() {
        Agg::Sum => finite_sum(v.into_iter()),
        Agg::Mean => finite_mean(v.into_iter()),
    };
    let v = match map.source {
        Source::Gauge(n) => agg(ix.gauge(n))?,
        Source::Counter(n) => finite_sum(ix.counter(n).into_iter())?,
        Source::Histogram(n) => return histogram(ix, n, sc).map(Reading::Hist),
        Source::HistogramSum(n) => finite_sum(ix.named(&format!("{n}_sum")).into_iter())?,
        Source::InfoLabelProduct(n, a, b) => {
            let mut total = None;
            for s in ix.gauge(n) {
                let x = s.label(a).and_then(|v| v.parse::<f64>().ok());
                let y = s.label(b).and_then(|v| v.parse::<f64>().ok());
                if let (Some(x), Some(y)) = (x, y) {
                    if (x * y).is_finite() {
                        *total.get_or_insert(0.0) += x * y;
                    }
                }
            }
            total?
        }
        Source::GaugeProduct(a, b) => {
            // Pair series by their label sets.
            let bs = ix.gauge(b);
            let mut total = None;
            for x in ix.gauge(a) {
                let key = labels_without(x, "");
                if let Some(y) = bs.iter().find(|y| labels_without(y, "") == key) {
                    if (x.value * y.value).is_finite() {
                        *total.get_or_insert(0.0) += x.value * y.value;
                    }
                }
            }
            total?
        }
        Source::GaugeSum(ns) => {
            // Every part must be present (a partial sum would understate).
            let mut total = 0.0;
            for n in ns {
                total += finite_sum(ix.gauge(n).into_iter())?;
            }
            total
        }
        Source::CounterSum(ns) => {
            let mut total = 0.0;
            for n in ns {
                total += finite_sum(ix.counter(n).into_iter())?;
            }
            total
        }
    };
    Some(Reading::Value(v * sc))
}

/// Per-GPU readings from DCGM-exporter-style metrics (one series per GPU or MIG instance).
fn dcgm_gpus(ix: &Index) -> Vec<GpuReading> {
    let mut gpus: BTreeMap<String, GpuReading> = BTreeMap::new();
    let id_of = |s: &Sample| -> String {
        let base = s.label("UUID").or_else(|| s.label("gpu")).unwrap_or("?").to_string();
        match s.label("GPU_I_ID") {
            Some(mig) if !mig.is_empty() => format!("{base}/mig{mig}"),
            _ => base,
        }
    };
    let mut put = |name: &str, f: &dyn Fn(&mut GpuReading, f64)| {
        for s in ix.named(name) {
            if !s.value.is_finite() {
                continue;
            }
            let id = id_of(s);
            let g = gpus.entry(id.clone()).or_insert_with(|| GpuReading {
                id,
                name: s.label("modelName").map(str::to_string),
                ..Default::default()
            });
            f(g, s.value);
        }
    };
    put("DCGM_FI_DEV_FB_USED", &|g, v| g.memory_used_bytes = Some(v * MIB));
    put("DCGM_FI_DEV_FB_TOTAL", &|g, v| g.memory_total_bytes = Some(v * MIB));
    put("DCGM_FI_DEV_GPU_UTIL", &|g, v| g.utilization = Some(v / 100.0));
    put("DCGM_FI_DEV_POWER_USAGE", &|g, v| g.power_w = Some(v));
    put("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", &|g, v| {
        g.energy_j = Some(v / 1000.0)
    });
    // Total = FB_TOTAL when exported, else used + free + reserved of the same series.
    if ix.named("DCGM_FI_DEV_FB_TOTAL").is_empty() {
        let part = |name: &str| -> HashMap<String, f64> {
            ix.named(name)
                .into_iter()
                .filter(|s| s.value.is_finite())
                .map(|s| (id_of(s), s.value * MIB))
                .collect()
        };
        let (used, free, reserved) = (
            part("DCGM_FI_DEV_FB_USED"),
            part("DCGM_FI_DEV_FB_FREE"),
            part("DCGM_FI_DEV_FB_RESERVED"),
        );
        for (id, g) in gpus.iter_mut() {
            g.memory_total_bytes = match (used.get(id), free.get(id)) {
                (Some(u), Some(f)) => Some(u + f + reserved.get(id).copied().unwrap_or(0.0)),
                _ => None,
            };
        }
    }
    gpus.into_values().collect()
}

/// Normalize one exposition: detect the engines and read every concept they map.
pub fn extract(e: &Exposition) -> Frame {
    let engines = detect(e);
    let ix = Index::new(e);
    let mut f = Frame {
        engines: engines.clone(),
        ..Default::default()
    };
    for eng in &engines {
        for map in MAPPINGS.iter().filter(|m| m.engine == *eng) {
            if f.values.contains_key(&map.concept) {
                continue;
            }
            if let Some(r) = read(&ix, map) {
                f.values.insert(map.concept, r);
                f.sources.insert(map.concept, map.source.describe());
            }
        }
    }
    // KV tokens in use, when only the fraction and the capacity are exported (vLLM).
    if !f.values.contains_key(&Concept::KvCacheUsedTokens) {
        if let (Some(u), Some(c)) = (f.value(Concept::KvCacheUsage), f.value(Concept::KvCacheCapacityTokens)) {
            f.values.insert(Concept::KvCacheUsedTokens, Reading::Value(u * c));
            let src = format!(
                "{} × {}",
                f.sources.get(&Concept::KvCacheUsage).cloned().unwrap_or_default(),
                f.sources
                    .get(&Concept::KvCacheCapacityTokens)
                    .cloned()
                    .unwrap_or_default()
            );
            f.sources.insert(Concept::KvCacheUsedTokens, src);
        }
    }
    if engines.contains(&Engine::Dcgm) {
        f.gpus = dcgm_gpus(&ix);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::expo::parse;

    #[test]
    fn every_engine_concept_pair_is_reachable_and_sources_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for m in MAPPINGS {
            assert!(
                seen.insert((m.engine, m.concept, m.source.describe())),
                "duplicate row {:?}",
                m
            );
            assert!(m.scale > 0.0);
        }
    }

    /// docs/metrics.md prints exactly this table: the one mapping, written once.
    #[test]
    fn docs_print_the_mapping_table() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md")).unwrap();
        let table = mapping_table_markdown();
        assert!(
            doc.contains(&table),
            "docs/metrics.md must contain the mapping table exactly as generated:\n{table}"
        );
    }

    #[test]
    fn detection_counts_samples_and_puts_dcgm_last() {
        let e = parse("DCGM_FI_DEV_FB_USED{gpu=\"0\"} 1\nDCGM_FI_DEV_FB_FREE{gpu=\"0\"} 1\nDCGM_FI_DEV_GPU_UTIL{gpu=\"0\"} 1\nvllm:num_requests_running 1\n").unwrap();
        assert_eq!(detect(&e), vec![Engine::Vllm, Engine::Dcgm]);
        assert_eq!(
            detect(&parse("trtllm:num_requests_running 2\n").unwrap()),
            vec![Engine::TensorrtLlm]
        );
        assert!(detect(&parse("go_goroutines 5\n").unwrap()).is_empty());
    }

    #[test]
    fn counters_with_and_without_total_and_histograms_summed_over_series() {
        let text = "# TYPE vllm:num_preemptions_total counter\n\
vllm:num_preemptions_total{engine=\"0\"} 3.0\nvllm:num_preemptions_total{engine=\"1\"} 4.0\n\
tgi_queue_size 2\n\
vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"0.1\"} 1.0\n\
vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"+Inf\"} 2.0\n\
vllm:time_to_first_token_seconds_bucket{engine=\"1\",le=\"0.1\"} 3.0\n\
vllm:time_to_first_token_seconds_bucket{engine=\"1\",le=\"+Inf\"} 3.0\n\
vllm:time_to_first_token_seconds_sum{engine=\"0\"} 0.5\nvllm:time_to_first_token_seconds_sum{engine=\"1\"} 0.25\n\
vllm:time_to_first_token_seconds_count{engine=\"0\"} 2.0\nvllm:time_to_first_token_seconds_count{engine=\"1\"} 3.0\n";
        let f = extract(&parse(text).unwrap());
        assert_eq!(f.value(Concept::Preemptions), Some(7.0));
        let h = f.hist(Concept::Ttft).unwrap();
        assert_eq!(h.bounds, vec![0.1, f64::INFINITY]);
        assert_eq!(h.cumulative, vec![4.0, 5.0]);
        assert_eq!((h.sum, h.count), (0.75, 5.0));
        // Both engines are read; vLLM's rows come first (more samples), TGI's fill the gaps.
        assert_eq!(f.engines, vec![Engine::Vllm, Engine::Tgi]);
        // TGI's counter is written without `_total`.
        let tgi = extract(&parse("# TYPE tgi_request_success counter\ntgi_request_success 9\n").unwrap());
        assert_eq!(tgi.value(Concept::RequestsFinished), Some(9.0));
    }

    #[test]
    fn vllm_kv_capacity_from_the_info_gauge_and_used_tokens_derived() {
        let text = "vllm:kv_cache_usage_perc{engine=\"0\",model_name=\"m\"} 0.25\n\
vllm:cache_config_info{block_size=\"16\",engine=\"0\",num_gpu_blocks=\"1000\"} 1.0\n";
        let f = extract(&parse(text).unwrap());
        assert_eq!(f.value(Concept::KvCacheCapacityTokens), Some(16000.0));
        assert_eq!(f.value(Concept::KvCacheUsedTokens), Some(4000.0));
        assert_eq!(
            f.sources[&Concept::KvCacheUsedTokens],
            "vllm:kv_cache_usage_perc × vllm:cache_config_info{num_gpu_blocks} × {block_size}"
        );
    }

    #[test]
    fn old_vllm_names_are_used_when_new_ones_are_absent_and_new_ones_win() {
        let old = extract(&parse("vllm:gpu_cache_usage_perc{model_name=\"m\"} 0.5\n").unwrap());
        assert_eq!(old.value(Concept::KvCacheUsage), Some(0.5));
        assert_eq!(old.sources[&Concept::KvCacheUsage], "vllm:gpu_cache_usage_perc");
        let both = extract(
            &parse("vllm:gpu_cache_usage_perc{engine=\"0\"} 0.5\nvllm:kv_cache_usage_perc{engine=\"0\"} 0.4\n")
                .unwrap(),
        );
        assert_eq!(both.value(Concept::KvCacheUsage), Some(0.4));
    }

    #[test]
    fn dcgm_units_and_total_from_parts() {
        let text = "DCGM_FI_DEV_FB_USED{gpu=\"0\",UUID=\"GPU-a\",modelName=\"NVIDIA H100\"} 1024\n\
DCGM_FI_DEV_FB_FREE{gpu=\"0\",UUID=\"GPU-a\",modelName=\"NVIDIA H100\"} 3000\n\
DCGM_FI_DEV_FB_RESERVED{gpu=\"0\",UUID=\"GPU-a\",modelName=\"NVIDIA H100\"} 72\n\
DCGM_FI_DEV_GPU_UTIL{gpu=\"0\",UUID=\"GPU-a\"} 87\n\
DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu=\"0\",UUID=\"GPU-a\"} 5000\n";
        let f = extract(&parse(text).unwrap());
        assert_eq!(f.value(Concept::GpuMemoryUsedBytes), Some(1024.0 * MIB));
        assert_eq!(f.value(Concept::GpuMemoryTotalBytes), Some(4096.0 * MIB));
        assert_eq!(f.value(Concept::GpuUtilization), Some(0.87));
        assert_eq!(f.value(Concept::GpuEnergyJ), Some(5.0));
        assert_eq!(f.gpus.len(), 1);
        assert_eq!(f.gpus[0].id, "GPU-a");
        assert_eq!(f.gpus[0].memory_total_bytes, Some(4096.0 * MIB));
        assert_eq!(f.gpus[0].name.as_deref(), Some("NVIDIA H100"));
    }
}
