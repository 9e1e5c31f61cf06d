//! Every default of the run specification, written once. The flags' help, the config-file
//! loader, `sim serve`, `sim run` and the embedded `bench` target all take their defaults
//! from here (through the `Default` impls below), so no command disagrees with another.

use super::{
    CostSpec, DatasetSpec, LoadSpec, OutputSpec, ReliabilitySpec, RunSpec, SessionsSpec, SharedPrefixSpec, SimSpec,
    SweepSpec, TargetSpec, TelemetrySpec, TraceSpec, WorkloadSpec, SPEC_VERSION,
};

/// Measured requests when neither a count nor a duration is given.
pub const REQUESTS: u64 = 320;
/// Closed-loop workers when neither a concurrency nor a rate is given.
pub const CONCURRENCY: usize = 32;
pub const INPUT_TOKENS: &str = "512";
pub const OUTPUT_TOKENS: &str = "64";
pub const TOKENIZER: &str = "cl100k_base";
pub const API: &str = "completions";
pub const API_KEY_ENV: &str = "OPENAI_API_KEY";
pub const ARRIVAL: &str = "poisson";
pub const WARMUP: &str = "0";
pub const SEED: u64 = 0;
pub const RX_TIMESTAMP: &str = "kernel";
pub const CONNECT_TIMEOUT: &str = "10s";
pub const FIRST_BYTE_TIMEOUT: &str = "300s";
pub const IDLE_TIMEOUT: &str = "120s";
pub const REQUEST_TIMEOUT: &str = "30m";
pub const GPUS: f64 = 1.0;
pub const ERROR_WINDOW: usize = 50;
pub const RETRY: u32 = 0;
pub const RETRY_BACKOFF: &str = "100ms";
pub const DRAIN_TIMEOUT: &str = "30s";
pub const SWEEP_STAGES: usize = 6;
pub const SWEEP_PROBE_CONCURRENCY: usize = 64;
pub const SWEEP_OPERATING_FRACTION: f64 = 0.6;
pub const SWEEP_ATTAINMENT_TARGET: f64 = 0.9;
pub const SWEEP_TRIALS: usize = 2;
pub const SWEEP_SEARCH_STEPS: usize = 3;

/// Scrape the target's own `/metrics`.
pub const SERVER_METRICS: &str = "auto";
/// Between two scrapes (AIPerf scrapes every 0.33 s; Prometheus servers every 15–60 s).
pub const SERVER_METRICS_INTERVAL: &str = "500ms";
pub const GPU_TELEMETRY: &str = "auto";
pub const PROMETHEUS_LINGER: &str = "20s";
/// Datasets, traces, shared prefixes and sessions (docs/workloads.md).
pub const DATASET_FORMAT: &str = "auto";
pub const DATASET_ORDER: &str = "shuffle";
/// The entry's own output length (`dataset.output_tokens`).
pub const DATASET_OUTPUT_TOKENS: &str = "file";
pub const TRACE_FORMAT: &str = "auto";
pub const TRACE_SPEED: f64 = 1.0;
/// Mooncake's `hash_ids` block.
pub const TRACE_BLOCK_SIZE: u32 = 512;
/// SGLang's generated-shared-prefix defaults (16 questions per group, 2048-token system
/// prompt, 128-token question).
pub const PROMPTS_PER_GROUP: u32 = 16;
pub const PREFIX_TOKENS: u32 = 2048;
pub const SUFFIX_TOKENS: &str = "128";
pub const TURNS: u32 = 4;
pub const THINK_TIME_MS: &str = "0";

