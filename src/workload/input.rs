//! Reading workload files (datasets and traces): the one-line error naming the file, line
//! and field, and the counts of what `--skip-invalid` skipped, so a bad line is reported the
//! same way whichever format it came from.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// What is wrong with one line (or entry) of an input file.
#[derive(Debug, Clone, PartialEq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: u64,
    /// The field at fault, e.g. `hash_ids` or `messages[1].content`; `None` when the line
    /// as a whole is unreadable.
    pub field: Option<String>,
    pub reason: String,
}

impl BadLine {
    pub fn field(line: u64, field: &str, reason: impl Into<String>) -> Self {
        BadLine {
            line,
            field: Some(field.to_string()),
            reason: reason.into(),
        }
    }

    pub fn line(line: u64, reason: impl Into<String>) -> Self {
        BadLine {
            line,
            field: None,
            reason: reason.into(),
        }
    }

    /// `FILE:LINE: field F: reason` (or `FILE:LINE: reason`), one line.
    pub fn at(&self, path: &Path) -> String {
        let reason = self.reason.replace(['\n', '\r'], " ");
        match &self.field {
            Some(f) => format!("{}:{}: field {f}: {reason}", path.display(), self.line),
            None => format!("{}:{}: {reason}", path.display(), self.line),
        }
    }
}

/// What reading a workload file kept and left out (written to `run.json` and the summary).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputCounts {
    /// Lines (entries) read.
    pub read: u64,
    /// Entries used.
    pub used: u64,
    /// Malformed entries skipped under `--skip-invalid`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped_invalid: u64,
    /// Entries whose prompt (plus output) exceeds the model's context, skipped under
    /// `--skip-invalid`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped_too_long: u64,
    /// Entries outside the length filter (datasets) or the time window (traces).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub filtered_out: u64,
    /// Entries the file itself marks as unusable: ShareGPT conversations without a reply,
    /// trace requests recorded with zero output tokens (failures in BurstGPT).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unusable: u64,
    /// The first malformed entry skipped, as its one-line error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_invalid: Option<String>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl InputCounts {
    /// Record a malformed entry: an error unless `skip_invalid`.
    pub fn invalid(&mut self, bad: BadLine, path: &Path, skip_invalid: bool) -> Result<(), String> {
        let msg = bad.at(path);
        if !skip_invalid {
            return Err(format!("{msg} (--skip-invalid skips such lines)"));
        }
        self.skipped_invalid += 1;
        self.first_invalid.get_or_insert(msg);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_file_line_and_field() {
        let p = Path::new("t.jsonl");
        assert_eq!(
            BadLine::field(3, "hash_ids", "expected an array").at(p),
            "t.jsonl:3: field hash_ids: expected an array"
        );
        assert_eq!(BadLine::line(9, "bad\nthing").at(p), "t.jsonl:9: bad thing");
        let mut c = InputCounts::default();
        assert!(c
            .invalid(BadLine::line(1, "x"), p, false)
            .unwrap_err()
            .contains("--skip-invalid"));
        c.invalid(BadLine::line(2, "y"), p, true).unwrap();
        c.invalid(BadLine::line(5, "z"), p, true).unwrap();
        assert_eq!(c.skipped_invalid, 2);
        assert_eq!(c.first_invalid.as_deref(), Some("t.jsonl:2: y"));
    }
}
