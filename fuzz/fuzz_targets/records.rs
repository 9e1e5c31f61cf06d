//! The `records.jsonl` reader (`infermeter report` / `compare`) on arbitrary bytes: no
//! panic, errors name a line, at most one (last) torn line, and every record read back
//! round-trips through the writer. The records then go through what `report` does with
//! them (metrics, goodput, the summary, the console table and the HTML report), which must
//! neither panic nor allocate without bound on any record the reader accepts: records are
//! also what a hostile server's responses turn into.

#![no_main]

use infermeter::metrics::health::RuntimeSamples;
use infermeter::metrics::slo::Slo;
use infermeter::record::{read_jsonl, write_jsonl};
use infermeter::report;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match read_jsonl(data) {
        Ok((records, torn)) => {
            assert!(torn <= 1);
            let mut buf = Vec::new();
            for r in &records {
                write_jsonl(&mut buf, r).unwrap();
            }
            let (again, torn2) = read_jsonl(&buf[..]).unwrap();
            assert_eq!(again, records);
            assert_eq!(torn2, 0);

            let slo = Slo {
                ttft_ms: Some(100.0),
                itl_p99_ms: Some(20.0),
                ..Slo::default()
            };
            let refs: Vec<&infermeter::record::RequestRecord> = records.iter().collect();
            let _ = infermeter::metrics::slo::goodput(&refs, |_| true, &slo, None);
            let summary = report::build_summary(Default::default(), &records, &RuntimeSamples::default(), torn > 0);
            let _ = report::render_console(&summary);
            let _ = report::html::render_report(Some((&summary, &records)), None);
        }
        Err(e) => assert!(e.starts_with("line ") && !e.contains('\n'), "{e}"),
    }
});
