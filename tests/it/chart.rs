//! `vitals chart`: PNG and SVG files that are valid and show something, a terminal chart,
//! and a step chosen from the drawing width.

use quick_xml::events::Event;

use crate::support::{TestResult, scratch, vitals};
use crate::week::{incident, week};

fn at(t: i64) -> String {
    vitals::timespec::format_time(vitals::timespec::from_unix_seconds(t as f64))
}

/// The outage, with an hour on each side.
fn outage_range(w: &crate::week::Week) -> (String, String) {
    let i = incident(&w.truth, "MES outage");
    (
        at(i["start"].as_i64().unwrap() - 3600),
        at(i["end"].as_i64().unwrap() + 3600),
    )
}

/// Points drawn, from the note `vitals chart` prints.
fn points(stderr: &str) -> usize {
    let s = stderr
        .split(" series, ")
        .nth(1)
        .unwrap_or_else(|| panic!("{stderr}"));
    s.split_whitespace().next().unwrap().parse().unwrap()
}

pub fn png_and_svg_charts_are_valid_and_not_empty() -> TestResult {
    let w = week()?;
    let (from, to) = outage_range(w);
    let dir = scratch();
    let png = dir.path().join("outage.png");
    let r = vitals(&[
        "chart",
        "rabbitmq.queue_depth",
        "--param",
        "queue=shop.orders",
        "--from",
        &from,
        "--to",
        &to,
        "--out",
        png.to_str().unwrap(),
    ])
    .prometheus(&w.prom.url)
    .run();
    r.expect_code(0);
    let img = image::open(&png).expect("a PNG that decodes").to_rgb8();
    assert_eq!(img.dimensions(), (1000, 480));
    let total = (img.width() * img.height()) as usize;
    let ink = img.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    assert!(ink * 50 > total, "only {ink} of {total} pixels drawn");
    // The series' blue and the SLO's red are both there, and the incident shading.
    let has = |rgb: [u8; 3]| img.pixels().filter(|p| p.0 == rgb).count();
    assert!(has([0, 114, 178]) > 200, "series line");
    assert!(has([214, 39, 40]) > 200, "SLO limit line");
    assert!(
        img.pixels()
            .any(|p| p.0[0] > 240 && p.0[1] < 235 && p.0[1] > 200),
        "shaded incident"
    );

    let svg_path = dir.path().join("outage.svg");
    let r = vitals(&[
        "chart",
        "api.error_ratio",
        "--from",
        &from,
        "--to",
        &to,
        "--out",
        svg_path.to_str().unwrap(),
    ])
    .prometheus(&w.prom.url)
    .run();
    r.expect_code(0);
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    let (tags, texts) = svg_outline(&svg);
    assert_eq!(tags.first().map(String::as_str), Some("svg"));
    let lines: Vec<&String> = tags.iter().filter(|t| t.starts_with("polyline")).collect();
    assert!(
        lines.len() >= 3,
        "one polyline per series at least: {lines:?}"
    );
    let longest = tags
        .iter()
        .filter_map(|t| t.strip_prefix("polyline:"))
        .map(|n| n.parse::<usize>().unwrap())
        .max()
        .unwrap();
    assert!(longest > 100, "a series of {longest} points");
    for want in [
        "api.error_ratio — Share of requests answered with 5xx",
        "service=mes",
        "time (UTC)",
        "60 %",
    ] {
        assert!(
            texts.iter().any(|t| t.contains(want)),
            "no text {want:?} in {texts:?}"
        );
    }
    Ok(())
}

