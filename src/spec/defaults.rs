//! Every default of the run specification, written once. The flags' help, the config-file
//! loader, `sim serve`, `sim run` and the embedded `bench` target all take their defaults
//! from here (through the `Default` impls below), so no command disagrees with another.

use super::{
    CostSpec, LoadSpec, OutputSpec, ReliabilitySpec, RunSpec, SimSpec, SweepSpec, TargetSpec, WorkloadSpec,
    SPEC_VERSION,
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
            cost: CostSpec::default(),
            reliability: ReliabilitySpec::default(),
            output: OutputSpec::default(),
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
        }
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
