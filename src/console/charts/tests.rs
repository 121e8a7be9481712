use std::collections::BTreeMap;

use medrelay_channels::ChannelKind;
use quick_xml::Reader;
use quick_xml::escape::{resolve_predefined_entity, unescape};
use quick_xml::events::{BytesStart, Event};

use super::bars::SERIES_COLOURS;
use super::heatmap::{SHADES, ink_on, level};
use super::latency::{MEDIAN, P90_FILL};
use super::*;
use crate::policy::stats::{
    AttemptCounts, Durations, InboundCounts, LatencyCount, Measure, Stats, StatsRows, summarize,
};

/// One element of a parsed chart: its name, attributes and the text directly inside it.
#[derive(Debug)]
struct Element {
    name: String,
    /// The index of the element it is in.
    parent: Option<usize>,
    attrs: BTreeMap<String, String>,
    text: String,
}

impl Element {
    fn attr(&self, name: &str) -> &str {
        self.attrs.get(name).map_or("", String::as_str)
    }

    fn num(&self, name: &str) -> f64 {
        let value = self.attr(name);
        value
            .parse()
            .unwrap_or_else(|_| panic!("{} {name}={value:?} is not a number", self.name))
    }
}

/// Parses `svg` as XML, failing the test unless it is well-formed with one root; the elements
/// in document order.
fn parse(svg: &str) -> Vec<Element> {
    let mut reader = Reader::from_str(svg);
    reader.config_mut().check_end_names = true;
    let mut elements = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut roots = 0;
    let start = |e: &BytesStart, elements: &mut Vec<Element>, parent: Option<usize>| {
        let attrs = e
            .attributes()
            .map(|a| {
                let a = a.expect("a well-formed attribute");
                let raw = String::from_utf8(a.value.to_vec()).expect("UTF-8");
                let key = String::from_utf8(a.key.as_ref().to_vec()).expect("UTF-8");
                (key, unescape(&raw).expect("known entities").into_owned())
            })
            .collect();
        elements.push(Element {
            name: String::from_utf8(e.name().as_ref().to_vec()).expect("UTF-8"),
            parent,
            attrs,
            text: String::new(),
        });
    };
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                roots += usize::from(open.is_empty());
                start(&e, &mut elements, open.last().copied());
                open.push(elements.len() - 1);
            }
            Event::Empty(e) => {
                roots += usize::from(open.is_empty());
                start(&e, &mut elements, open.last().copied());
            }
            Event::End(_) => {
                open.pop();
            }
            Event::Text(t) => {
                // Without the bidi isolation marks every text carries (see `Svg::text`).
                let text = t
                    .decode()
                    .expect("UTF-8")
                    .replace(['\u{2068}', '\u{2069}'], "");
                let inside = open.last().expect("text inside the root");
                elements[*inside].text.push_str(&text);
            }
            Event::GeneralRef(r) => {
                let name = r.decode().expect("UTF-8").into_owned();
                let resolved = match r.resolve_char_ref().expect("a valid reference") {
                    Some(c) => c.to_string(),
                    None => resolve_predefined_entity(&name)
                        .expect("a predefined entity")
                        .to_owned(),
                };
                let inside = open.last().expect("a reference inside the root");
                elements[*inside].text.push_str(&resolved);
            }
            Event::Eof => break,
            other => panic!("unexpected XML in a chart: {other:?}"),
        }
    }
    assert!(open.is_empty(), "unclosed elements at the end");
    assert_eq!(roots, 1, "one root element");
    elements
}

fn of_class<'a>(elements: &'a [Element], class: &str) -> Vec<&'a Element> {
    elements
        .iter()
        .filter(|e| e.attr("class").split(' ').any(|c| c == class))
        .collect()
}

/// The tooltip of `element`: the text of its `<title>` child.
fn tooltip<'a>(elements: &'a [Element], element: &Element) -> &'a str {
    let index = elements
        .iter()
        .position(|e| std::ptr::eq(e, element))
        .expect("an element of the chart");
    elements
        .iter()
        .find(|e| e.name == "title" && e.parent == Some(index))
        .map_or("", |t| t.text.as_str())
}

fn caption(id: &str) -> Caption {
    Caption {
        id: id.to_owned(),
        title: format!("{id} title"),
        desc: format!("{id} description"),
        no_data: "Nothing in this period".to_owned(),
    }
}