/// The simulated server: a small model on a modest GPU, so the default `bench` finishes in
/// about ten seconds and still shows batching; vLLM's limits for that GPU; real time.
pub const SIM_MODE: &str = "engine";
pub const SIM_MODEL_PRESET: &str = "qwen3-0.6b";
pub const SIM_GPU: &str = "l4";
pub const SIM_TIME_SCALE: f64 = 1.0;
/// Served model name of the fixed-timing server.
pub const SIM_FIXED_MODEL: &str = "infermeter-sim";
/// Concurrent sequences of the fixed-timing server.
pub const SIM_FIXED_MAX_NUM_SEQS: u32 = 256;
pub const SIM_TTFT_MS: &str = "normal:30,3";
pub const SIM_ITL_MS: &str = "normal:10,1";
pub const SIM_PREFILL_US_PER_TOKEN: f64 = 40.0;
pub const DTYPE: &str = "bf16";
pub const SCHEDULER: &str = "continuous";
pub const SIM_ENGINE_PROFILE: &str = "vllm-v1";
pub const SIM_SCHEDULER_STEPS: u32 = 1;
pub const SIM_TP: u32 = 1;
pub const SIM_TOKENS_PER_CHUNK: u32 = 1;

/// Default port of `sim serve`.
pub const SIM_PORT: u16 = 8000;
/// GPU of `plan` when none is given.
pub const PLAN_GPU: &str = "h100-sxm";

impl Default for RunSpec {
    fn default() -> Self {
        RunSpec {
            spec_version: SPEC_VERSION,
            seed: SEED,
            target: TargetSpec::default(),
            load: LoadSpec::default(),
            workload: WorkloadSpec::default(),
            slo: None,
            sla: None,
            cost: CostSpec::default(),
            reliability: ReliabilitySpec::default(),
            output: OutputSpec::default(),
            telemetry: TelemetrySpec::default(),
            sim: None,
            sweep: None,
            shard: Default::default(),
            run: None,
        }
    }
}

impl Default for TargetSpec {
    fn default() -> Self {
        TargetSpec {
            url: None,
            model: None,
            api: API.into(),
            endpoint: None,
            stream: true,
            headers: Vec::new(),
            api_key_env: API_KEY_ENV.into(),
            api_key_file: None,
            ca_cert: None,
            insecure: false,
            rx_timestamp: RX_TIMESTAMP.into(),
            connect_timeout: CONNECT_TIMEOUT.into(),
            first_byte_timeout: FIRST_BYTE_TIMEOUT.into(),
            idle_timeout: IDLE_TIMEOUT.into(),
            request_timeout: REQUEST_TIMEOUT.into(),
        }
    }
}

impl Default for LoadSpec {
    fn default() -> Self {
        LoadSpec {
            concurrency: None,
            rate: None,
            arrival: ARRIVAL.into(),
            burstiness: None,
            max_concurrency: None,
            requests: None,
            duration: None,
            warmup: WARMUP.into(),
            cooldown: None,
        }
    }
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        WorkloadSpec {
            input_tokens: INPUT_TOKENS.into(),
            output_tokens: OUTPUT_TOKENS.into(),
            tokenizer: TOKENIZER.into(),
            ignore_eos: true,
            continuous_usage: true,
            temperature: None,
            extra_body: None,
            skip_invalid: false,
            dataset: DatasetSpec::default(),
            trace: TraceSpec::default(),
            shared_prefix: SharedPrefixSpec::default(),
            sessions: SessionsSpec::default(),
        }
    }
}

impl Default for DatasetSpec {
    fn default() -> Self {
        DatasetSpec {
            path: None,
            format: DATASET_FORMAT.into(),
            order: DATASET_ORDER.into(),
            min_input_tokens: None,
            max_input_tokens: None,
            output_tokens: DATASET_OUTPUT_TOKENS.into(),
        }
    }
}

impl DatasetSpec {
    /// True when every key is at its default (the table is then left out of `run.json`).
    pub fn is_unset(&self) -> bool {
        *self == DatasetSpec::default()
    }
}

impl Default for TraceSpec {
    fn default() -> Self {
        TraceSpec {
            path: None,
            format: TRACE_FORMAT.into(),
            speed: TRACE_SPEED,
            start: None,
            end: None,
            block_size: TRACE_BLOCK_SIZE,
        }
    }
}

