//! `report.html` opens in a real browser: headless Chromium (Debian's `chromium`, installed by
//! `cargo xtask test`) loads the file with no network, draws every chart without a console message, and
//! takes a screenshot next to the report for a human to look at.

use std::path::{Path, PathBuf};
use std::process::Command;

use loadgate_tests::Sandbox;

/// Chromium under one of its usual names; `cargo xtask test` installs Debian's package when none
/// is there.
fn chromium() -> PathBuf {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(name))
                    .find(|candidate| candidate.is_file())
            })
        })
        .expect("no Chromium on PATH: `cargo xtask test` installs Debian's `chromium` package")
}

/// Runs headless Chromium on `page` with `args`; returns (stdout, stderr).
pub(crate) fn headless(page: &Path, args: &[&str]) -> (String, String) {
    let output = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg("--virtual-time-budget=3000")
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(output.status.success(), "chromium failed: {output:?}");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Opens `page` in headless Chromium and asserts that every script ran without a console
/// message; answers each chart's title and the points its first dataset drew, in page order, and
/// the rendered DOM.
pub(crate) fn charts_in_browser(page: &Path) -> (Vec<(String, usize)>, String) {
    let (dom, log) = headless(page, &["--dump-dom"]);
    let body = dom
        .find("<body")
        .map(|at| &dom[at..at + dom[at..].find('>').unwrap()])
        .unwrap_or_else(|| panic!("no <body> in the rendered page:\n{dom}"));
    assert!(!body.contains("data-errors"), "a script failed: {body}");
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(
        console.is_empty(),
        "console messages:\n{}",
        console.join("\n")
    );
    let attribute = |tag: &str, name: &str| -> String {
        let from = tag
            .find(&format!("{name}=\""))
            .unwrap_or_else(|| panic!("no {name}: {tag}"));
        let value = &tag[from + name.len() + 2..];
        value[..value.find('"').unwrap()].to_owned()
    };
    let charts: Vec<(String, usize)> = dom
        .split("<canvas")
        .skip(1)
        .map(|rest| {
            let tag = &rest[..rest.find('>').unwrap()];
            let points = attribute(tag, "data-points").parse().unwrap();
            (attribute(tag, "aria-label"), points)
        })
        .collect();
    assert!(
        body.contains(&format!("data-charts=\"{}\"", charts.len())),
        "{body}"
    );
    (charts, dom)
}

/// The points of the one chart whose title starts with `title`.
#[track_caller]
pub(crate) fn points_of(charts: &[(String, usize)], title: &str) -> usize {
    let found: Vec<usize> = charts
        .iter()
        .filter(|(label, _)| label.starts_with(title))
        .map(|(_, points)| *points)
        .collect();
    assert_eq!(found.len(), 1, "one `{title}` chart in {charts:?}");
    found[0]
}

/// `a<b>&"c' ]]> |x|` and a backtick, as a TOML basic string's body.
const TOML_NAME: &str = r#"a<b>&\"c' ]]> |x| `"#;
const NAME: &str = r#"a<b>&"c' ]]> |x| `"#;

#[test]
fn the_html_report_renders_every_chart_in_a_browser_without_errors() {
    let sandbox = Sandbox::new();
    // A check that no timing can fail (the noise floor is far above any p90 here): this test is
    // about the page, and a busy machine once took the p90 from 2.0 ms to 3.3 ms (+60 %).
    // A request whose name holds every character a format could take for markup, with a check of
    // its own so each report names it.
    let spec = sandbox.quick_spec(
        "html",
        &[],
        &format!(
            "[[request]]\nname = \"{TOML_NAME}\"\npath = \"/\"\n\n\
             [gate]\np90 = {{ regression = \"50%\", noise_floor = \"10s\" }}\n\n\
             [gate.request.\"{TOML_NAME}\"]\np90 = {{ max = \"10s\" }}\n"
        ),
    );
    let spec = spec.to_str().unwrap();
    // A baseline first, so the distribution chart has both curves.
    sandbox.run(&["--update-baselines", spec]).expect_code(0);
    let run = sandbox.run(&[spec]);
    run.expect_code(0);
    let page = sandbox.out().join("report.html");

    // Requests and errors, latency over time, the distribution against the baseline, and the
    // service's memory and CPU, each with its points drawn.
    let (charts, dom) = charts_in_browser(&page);
    assert_eq!(charts.len(), 4, "{charts:?}");
    assert!(charts.iter().all(|(_, points)| *points > 0), "{charts:?}");
    // The name as written, in every format: the page's text (the DOM escapes it as HTML does),
    // the console, JUnit (XML-escaped), and Markdown escaped so GitHub renders it literally.
    let check = format!("{NAME} p90 max");
    let in_html = check
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    assert!(dom.contains(&format!("<td>{in_html}</td>")), "{dom}");
    assert!(run.stdout.contains(&check), "{}", run.stdout);
    let junit = sandbox.read_out("junit.xml");
    assert!(
        junit.contains("a&lt;b&gt;&amp;&quot;c&apos; ]]&gt; |x| `"),
        "{junit}"
    );
    let markdown = sandbox.read_out("summary.md");
    assert!(
        markdown.contains(r#"| a\<b\>\&"c' \]\]\> \|x\| \` p90 max |"#),
        "{markdown}"
    );

    let screenshot = sandbox.out().join("report.png");
    headless(
        &page,
        &[
            &format!("--screenshot={}", screenshot.display()),
            "--window-size=1200,1400",
        ],
    );
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
}
