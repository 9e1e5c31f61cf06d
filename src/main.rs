//! The `infermeter` binary: all logic lives in the library; this only maps the result to an
//! exit code.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(infermeter::cli::main_entry())
}