impl TraceSpec {
    /// True when every key is at its default.
    pub fn is_unset(&self) -> bool {
        *self == TraceSpec::default()
    }
}

impl Default for SharedPrefixSpec {
    fn default() -> Self {
        SharedPrefixSpec {
            groups: None,
            prompts_per_group: PROMPTS_PER_GROUP,
            prefix_tokens: PREFIX_TOKENS,
            suffix_tokens: SUFFIX_TOKENS.into(),
        }
    }
}

impl SharedPrefixSpec {
    /// True when every key is at its default.
    pub fn is_unset(&self) -> bool {
        *self == SharedPrefixSpec::default()
    }
}

impl Default for SessionsSpec {
    fn default() -> Self {
        SessionsSpec {
            users: None,
            turns: TURNS,
            think_time_ms: THINK_TIME_MS.into(),
        }
    }
}

impl SessionsSpec {
    /// True when every key is at its default.
    pub fn is_unset(&self) -> bool {
        *self == SessionsSpec::default()
    }
}

impl Default for CostSpec {
    fn default() -> Self {
        CostSpec {
            gpu_cost_per_hour: None,
            price_gpu: None,
            gpus: GPUS,
        }
    }
}

impl Default for ReliabilitySpec {
    fn default() -> Self {
        ReliabilitySpec {
            max_error_rate: None,
            error_window: ERROR_WINDOW,
            retry: RETRY,
            retry_backoff: RETRY_BACKOFF.into(),
            drain_timeout: DRAIN_TIMEOUT.into(),
        }
    }
}

impl Default for OutputSpec {
    fn default() -> Self {
        OutputSpec {
            dir: None,
            csv: false,
            html: true,
        }
    }
}

impl Default for TelemetrySpec {
    fn default() -> Self {
        TelemetrySpec {
            server_metrics: vec![SERVER_METRICS.into()],
            server_metrics_interval: SERVER_METRICS_INTERVAL.into(),
            gpu_telemetry: GPU_TELEMETRY.into(),
            prometheus_listen: None,
            prometheus_linger: PROMETHEUS_LINGER.into(),
        }
    }
}

impl Default for SimSpec {
    fn default() -> Self {
        SimSpec {
            mode: SIM_MODE.into(),
            served_model: None,
            model_preset: SIM_MODEL_PRESET.into(),
            model_config: None,
            gpu: SIM_GPU.into(),
            tp: SIM_TP,
            weights_dtype: DTYPE.into(),
            kv_dtype: DTYPE.into(),
            max_num_seqs: None,
            max_num_batched_tokens: None,
            max_model_len: None,
            chunked_prefill: true,
            prefix_caching: true,
            scheduler: SCHEDULER.into(),
            engine_profile: SIM_ENGINE_PROFILE.into(),
            num_scheduler_steps: SIM_SCHEDULER_STEPS,
            time_scale: SIM_TIME_SCALE,
            ttft_ms: SIM_TTFT_MS.into(),
            itl_ms: SIM_ITL_MS.into(),
            prefill_us_per_token: SIM_PREFILL_US_PER_TOKEN,
            tokens_per_chunk: SIM_TOKENS_PER_CHUNK,
            faults: Vec::new(),
            fault_stall_ms: crate::sim::faults::DEFAULT_FAULT_MS,
            fault_delay_ms: crate::sim::faults::DEFAULT_FAULT_MS,
        }
    }
}

impl Default for SweepSpec {
    fn default() -> Self {
        SweepSpec {
            rates: None,
            concurrencies: None,
            stages: SWEEP_STAGES,
            probe_concurrency: SWEEP_PROBE_CONCURRENCY,
            operating_fraction: SWEEP_OPERATING_FRACTION,
            attainment_target: SWEEP_ATTAINMENT_TARGET,
            trials: SWEEP_TRIALS,
            search_steps: SWEEP_SEARCH_STEPS,
        }
    }
}