fn bar_words() -> BarWords {
    BarWords {
        caption: caption("bars"),
        series: ["Sent", "Delivered", "Read", "Failed"].map(str::to_owned),
    }
}

fn heat_words() -> HeatWords {
    HeatWords {
        caption: caption("heat"),
        days: ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"].map(str::to_owned),
        legend: "Messages per hour".to_owned(),
    }
}

fn latency_words() -> LatencyWords {
    LatencyWords {
        caption: caption("latency"),
        to_delivered: "to delivered".to_owned(),
        to_read: "to read".to_owned(),
        response: "Response to patients".to_owned(),
        median: "median".to_owned(),
        p90: "90%".to_owned(),
    }
}

fn channel_name(kind: ChannelKind) -> String {
    kind.as_str().to_uppercase()
}

fn seconds(s: i64) -> String {
    format!("{s} s")
}

fn attempts(channel: ChannelKind, [sent, delivered, read, failed]: [i64; 4]) -> AttemptCounts {
    AttemptCounts {
        channel,
        topic: "reminder".to_owned(),
        sent,
        delivered,
        read,
        failed,
    }
}

fn latency(channel: ChannelKind, measure: Measure, seconds: i64, count: i64) -> LatencyCount {
    LatencyCount {
        channel,
        topic: "reminder".to_owned(),
        measure,
        bucket_ms: seconds * 1000,
        count,
    }
}

fn stats(rows: StatsRows) -> Stats {
    summarize(&rows)
}

fn all_charts(stats: &Stats) -> [String; 3] {
    [
        channel_bars(stats, &bar_words(), &channel_name),
        peak_hours_heatmap(stats, &heat_words()),
        latency_bars(stats, &latency_words(), &channel_name, &seconds),
    ]
}

fn busy_stats() -> Stats {
    let mut response = Durations::default();
    response.add(120_000, 3);
    response.add(600_000, 1);
    stats(StatsRows {
        attempts: vec![
            attempts(ChannelKind::Whatsapp, [100, 80, 40, 20]),
            attempts(ChannelKind::Sms, [50, 45, 0, 5]),
        ],
        latencies: vec![
            latency(ChannelKind::Whatsapp, Measure::ToDelivered, 2, 8),
            latency(ChannelKind::Whatsapp, Measure::ToDelivered, 20, 2),
            latency(ChannelKind::Whatsapp, Measure::ToRead, 40, 10),
        ],
        inbound: InboundCounts {
            hour_of_week: vec![(0, 9, 12), (4, 14, 3), (6, 23, 1)],
            response,
            ..InboundCounts::default()
        },
        ..StatsRows::default()
    })
}

#[test]
fn every_chart_is_an_svg_image_named_by_its_title_and_description() {
    for stats in [busy_stats(), stats(StatsRows::default())] {
        for chart in all_charts(&stats) {
            let elements = parse(&chart);
            let root = &elements[0];
            assert_eq!(root.name, "svg");
            assert_eq!(root.attr("role"), "img");
            assert_eq!(root.attr("direction"), "ltr");
            let [title, desc] = [&elements[1], &elements[2]];
            assert_eq!((title.name.as_str(), desc.name.as_str()), ("title", "desc"));
            let labelled_by = format!("{} {}", title.attr("id"), desc.attr("id"));
            assert_eq!(root.attr("aria-labelledby"), labelled_by);
            assert!(title.text.ends_with(" title"), "{}", title.text);
        }
    }
}

