//! What the command line prints for scripts and shells: every `--json` output parses as
//! JSON, also when there is nothing to list, and the completion scripts and the man page
//! are generated from the parser.

mod support;

use support::process::{holdpoint, output};

/// Runs `holdpoint ARGS` on a fresh embedded store in `data` and parses stdout as JSON.
fn json_of(data: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let mut command = holdpoint(args);
    command.arg("--data-dir").arg(data);
    let (ok, stdout, stderr) = output(&mut command);
    assert!(ok, "{args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: `{stdout}`"))
}

#[test]
fn every_json_output_is_json_even_when_empty() {
    let data = tempfile::tempdir().unwrap();
    for args in [
        &["events", "list", "--json"][..],
        &["waits", "--json"],
        &["waits", "--state", "all", "--json"],
    ] {
        assert_eq!(
            json_of(data.path(), args),
            serde_json::json!([]),
            "{args:?}"
        );
    }
    let mut add = holdpoint(&["accounts", "add", "ops", "--password", "ops-pw"]);
    let (ok, _, stderr) = output(add.arg("--data-dir").arg(data.path()));
    assert!(ok, "{stderr}");
    let accounts = json_of(data.path(), &["accounts", "list", "--json"]);
    assert_eq!(accounts[0]["name"], "ops", "{accounts}");
    let report = json_of(
        data.path(),
        &[
            "instances",
            "migrate",
            "--workflow",
            "order-fulfilment",
            "--to",
            "current",
            "--dry-run",
            "--json",
        ],
    );
    assert!(report.is_object(), "{report}");
}

#[test]
fn completions_and_the_man_page_come_from_the_parser() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let (ok, stdout, stderr) = output(&mut holdpoint(&["completions", shell]));
        assert!(ok, "{shell}: {stderr}");
        assert!(
            stdout.contains("holdpoint") && stdout.contains("send-event"),
            "{shell}: {stdout}"
        );
    }
    let (ok, _, stderr) = output(&mut holdpoint(&["completions", "tcsh"]));
    assert!(!ok && stderr.contains("tcsh"), "{stderr}");
    let (ok, stdout, stderr) = output(&mut holdpoint(&["man"]));
    assert!(ok, "{stderr}");
    assert!(
        stdout.starts_with(".ie") || stdout.contains(".TH holdpoint"),
        "{stdout}"
    );
    assert!(stdout.contains("completions"), "subcommands are listed");
}
