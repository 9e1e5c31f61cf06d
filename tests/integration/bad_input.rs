//! Bad input gets one clear line on stderr and a non-zero exit, never a panic.

use crate::util::bench;
use std::io::{Read, Write};

fn one_line_error(run: &crate::util::Run, code: i32, needle: &str) {
    let err = run.stderr();
    assert_eq!(run.out.status.code(), Some(code), "stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(err.contains(needle), "'{needle}' not in: {err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn bad_flag_values_exit_2() {
    one_line_error(&bench(&["--input-tokens", "gauss:1,2"]), 2, "gauss:1,2");
    one_line_error(&bench(&["--rate=-3"]), 2, "--rate");
    one_line_error(&bench(&["--rate", "5", "--concurrency", "3"]), 2, "not both");
    one_line_error(&bench(&["--duration", "soon"]), 2, "soon");
    one_line_error(&bench(&["--url", "ftp://x"]), 2, "ftp://x");
    one_line_error(&bench(&["--extra-body", "[1]"]), 2, "--extra-body");
    one_line_error(
        &bench(&["--tokenizer", "/no/such/tokenizer.json"]),
        2,
        "/no/such/tokenizer.json",
    );
    one_line_error(&bench(&["--header", "no colon"]), 2, "--header");
    one_line_error(&bench(&["--requests", "0"]), 2, "--requests");
}

#[test]
fn unreachable_url_is_one_line() {
    // Bind then drop a listener: the port is (almost certainly) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    one_line_error(&bench(&["--url", &url, "--requests", "2"]), 1, "refused");
}

#[test]
fn wrong_model_is_one_line() {
    one_line_error(
        &bench(&["--model", "no-such-model", "--requests", "2"]),
        1,
        "no-such-model",
    );
}

/// A server that answers every request with an HTML page.
fn html_server() -> (u16, std::thread::JoinHandle<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        for _ in 0..4 {
            let Ok((mut s, _)) = l.accept() else { return };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = "<html><body><h1>Welcome to nginx!</h1></body></html>";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, h)
}

#[test]
fn html_server_is_one_line() {
    let (port, _h) = html_server();
    let url = format!("http://127.0.0.1:{port}");
    one_line_error(&bench(&["--url", &url, "--requests", "2"]), 1, "text/html");
}