/// Element names in order (`polyline:N` with its point count) and every text, with entity
/// references (`&lt;`) resolved.
fn svg_outline(svg: &str) -> (Vec<String>, Vec<String>) {
    let mut reader = quick_xml::Reader::from_str(svg);
    let (mut tags, mut texts) = (Vec::new(), Vec::new());
    let mut in_text = false;
    let mut text = String::new();
    loop {
        match reader.read_event().expect("well-formed SVG") {
            Event::Start(e) | Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).to_string();
                in_text = name == "text";
                text.clear();
                if name == "polyline" {
                    let pts = e
                        .attributes()
                        .flatten()
                        .find(|a| a.key.as_ref() == b"points")
                        .map(|a| String::from_utf8_lossy(&a.value).split_whitespace().count())
                        .unwrap_or(0);
                    tags.push(format!("polyline:{pts}"));
                } else {
                    tags.push(name);
                }
            }
            Event::Text(t) if in_text => text.push_str(&String::from_utf8_lossy(t.as_ref())),
            Event::GeneralRef(r) if in_text => {
                let c = match &*r {
                    b"lt" => '<',
                    b"gt" => '>',
                    b"amp" => '&',
                    b"quot" => '"',
                    b"apos" => '\'',
                    _ => r.resolve_char_ref().ok().flatten().expect("a known entity"),
                };
                text.push(c);
            }
            Event::End(_) => {
                if in_text && !text.trim().is_empty() {
                    texts.push(text.trim().to_string());
                }
                in_text = false;
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    (tags, texts)
}

pub fn svg_structure_snapshot() -> TestResult {
    let w = week()?;
    let (from, to) = outage_range(w);
    let dir = scratch();
    let p = dir.path().join("depth.svg");
    vitals(&[
        "chart",
        "rabbitmq.queue_depth",
        "--param",
        "queue=shop.orders",
        "--from",
        &from,
        "--to",
        &to,
        "--out",
        p.to_str().unwrap(),
    ])
    .prometheus(&w.prom.url)
    .run()
    .expect_code(0);
    let (tags, texts) = svg_outline(&std::fs::read_to_string(&p).unwrap());
    // Runs of the same element collapse to one line with a count.
    let mut outline = String::new();
    let mut i = 0;
    while i < tags.len() {
        let mut n = 1;
        while i + n < tags.len() && tags[i + n] == tags[i] {
            n += 1;
        }
        outline.push_str(&if n > 1 {
            format!("{} x{n}\n", tags[i])
        } else {
            format!("{}\n", tags[i])
        });
        i += n;
    }
    outline.push_str("--- texts\n");
    for t in texts {
        outline.push_str(&t);
        outline.push('\n');
    }
    insta::assert_snapshot!("chart_svg_outline", outline);
    Ok(())
}

pub fn the_step_follows_the_drawing_width() -> TestResult {
    let w = week()?;
    let dir = scratch();
    let p = dir.path().join("c.svg");
    let run = |width: &str| {
        let r = vitals(&[
            "chart",
            "api.rps",
            "--param",
            "service=shop",
            "--from",
            "2026-11-16T00:00:00Z",
            "--to",
            "2026-11-23T00:00:00Z",
            "--width",
            width,
            "--out",
            p.to_str().unwrap(),
        ])
        .prometheus(&w.prom.url)
        .run();
        r.expect_code(0);
        points(&r.stderr)
    };
    let narrow = run("400");
    let wide = run("2400");
    assert!(
        narrow <= vitals::Chart::plot_width(400) as usize,
        "{narrow} points for a narrow chart"
    );
    assert!(wide <= vitals::Chart::plot_width(2400) as usize, "{wide}");
    assert!(
        wide > 3 * narrow,
        "a wider chart asks for more points: {narrow} vs {wide}"
    );
    Ok(())
}

pub fn terminal_chart_draws_braille_with_the_slo_limits() -> TestResult {
    let w = week()?;
    let (from, to) = outage_range(w);
    let r = vitals(&[
        "chart",
        "rabbitmq.queue_depth",
        "--param",
        "queue=shop.orders",
        "--from",
        &from,
        "--to",
        &to,
        "--time-zone",
        "Europe/Moscow",
    ])
    .prometheus(&w.prom.url)
    .run();
    r.expect_code(0);
    assert!(
        r.stdout
            .chars()
            .filter(|c| ('\u{2801}'..='\u{28ff}').contains(c))
            .count()
            > 50,
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("SLO shop-orders-queue-depth <= 15"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .lines()
            .any(|l| l.trim_start().starts_with("incidents") && l.contains('▀')),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("(Europe/Moscow)"), "{}", r.stdout);
    Ok(())
}

pub fn chart_refuses_unknown_file_types_and_sizes() -> TestResult {
    let r = vitals(&["chart", "api.rps", "--out", "chart.jpg"])
        .prometheus("http://127.0.0.1:9")
        .run();
    r.expect_code(2);
    assert!(
        r.stderr.contains("must end in .png or .svg"),
        "{}",
        r.stderr
    );
    let r = vitals(&["chart", "api.rps", "--out", "c.png", "--width", "10"])
        .prometheus("http://127.0.0.1:9")
        .run();
    r.expect_code(2);
    let r = vitals(&["chart", "api.rps", "--time-zone", "Mars/Olympus"])
        .prometheus("http://127.0.0.1:9")
        .run();
    r.expect_code(2);
    assert!(r.stderr.contains("unknown time zone"), "{}", r.stderr);
    Ok(())
}
