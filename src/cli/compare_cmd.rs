//! `infermeter compare`: flags → [`CompareOptions`] (gates parsed, so a malformed one is a
//! one-line error before any run is read); the comparison itself is `app::compare`.

use super::{CliError, CompareArgs};
use crate::app::compare::CompareOptions;
use crate::report::compare;

pub fn run(a: CompareArgs) -> Result<u8, CliError> {
    let gates = a
        .fail_if
        .iter()
        .map(|g| compare::parse_gate(g))
        .collect::<Result<Vec<_>, _>>()
        .map_err(CliError::usage)?;
    crate::app::compare::run(&CompareOptions {
        runs: a.runs,
        html: a.html,
        gates,
        json: a.json,
        resamples: a.resamples,
        seed: a.seed,
    })
}