#[test]
fn bars_are_as_tall_as_their_figures_with_each_figure_written_out() {
    let chart = channel_bars(&busy_stats(), &bar_words(), &channel_name);
    let elements = parse(&chart);
    let bars = of_class(&elements, "bar");
    assert_eq!(bars.len(), 8, "4 figures for each of 2 channels");
    let heights: Vec<f64> = bars.iter().map(|b| b.num("height")).collect();
    // Whatsapp 100 / 80 / 40 / 20, then SMS 50 / 45 / 0 / 5, against the tallest.
    let expected = [100.0, 80.0, 40.0, 20.0, 50.0, 45.0, 0.0, 5.0];
    for (height, value) in heights.iter().zip(expected) {
        let ratio = height / heights[0];
        assert!((ratio - value / 100.0).abs() < 0.01, "{heights:?}");
    }
    let bottoms: Vec<f64> = bars.iter().map(|b| b.num("y") + b.num("height")).collect();
    assert!(
        bottoms.iter().all(|b| (b - bottoms[0]).abs() < 0.11),
        "one baseline"
    );
    let values: Vec<&str> = of_class(&elements, "value")
        .iter()
        .map(|v| v.text.as_str())
        .collect();
    assert_eq!(values, ["100", "80", "40", "20", "50", "45", "0", "5"]);
    let labels: Vec<&str> = of_class(&elements, "label")
        .iter()
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(labels, ["WHATSAPP", "SMS"]);
    let legend: Vec<&str> = of_class(&elements, "legend")
        .iter()
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(legend, ["Sent", "Delivered", "Read", "Failed"]);
}

#[test]
fn a_period_without_figures_gives_a_no_data_chart_and_never_nan() {
    for chart in all_charts(&stats(StatsRows::default())) {
        let elements = parse(&chart);
        let no_data = of_class(&elements, "no-data");
        assert_eq!(no_data.len(), 1, "{chart}");
        assert_eq!(no_data[0].text, "Nothing in this period");
        assert!(!chart.contains("NaN") && !chart.contains("inf"), "{chart}");
    }
    // Channels that only ever had zeros are no figures either.
    let zeros = stats(StatsRows {
        attempts: vec![attempts(ChannelKind::Email, [0, 0, 0, 0])],
        ..StatsRows::default()
    });
    let chart = channel_bars(&zeros, &bar_words(), &channel_name);
    assert_eq!(of_class(&parse(&chart), "no-data").len(), 1);
}

#[test]
fn heat_map_rows_run_sunday_first_with_the_weekend_apart() {
    let chart = peak_hours_heatmap(&busy_stats(), &heat_words());
    let elements = parse(&chart);
    let days: Vec<&str> = of_class(&elements, "day")
        .iter()
        .map(|d| d.text.as_str())
        .collect();
    assert_eq!(days, ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]);
    let cells = of_class(&elements, "cell");
    assert_eq!(cells.len(), 7 * 24);
    let row_top = |day: usize| {
        let cell = cells.iter().find(|c| c.attr("data-day") == day.to_string());
        cell.expect("a row for every day").num("y")
    };
    let tops: Vec<f64> = (0..7).map(row_top).collect();
    assert!(
        tops.windows(2).all(|w| w[0] < w[1]),
        "Sunday on top: {tops:?}"
    );
    let step = tops[1] - tops[0];
    assert!(tops[5] - tops[4] > step, "a gap after Thursday: {tops:?}");
    assert_eq!(
        cells[0].attr("data-day"),
        "0",
        "document order Sunday first too"
    );
    assert_eq!(cells[0].attr("data-hour"), "0");
}

#[test]
fn heat_map_cells_show_their_count_darkest_where_busiest() {
    let chart = peak_hours_heatmap(&busy_stats(), &heat_words());
    let elements = parse(&chart);
    let cells = of_class(&elements, "cell");
    let cell = |day: &str, hour: &str| {
        cells
            .iter()
            .find(|c| c.attr("data-day") == day && c.attr("data-hour") == hour)
            .expect("every hour has a cell")
    };
    assert_eq!(
        cell("0", "9").attr("fill"),
        SHADES[4],
        "Sunday 09:00, the busiest"
    );
    assert_eq!(tooltip(&elements, cell("0", "9")), "Sun 09:00 · 12");
    assert_eq!(
        cell("4", "14").attr("fill"),
        SHADES[1],
        "3 of 12: the first quarter"
    );
    assert_eq!(cell("1", "0").attr("fill"), SHADES[0], "none");
    let counts: Vec<&str> = of_class(&elements, "count")
        .iter()
        .map(|c| c.text.as_str())
        .collect();
    assert_eq!(
        counts,
        ["12", "3", "1"],
        "written in week order, empty hours blank"
    );
    let legend: Vec<&str> = of_class(&elements, "legend")
        .iter()
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(
        legend,
        ["Messages per hour", "0", "1–3", "4–6", "7–9", "10–12"]
    );
}

