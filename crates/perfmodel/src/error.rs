//! The one error type of the crate.
//!
//! Everything a user can get wrong (an unknown preset name, a dtype string, a
//! malformed `config.json`, an impossible tensor-parallel degree, a plan with no
//! batch sizes) comes back as an [`Error`] instead of a panic, so that a CLI can
//! print it as is.

use std::fmt;

/// Errors returned by this crate. Every message is meant to be shown to a user.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A GPU or model preset name that is not in the built-in list.
    #[error("unknown {kind} preset '{name}'; valid names: {valid}")]
    UnknownPreset {
        /// `"GPU"` or `"model"`.
        kind: &'static str,
        /// The name that was asked for.
        name: String,
        /// Comma-separated list of the valid names.
        valid: String,
    },
    /// A dtype string that is not one of the supported ones.
    #[error("unknown dtype '{0}'; valid: bf16, fp16, fp8, int8, int4")]
    UnknownDtype(String),
    /// `config.json` is valid JSON but does not describe a model we can use.
    #[error("invalid config.json: {0}")]
    InvalidConfig(String),
    /// `config.json` is not valid JSON.
    #[error("config.json is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Reading a `config.json` file failed.
    #[error("cannot read '{path}': {source}")]
    Io {
        /// The path that was read.
        path: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A [`crate::ModelSpec`] with impossible dimensions.
    #[error("invalid model '{name}': {reason}")]
    InvalidModel {
        /// Model name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A [`crate::GpuSpec`] with impossible numbers.
    #[error("invalid GPU '{name}': {reason}")]
    InvalidGpu {
        /// GPU name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A [`crate::Deployment`] that cannot run (e.g. TP degree does not divide the heads).
    #[error("invalid deployment: {0}")]
    InvalidDeployment(String),
    /// A [`crate::plan::PlanConfig`] that cannot be planned.
    #[error("invalid plan: {0}")]
    InvalidPlan(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Joins preset names for [`Error::UnknownPreset`].
pub(crate) fn join_names(names: &[&str]) -> String {
    struct Joined<'a>(&'a [&'a str]);
    impl fmt::Display for Joined<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            for (i, n) in self.0.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                f.write_str(n)?;
            }
            Ok(())
        }
    }
    Joined(names).to_string()
}

/// Normalises a user-typed preset name: trimmed, lowercase, `_`/space → `-`.
pub(crate) fn normalize_name(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| match c {
            '_' | ' ' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{join_names, normalize_name};

    #[test]
    fn names() {
        assert_eq!(normalize_name("  H100_SXM "), "h100-sxm");
        assert_eq!(normalize_name("RTX 4090"), "rtx-4090");
        assert_eq!(join_names(&["a", "b", "c"]), "a, b, c");
        assert_eq!(join_names(&[]), "");
    }
}
