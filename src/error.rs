//! The one error type of the application and command layers: a one-line message and the
//! exit code it deserves (see docs/reliability.md "Exit codes").

/// Exit code of bad input: a flag, config key or file named in one line.
pub const EXIT_USAGE: u8 = 2;
/// Exit code of a run that failed (e.g. the target is unreachable, every request failed).
pub const EXIT_FAILED: u8 = 1;
/// Exit code of a run stopped by the `--max-error-rate` circuit breaker.
pub const EXIT_ERROR_RATE: u8 = 3;
/// Exit code of a run stopped by Ctrl-C (128 + SIGINT, the shell convention).
pub const EXIT_INTERRUPTED: u8 = 130;

/// An error with the exit code it deserves.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub code: u8,
    pub message: String,
}

impl Error {
    /// Bad input (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Error {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    /// A failed run (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Error {
            code: EXIT_FAILED,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        Error::failed(format!("{e:#}"))
    }
}