#[test]
fn heat_map_levels_split_the_busiest_hour_in_quarters() {
    assert_eq!(level(0, 12), 0);
    assert_eq!(level(1, 12), 1);
    assert_eq!(level(3, 12), 1);
    assert_eq!(level(4, 12), 2);
    assert_eq!(level(12, 12), 4);
    assert_eq!(level(1, 1), 4);
    assert_eq!(level(5, 0), 0);
}

#[test]
fn latency_bars_run_to_the_90th_percentile_with_the_median_inside() {
    let chart = latency_bars(&busy_stats(), &latency_words(), &channel_name, &seconds);
    let elements = parse(&chart);
    let labels: Vec<&str> = of_class(&elements, "label")
        .iter()
        .map(|l| l.text.as_str())
        .collect();
    // SMS has no latencies and is left out; the clinic's answers come last.
    let expected = [
        "WHATSAPP · to delivered",
        "WHATSAPP · to read",
        "Response to patients",
    ];
    assert_eq!(labels, expected);
    let p90: Vec<f64> = of_class(&elements, "p90")
        .iter()
        .map(|r| r.num("width"))
        .collect();
    let median: Vec<f64> = of_class(&elements, "median")
        .iter()
        .map(|r| r.num("width"))
        .collect();
    // Delivered: median 2 s, p90 20 s; read: 40 s both; response: 120 s and 600 s.
    let longest = p90[2];
    for (width, seconds) in p90.iter().zip([20.0, 40.0, 600.0]) {
        assert!((width / longest - seconds / 600.0).abs() < 0.01, "{p90:?}");
    }
    for (width, seconds) in median.iter().zip([2.0, 40.0, 120.0]) {
        assert!(
            (width / longest - seconds / 600.0).abs() < 0.01,
            "{median:?}"
        );
    }
    let values: Vec<&str> = of_class(&elements, "value")
        .iter()
        .map(|v| v.text.as_str())
        .collect();
    assert_eq!(values, ["2 s / 20 s", "40 s / 40 s", "120 s / 600 s"]);
}

#[test]
fn sub_second_latencies_draw_empty_bars_not_nan() {
    let only_fast = stats(StatsRows {
        attempts: vec![attempts(ChannelKind::Sms, [1, 1, 0, 0])],
        latencies: vec![latency(ChannelKind::Sms, Measure::ToDelivered, 0, 4)],
        ..StatsRows::default()
    });
    let chart = latency_bars(&only_fast, &latency_words(), &channel_name, &seconds);
    let elements = parse(&chart);
    assert_eq!(of_class(&elements, "p90")[0].num("width"), 0.0);
    assert!(!chart.contains("NaN"));
}

#[test]
fn colours_meet_wcag_aa_against_white_and_under_their_figures() {
    for colour in SERIES_COLOURS.iter().chain([&MEDIAN]) {
        assert!(contrast(colour, WHITE) >= 4.5, "{colour} on white");
    }
    for shade in SHADES {
        let ink = ink_on(shade);
        assert!(contrast(shade, ink) >= 4.5, "{ink} on {shade}");
    }
    // The light 90th-percentile bar is told apart by its outline.
    assert!(contrast(MEDIAN, P90_FILL) >= 3.0);
    assert!(contrast(INK, WHITE) >= 4.5 && contrast(AXIS, WHITE) >= 4.5);
    assert!((contrast("#000000", "#ffffff") - 21.0).abs() < 0.01);
}

#[test]
fn translated_words_are_escaped_and_keep_their_script() {
    let mut words = heat_words();
    words.caption.title = "הודעות <לפי> שעה & יום \"שבוע\"".to_owned();
    words.days[0] = "ראשון".to_owned();
    let chart = peak_hours_heatmap(&busy_stats(), &words);
    let elements = parse(&chart);
    assert_eq!(elements[1].text, "הודעות <לפי> שעה & יום \"שבוע\"");
    assert_eq!(of_class(&elements, "day")[0].text, "ראשון");
}

#[test]
fn axis_scales_step_in_ones_twos_and_fives() {
    assert_eq!(scale(0), (1, 1));
    assert_eq!(scale(3), (1, 3));
    assert_eq!(scale(7), (2, 8));
    assert_eq!(scale(100), (50, 100));
    assert_eq!(scale(101), (50, 150));
    assert_eq!(scale(1234), (500, 1500));
}
