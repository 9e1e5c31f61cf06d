//! Regenerates the simulator's validation table: runs every point of
//! `validation/corpus.json` through the simulated engine, prints the Markdown
//! table of docs/simulator.md (every point, fit vs held-out, published vs
//! simulated, signed error, then median and p90 |error| per metric), and with
//! `--write` stores the held-out statistics in `validation/heldout.json`, from
//! which every prediction's uncertainty band is derived.
//!
//! ```text
//! cargo run --release -p infermeter-perfmodel --example validate            # print the table
//! cargo run --release -p infermeter-perfmodel --example validate -- --write # also rewrite heldout.json
//! cargo run --release -p infermeter-perfmodel --example validate -- --fit-only
//! ```
//! `--fit-only` prints the fit points alone (what parameter choices may look at).

#[path = "../validation/harness.rs"]
mod harness;

use infermeter_perfmodel::validation::{Corpus, Split};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    for a in &args {
        if !["--write", "--fit-only"].contains(&a.as_str()) {
            eprintln!("error: unknown argument '{a}' (valid: --write, --fit-only)");
            std::process::exit(2);
        }
    }
    let corpus = match Corpus::shipped() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let outcomes = harness::run_corpus(&corpus);
    if args.iter().any(|a| a == "--fit-only") {
        let pts: Vec<_> = corpus
            .points
            .iter()
            .filter(|p| p.split() == Split::Fit)
            .cloned()
            .collect();
        let outs: Vec<_> = outcomes.iter().filter(|o| o.split == Split::Fit).cloned().collect();
        let fit = Corpus {
            points: pts,
            ..corpus.clone()
        };
        print!("{}", harness::table(&fit, &outs));
        return;
    }
    print!("{}", harness::table(&corpus, &outcomes));
    for o in &outcomes {
        if let Some(f) = &o.failure {
            eprintln!("note: {} could not be simulated: {f}", o.id);
        }
    }
    if args.iter().any(|a| a == "--write") {
        let h = harness::heldout(&outcomes);
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/validation/heldout.json");
        let text = serde_json::to_string_pretty(&h).expect("serialisable") + "\n";
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("error: cannot write {path}: {e}");
            std::process::exit(1);
        }
        eprintln!("wrote {path}");
    }
}
