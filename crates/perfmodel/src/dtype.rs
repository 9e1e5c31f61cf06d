//! Numeric formats for weights and the KV cache.
//!
//! The model needs bytes per element (memory footprint and bytes streamed per
//! step) and, for weights, which tensor-core rate the GEMMs run at. `int4` is
//! 0.5 byte per element (two values per byte, as in AWQ/GPTQ checkpoints).
//! Quantisation scales/zero points (≈1–3 % extra for group size 128) are not
//! counted.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Storage format of weights or KV-cache entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// bfloat16, 2 bytes.
    Bf16,
    /// IEEE half, 2 bytes.
    Fp16,
    /// 8-bit float (e4m3/e5m2), 1 byte.
    Fp8,
    /// 8-bit integer, 1 byte.
    Int8,
    /// 4-bit integer, 0.5 byte (packed two per byte).
    Int4,
}

impl DType {
    /// Every supported dtype, widest first.
    pub const ALL: [DType; 5] = [DType::Bf16, DType::Fp16, DType::Fp8, DType::Int8, DType::Int4];

    /// Bytes per element (`int4` = 0.5).
    pub fn bytes(self) -> f64 {
        match self {
            DType::Bf16 | DType::Fp16 => 2.0,
            DType::Fp8 | DType::Int8 => 1.0,
            DType::Int4 => 0.5,
        }
    }

    /// Canonical lowercase name (`"bf16"`, …), the one [`FromStr`] accepts.
    pub fn name(self) -> &'static str {
        match self {
            DType::Bf16 => "bf16",
            DType::Fp16 => "fp16",
            DType::Fp8 => "fp8",
            DType::Int8 => "int8",
            DType::Int4 => "int4",
        }
    }

    /// True for the 16-bit formats (no quantisation).
    pub fn is_16bit(self) -> bool {
        matches!(self, DType::Bf16 | DType::Fp16)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DType {
    type Err = Error;

    /// Parses `bf16|fp16|fp8|int8|int4` (case-insensitive) and common aliases
    /// (`bfloat16`, `float16`, `half`, `fp8_e4m3`, `fp8_e5m2`, `float8`, `i8`, `i4`, `w4a16`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "bf16" | "bfloat16" => Ok(DType::Bf16),
            "fp16" | "float16" | "f16" | "half" => Ok(DType::Fp16),
            "fp8" | "fp8_e4m3" | "fp8_e5m2" | "fp8-e4m3" | "fp8-e5m2" | "float8" | "f8" => Ok(DType::Fp8),
            "int8" | "i8" | "w8a8" => Ok(DType::Int8),
            "int4" | "i4" | "w4a16" => Ok(DType::Int4),
            _ => Err(Error::UnknownDtype(s.to_string())),
        }
    }
}
