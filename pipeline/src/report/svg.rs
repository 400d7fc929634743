//! SVG plots for the report: predicted-vs-measured scatter, grouped bars and stacked bars.
//!
//! Drawn with `plotters` (SVG backend only, `default-features = false`). Without its `ttf`
//! feature plotters needs no system fonts: text becomes `<text>` elements that the browser
//! lays out, and plotters only estimates label sizes. Tick values are chosen here (1-2-5
//! steps, decades on log axes) and handed to plotters as key points, so the axes are the same
//! whatever plotters' own heuristics do. Category labels are drawn here, rotated, because
//! they may be long.

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::escape;

/// A predicted-vs-measured scatter plot; the y = x line is always drawn across the data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scatter {
    /// The title above the plot.
    pub title: String,
    /// The horizontal axis' description.
    pub x_label: String,
    /// The vertical axis' description.
    pub y_label: String,
    /// Base-10 logarithmic axes; points with a non-positive coordinate are then left out.
    pub log: bool,
    /// The point sets, each drawn in its own colour and named in the legend.
    pub series: Vec<Series>,
}

/// One named set of `(x, y)` points of a [`Scatter`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// The name shown in the legend.
    pub name: String,
    /// The points; a point with a NaN or infinite coordinate is left out.
    pub points: Vec<(f64, f64)>,
}

/// Grouped bars: for each category, one bar per group, rising or falling from a zero line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bars {
    /// The title above the plot.
    pub title: String,
    /// The vertical axis' description.
    pub y_label: String,
    /// The category names, left to right.
    pub categories: Vec<String>,
    /// The groups, each drawn in its own colour and named in the legend.
    pub groups: Vec<BarGroup>,
}

/// One named row of values: `values[i]` belongs to `categories[i]`; NaN (or infinity, or a
/// missing entry) draws nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BarGroup {
    /// The name shown in the legend.
    pub name: String,
    /// One value per category.
    pub values: Vec<f64>,
}

/// Stacked bars: for each category one bar, made of one segment per part.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stacked {
    /// The title above the plot.
    pub title: String,
    /// The vertical axis' description.
    pub y_label: String,
    /// The category names, left to right.
    pub categories: Vec<String>,
    /// The parts, stacked bottom to top in this order (negative values stack downwards).
    pub parts: Vec<BarGroup>,
}

/// The plots' size in pixels (and their `viewBox`).
const SIZE: (u32, u32) = (720, 480);
const FONT: &str = "sans-serif";
/// Colours for series, groups and parts, in order (Tableau 10 without its grey).
const PALETTE: [RGBColor; 9] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];
/// The y = x line's colour, used for nothing else.
const DIAGONAL: RGBColor = RGBColor(0x55, 0x55, 0x55);
const GRID: RGBColor = RGBColor(0xdd, 0xdd, 0xdd);
/// Category labels longer than this many characters are cut, with an ellipsis.
const MAX_LABEL_CHARS: usize = 32;
/// About how many ticks an axis gets.
const TICKS: usize = 6;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Draws `plot` as a complete standalone SVG document.
pub fn scatter(plot: &Scatter) -> String {
    let mut non_finite = 0;
    let mut non_positive = 0;
    let mut kept: Vec<Vec<(f64, f64)>> = Vec::with_capacity(plot.series.len());
    for series in &plot.series {
        let mut points = Vec::with_capacity(series.points.len());
        for &(x, y) in &series.points {
            if !x.is_finite() || !y.is_finite() {
                non_finite += 1;
            } else if plot.log && (x <= 0.0 || y <= 0.0) {
                non_positive += 1;
            } else if plot.log {
                points.push((x.log10(), y.log10()));
            } else {
                points.push((x, y));
            }
        }
        kept.push(points);
    }
    let mut notes = Vec::new();
    if non_positive > 0 {
        notes.push(format!(
            "{non_positive} non-positive point(s) not shown on log axes"
        ));
    }
    if non_finite > 0 {
        notes.push(format!("{non_finite} NaN/infinite point(s) not shown"));
    }
    let note = notes.join("; ");

    let all = kept.iter().flatten();
    let lo = all
        .clone()
        .map(|&(x, y)| x.min(y))
        .fold(f64::INFINITY, f64::min);
    let hi = all
        .map(|&(x, y)| x.max(y))
        .fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        return no_data(&plot.title, &note);
    }
    // Both axes share one range, so that y = x is the diagonal.
    let axis = if plot.log {
        Axis::decades(lo, hi)
    } else {
        Axis::linear(lo, hi)
    };
    let (first, last) = (axis.lo(), axis.hi());

    render(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption(&plot.title, (FONT, 20))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(axis.clone(), axis.clone())?;
        chart
            .configure_mesh()
            .x_desc(plot.x_label.as_str())
            .y_desc(plot.y_label.as_str())
            .bold_line_style(GRID)
            .max_light_lines(0)
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 15))
            .draw()?;
        chart
            .draw_series(LineSeries::new([(first, first), (last, last)], DIAGONAL))?
            .label("y = x")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], DIAGONAL));
        for (index, (series, points)) in plot.series.iter().zip(&kept).enumerate() {
            let color = colour(index);
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|&point| Circle::new(point, 3, color.mix(0.8).filled())),
                )?
                .label(series.name.as_str())
                .legend(move |(x, y)| Circle::new((x + 8, y), 3, color.filled()));
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        draw_note(root, &note)
    })
}

/// Draws `plot` as a complete standalone SVG document.
pub fn bars(plot: &Bars) -> String {
    let slots = plot.groups.len().max(1) as f64;
    let mut rects = Vec::new();
    for (group, row) in plot.groups.iter().enumerate() {
        for (category, &value) in row.values.iter().enumerate() {
            if category < plot.categories.len() && value.is_finite() {
                let left = category as f64 + 0.1 + 0.8 * group as f64 / slots;
                rects.push(Bar {
                    series: group,
                    left,
                    right: left + 0.8 / slots,
                    from: 0.0,
                    to: value,
                });
            }
        }
    }
    let names: Vec<&str> = plot.groups.iter().map(|g| g.name.as_str()).collect();
    bar_chart(&plot.title, &plot.y_label, &plot.categories, &names, &rects)
}

/// Draws `plot` as a complete standalone SVG document.
pub fn stacked(plot: &Stacked) -> String {
    let mut rects = Vec::new();
    for category in 0..plot.categories.len() {
        let (mut up, mut down) = (0.0, 0.0);
        for (part, row) in plot.parts.iter().enumerate() {
            let value = row.values.get(category).copied().unwrap_or(f64::NAN);
            if !value.is_finite() || value == 0.0 {
                continue;
            }
            let base = if value > 0.0 { &mut up } else { &mut down };
            let left = category as f64 + 0.15;
            rects.push(Bar {
                series: part,
                left,
                right: left + 0.7,
                from: *base,
                to: *base + value,
            });
            *base += value;
        }
    }
    let names: Vec<&str> = plot.parts.iter().map(|g| g.name.as_str()).collect();
    bar_chart(&plot.title, &plot.y_label, &plot.categories, &names, &rects)
}

/// One rectangle of a bar chart, in data coordinates (category `i` spans `i..i + 1`).
struct Bar {
    series: usize,
    left: f64,
    right: f64,
    from: f64,
    to: f64,
}

/// Draws `rects` over `categories`, with a zero line and a legend entry per name.
fn bar_chart(
    title: &str,
    y_label: &str,
    categories: &[String],
    names: &[&str],
    rects: &[Bar],
) -> String {
    let lo = rects.iter().map(|r| r.from.min(r.to)).fold(0.0, f64::min);
    let hi = rects.iter().map(|r| r.from.max(r.to)).fold(0.0, f64::max);
    if rects.is_empty() || !lo.is_finite() || !hi.is_finite() {
        return no_data(title, "");
    }
    let y_axis = Axis::linear(lo, hi);
    let bottom = y_axis.lo();
    let labels: Vec<String> = categories.iter().map(|c| shorten(c)).collect();
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let label_area = (16 + longest * 7).clamp(24, 200) as u32;
    let width = categories.len() as f64;
    // Empty room right of the last bar for the legend, so that it never hides a bar: about
    // a third of the plot (the legend is about 150 px of the 640 px plot area).
    let legend_room = (width * 0.4).max(0.8);

    render(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 20))
            .margin(16)
            .x_label_area_size(label_area)
            .y_label_area_size(64)
            .build_cartesian_2d(Axis::categories(width + legend_room), y_axis)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc(y_label)
            .bold_line_style(GRID)
            .max_light_lines(0)
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 15))
            .draw()?;
        for (series, name) in names.iter().enumerate() {
            let color = colour(series);
            let shapes = rects.iter().filter(|r| r.series == series).map(|r| {
                Rectangle::new(
                    [(r.left, r.from.max(r.to)), (r.right, r.from.min(r.to))],
                    color.filled(),
                )
            });
            chart
                .draw_series(shapes)?
                .label(*name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        chart.draw_series(LineSeries::new([(0.0, 0.0), (width, 0.0)], BLACK))?;
        let style = TextStyle::from((FONT, 13).into_font())
            .transform(FontTransform::Rotate270)
            .pos(Pos::new(HPos::Right, VPos::Center));
        for (index, text) in labels.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(index as f64 + 0.5, bottom));
            root.draw(&Text::new(text.as_str(), (x, y + 8), &style))?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

/// An axis with ticks chosen here; it runs from the first tick to the last.
#[derive(Debug, Clone)]
struct Axis {
    ticks: Vec<f64>,
    labels: Labels,
}

/// How an [`Axis`] writes its tick labels.
#[derive(Debug, Clone, Copy)]
enum Labels {
    /// The value with this many decimal places.
    Decimals(usize),
    /// The value is a base-10 exponent: write the power of ten.
    Decades,
    /// No ticks and no labels (the category axis of bar charts).
    Hidden,
}

impl Axis {
    /// 1-2-5 ticks covering `lo..=hi`.
    fn linear(lo: f64, hi: f64) -> Axis {
        let ticks = nice_ticks(lo, hi, TICKS);
        let labels = Labels::Decimals(decimals(ticks[1] - ticks[0]));
        Axis { ticks, labels }
    }

    /// Whole decades covering `10^lo ..= 10^hi`; values on this axis are exponents.
    fn decades(lo: f64, hi: f64) -> Axis {
        let ticks = decade_exponents(lo, hi);
        Axis {
            ticks,
            labels: Labels::Decades,
        }
    }

    /// `0..width` without ticks.
    fn categories(width: f64) -> Axis {
        Axis {
            ticks: vec![0.0, width],
            labels: Labels::Hidden,
        }
    }

    fn lo(&self) -> f64 {
        self.ticks[0]
    }

    fn hi(&self) -> f64 {
        self.ticks[self.ticks.len() - 1]
    }
}

impl Ranged for Axis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        RangedCoordf64::from(self.lo()..self.hi()).map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        match self.labels {
            Labels::Hidden => Vec::new(),
            _ if hint.weight().allow_light_points() => Vec::new(),
            _ => self.ticks.clone(),
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo()..self.hi()
    }
}

impl ValueFormatter<f64> for Axis {
    fn format_ext(&self, value: &f64) -> String {
        match self.labels {
            Labels::Decimals(places) => format!("{:.*}", places, value + 0.0),
            Labels::Decades => power_of_ten(value.round() as i32),
            Labels::Hidden => String::new(),
        }
    }
}

/// Ticks at 1, 2 or 5 times a power of ten, about `target` intervals, the first at or below
/// `lo` and the last at or above `hi` (so they also give the axis range). Always returns at
/// least two ticks; `lo == hi` is widened around the value.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() {
        (lo.min(hi), lo.max(hi))
    } else {
        (0.0, 1.0)
    };
    let (lo, hi) = if hi - lo > f64::EPSILON * hi.abs().max(lo.abs()) {
        (lo, hi)
    } else {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - pad, hi + pad)
    };
    let raw = (hi - lo) / target.max(1) as f64;
    let exponent = raw.log10().floor() as i32;
    let fraction = raw / 10f64.powi(exponent);
    let mantissa = match fraction {
        f if f <= 1.0 => 1.0,
        f if f <= 2.0 => 2.0,
        f if f <= 5.0 => 5.0,
        _ => 10.0,
    };
    // k * mantissa / 10^-e is exact for small k where k * mantissa * 10^e is not (0.1 * 3).
    let at = |k: f64| {
        if exponent < 0 {
            k * mantissa / 10f64.powi(-exponent) + 0.0
        } else {
            k * mantissa * 10f64.powi(exponent) + 0.0
        }
    };
    let step = at(1.0);
    // The tolerance keeps 0.3 / 0.1 = 2.9999999999999996 from adding a tick.
    let first = (lo / step + 1e-9).floor();
    let last = (hi / step - 1e-9).ceil();
    let count = (last - first) as usize + 1;
    (0..count).map(|k| at(first + k as f64)).collect()
}

/// The decimal places that show ticks `step` apart exactly.
fn decimals(step: f64) -> usize {
    (-(step.abs().log10() + 1e-9).floor()).clamp(0.0, 12.0) as usize
}

/// Integer exponents of the decades covering `10^lo ..= 10^hi`, at least two.
fn decade_exponents(lo: f64, hi: f64) -> Vec<f64> {
    let first = (lo + 1e-9).floor();
    let last = (hi - 1e-9).ceil().max(first + 1.0);
    let count = (last - first) as usize + 1;
    (0..count).map(|k| first + k as f64).collect()
}

/// `10^exponent` written plainly when short (0.001 … 100000), else as `1e{exponent}`.
fn power_of_ten(exponent: i32) -> String {
    match exponent {
        0..=5 => format!("{}", 10u64.pow(exponent as u32)),
        -3..=-1 => format!("{:.*}", (-exponent) as usize, 10f64.powi(exponent)),
        _ => format!("1e{exponent}"),
    }
}

fn colour(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// Cuts a label to [`MAX_LABEL_CHARS`] characters.
fn shorten(label: &str) -> String {
    if label.chars().count() <= MAX_LABEL_CHARS {
        label.to_owned()
    } else {
        let head: String = label.chars().take(MAX_LABEL_CHARS - 1).collect();
        format!("{head}…")
    }
}

fn draw_legend<'a, 'b: 'a>(
    chart: &mut ChartContext<'a, SVGBackend<'b>, Cartesian2d<Axis, Axis>>,
    position: SeriesLabelPosition,
) -> DrawResult {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(GRID)
        .label_font((FONT, 13))
        .draw()?;
    Ok(())
}

/// Writes `note` small in the bottom left corner, if there is one.
fn draw_note(root: &Area<'_>, note: &str) -> DrawResult {
    if !note.is_empty() {
        let style = TextStyle::from((FONT, 12).into_font())
            .color(&DIAGONAL)
            .pos(Pos::new(HPos::Left, VPos::Bottom));
        root.draw(&Text::new(note, (8, SIZE.1 as i32 - 4), &style))?;
    }
    Ok(())
}

/// A plot with nothing to show: the title, "no data" and `note`.
fn no_data(title: &str, note: &str) -> String {
    render(|root| {
        let centre = (SIZE.0 as i32 / 2, SIZE.1 as i32 / 2);
        let style = TextStyle::from((FONT, 20).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        root.draw(&Text::new(title, (centre.0, 16), &style))?;
        let style = style.pos(Pos::new(HPos::Center, VPos::Center));
        root.draw(&Text::new("no data", centre, &style))?;
        draw_note(root, note)
    })
}

/// Runs `draw` on a white 720×480 SVG canvas and returns the document.
fn render(draw: impl FnOnce(&Area<'_>) -> DrawResult) -> String {
    let mut svg = String::new();
    let outcome = {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)
            .map_err(Into::into)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(Into::into))
    };
    match outcome {
        Ok(()) => svg,
        Err(err) => failed(&err.to_string()),
    }
}

/// A hand-written SVG saying that drawing failed (plotters' string backend does not fail in
/// practice; this keeps the functions total).
fn failed(message: &str) -> String {
    format!(
        "<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <text x=\"{x}\" y=\"{y}\" text-anchor=\"middle\" font-family=\"{FONT}\">failed to draw the plot: {}</text></svg>\n",
        escape(message),
        w = SIZE.0,
        h = SIZE.1,
        x = SIZE.0 / 2,
        y = SIZE.1 / 2,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(svg: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(svg).unwrap_or_else(|err| panic!("not XML: {err}\n{svg}"))
    }

    fn texts(svg: &str) -> Vec<String> {
        parse(svg)
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| n.text().unwrap_or("").trim().to_owned())
            .collect()
    }

    /// `(x, y, width, height)` of every bar filled with `colour`: the rectangles of that
    /// colour but the last, the legend's swatch.
    fn rects(svg: &str, colour: RGBColor) -> Vec<(f64, f64, f64, f64)> {
        let fill = format!("#{:02X}{:02X}{:02X}", colour.0, colour.1, colour.2);
        let attr = |n: &roxmltree::Node, name| n.attribute(name).unwrap().parse::<f64>().unwrap();
        let mut all: Vec<_> = parse(svg)
            .descendants()
            .filter(|n| n.has_tag_name("rect") && n.attribute("fill") == Some(fill.as_str()))
            .map(|n| {
                (
                    attr(&n, "x"),
                    attr(&n, "y"),
                    attr(&n, "width"),
                    attr(&n, "height"),
                )
            })
            .collect();
        all.pop().expect("a legend swatch");
        all
    }

    fn series(name: &str, points: &[(f64, f64)]) -> Series {
        Series {
            name: name.to_owned(),
            points: points.to_vec(),
        }
    }

    fn group(name: &str, values: &[f64]) -> BarGroup {
        BarGroup {
            name: name.to_owned(),
            values: values.to_vec(),
        }
    }

    fn predicted_vs_measured(log: bool) -> Scatter {
        Scatter {
            title: "CONV layers".to_owned(),
            x_label: "measured (ms)".to_owned(),
            y_label: "predicted (ms)".to_owned(),
            log,
            series: vec![
                series("local", &[(0.5, 0.6), (20.0, 18.0), (3000.0, 2500.0)]),
                series("remote", &[(1.0, 1.5), (-1.0, 2.0), (40.0, 55.0)]),
            ],
        }
    }

    #[test]
    fn scatter_is_xml_and_draws_the_diagonal_up_the_data_range() {
        let svg = scatter(&predicted_vs_measured(false));
        let doc = parse(&svg);
        let diagonal = doc
            .descendants()
            .find(|n| n.has_tag_name("polyline") && n.attribute("stroke") == Some("#555555"))
            .expect("a y = x polyline");
        let points: Vec<f64> = diagonal
            .attribute("points")
            .unwrap()
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(points.len(), 4);
        // Left to right and, with SVG's y pointing down, bottom to top, at 45 degrees.
        assert!(points[2] > points[0] && points[3] < points[1]);
        assert_eq!(doc.root_element().attribute("viewBox"), Some("0 0 720 480"));
        let texts = texts(&svg);
        for wanted in [
            "CONV layers",
            "measured (ms)",
            "predicted (ms)",
            "local",
            "remote",
            "y = x",
        ] {
            assert!(
                texts.iter().any(|t| t == wanted),
                "{wanted} missing from {texts:?}"
            );
        }
    }

    #[test]
    fn log_axis_ticks_are_powers_of_ten_and_skipped_points_are_noted() {
        let svg = scatter(&predicted_vs_measured(true));
        let texts = texts(&svg);
        let ticks: Vec<f64> = texts.iter().filter_map(|t| t.parse().ok()).collect();
        assert!(ticks.len() >= 2 * 5, "{texts:?}");
        for tick in &ticks {
            let exponent = tick.log10();
            assert!(
                (exponent - exponent.round()).abs() < 1e-9,
                "{tick} in {texts:?}"
            );
        }
        for wanted in ["0.1", "1", "10000"] {
            assert!(
                texts.iter().any(|t| t == wanted),
                "{wanted} missing from {texts:?}"
            );
        }
        assert!(
            texts.iter().any(|t| t.starts_with("1 non-positive point")),
            "{texts:?}"
        );
    }

    #[test]
    fn text_is_escaped() {
        let nasty = r#"a<b & "c" 'd'>"#;
        let plot = Scatter {
            title: nasty.to_owned(),
            x_label: nasty.to_owned(),
            series: vec![series(nasty, &[(1.0, 2.0)])],
            ..Scatter::default()
        };
        let bar_plot = Bars {
            title: nasty.to_owned(),
            y_label: nasty.to_owned(),
            categories: vec![nasty.to_owned()],
            groups: vec![group(nasty, &[1.0])],
        };
        for svg in [
            scatter(&plot),
            bars(&bar_plot),
            no_data(nasty, nasty),
            failed(nasty),
        ] {
            let texts = texts(&svg);
            assert!(texts.iter().any(|t| t.contains(nasty)), "{svg}");
        }
    }

    #[test]
    fn empty_inputs_say_no_data() {
        let empty_groups = Bars {
            categories: vec!["a".to_owned()],
            groups: vec![group("g", &[])],
            ..Bars::default()
        };
        let svgs = [
            scatter(&Scatter::default()),
            scatter(&Scatter {
                series: vec![series("s", &[])],
                ..Scatter::default()
            }),
            bars(&Bars::default()),
            bars(&empty_groups),
            stacked(&Stacked::default()),
        ];
        for svg in svgs {
            assert!(texts(&svg).iter().any(|t| t == "no data"), "{svg}");
        }
    }

    #[test]
    fn nan_and_infinite_values_are_skipped() {
        let only_nan = Scatter {
            series: vec![series("s", &[(f64::NAN, 1.0), (1.0, f64::INFINITY)])],
            ..Scatter::default()
        };
        let texts_of_nan = texts(&scatter(&only_nan));
        assert!(texts_of_nan.iter().any(|t| t == "no data"));
        assert!(texts_of_nan.iter().any(|t| t.starts_with("2 NaN/infinite")));

        let some_nan = Bars {
            categories: vec!["a".to_owned(), "b".to_owned(), "c".to_owned()],
            groups: vec![group("g", &[1.0, f64::NAN, f64::NEG_INFINITY])],
            ..Bars::default()
        };
        assert_eq!(rects(&bars(&some_nan), PALETTE[0]).len(), 1);
        let all_nan = Bars {
            groups: vec![group("g", &[f64::NAN; 3])],
            ..some_nan
        };
        assert!(texts(&bars(&all_nan)).iter().any(|t| t == "no data"));
    }

    #[test]
    fn negative_bars_hang_below_the_zero_line() {
        let plot = Bars {
            title: "error".to_owned(),
            y_label: "error (%)".to_owned(),
            categories: vec![
                "resnet18 / server".to_owned(),
                "a very long network name that will be cut".to_owned(),
            ],
            groups: vec![group("linear", &[5.0, -3.0]), group("tree", &[2.0, 1.0])],
        };
        let svg = bars(&plot);
        let linear = rects(&svg, PALETTE[0]);
        assert_eq!(linear.len(), 2);
        assert_eq!(rects(&svg, PALETTE[1]).len(), 2);
        let (up, down) = (linear[0], linear[1]);
        let zero = up.1 + up.3;
        assert!((down.1 - zero).abs() <= 1.0, "{up:?} {down:?}");
        assert!(down.3 > 0.0);
        let texts = texts(&svg);
        assert!(texts.iter().any(|t| t.starts_with('-')), "{texts:?}");
        assert!(texts.iter().any(|t| t.ends_with('…')), "{texts:?}");
        let doc = parse(&svg);
        let rotated: Vec<&str> = doc
            .descendants()
            .filter(|n| {
                n.attribute("transform")
                    .is_some_and(|t| t.starts_with("rotate(270"))
            })
            .filter_map(|n| n.text())
            .map(str::trim)
            .collect();
        assert!(rotated.contains(&"resnet18 / server"), "{rotated:?}");
        assert!(
            rotated.contains(&"a very long network name that w…"),
            "{rotated:?}"
        );
    }

    #[test]
    fn stacked_parts_sit_on_each_other() {
        let plot = Stacked {
            title: "time".to_owned(),
            y_label: "seconds".to_owned(),
            categories: vec!["resnet18 × client".to_owned(), "vgg × server".to_owned()],
            parts: vec![group("CONV", &[3.0, 1.0]), group("ReLU", &[2.0, f64::NAN])],
        };
        let svg = stacked(&plot);
        let conv = rects(&svg, PALETTE[0]);
        let relu = rects(&svg, PALETTE[1]);
        assert_eq!((conv.len(), relu.len()), (2, 1));
        assert!(
            (relu[0].1 + relu[0].3 - conv[0].1).abs() <= 1.0,
            "{conv:?} {relu:?}"
        );
        assert!(texts(&svg).iter().any(|t| t == "resnet18 × client"));
    }

    #[test]
    fn output_is_deterministic() {
        let plot = predicted_vs_measured(true);
        assert_eq!(scatter(&plot), scatter(&plot.clone()));
        let plot = Bars {
            categories: vec!["a".to_owned()],
            groups: vec![group("g", &[0.1 + 0.2])],
            ..Bars::default()
        };
        let svg = bars(&plot);
        assert_eq!(svg, bars(&plot.clone()));
        assert!(!svg.contains("0.30000000000000004"));
    }

    #[test]
    fn nice_ticks_use_one_two_five_steps_and_cover_the_range() {
        assert_eq!(nice_ticks(0.0, 1.0, 5), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(
            nice_ticks(0.0, 97.0, 6),
            [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(nice_ticks(-3.0, 5.0, 6), [-4.0, -2.0, 0.0, 2.0, 4.0, 6.0]);
        assert_eq!(nice_ticks(0.0, 0.3, 3), [0.0, 0.1, 0.2, 0.3]);
        assert_eq!(
            nice_ticks(120.0, 480.0, 6),
            [100.0, 200.0, 300.0, 400.0, 500.0]
        );
        for (lo, hi) in [
            (0.013, 0.029),
            (-7e6, 3e6),
            (1.0, 1.0),
            (0.0, 0.0),
            (5.0, 2.0),
        ] {
            let ticks = nice_ticks(lo, hi, 6);
            assert!(ticks.len() >= 2, "{lo} {hi}: {ticks:?}");
            assert!(ticks[0] <= lo.min(hi) && ticks[ticks.len() - 1] >= lo.max(hi));
            let step = ticks[1] - ticks[0];
            let mantissa = step / 10f64.powf(step.log10().floor());
            assert!(
                [1.0, 2.0, 5.0].iter().any(|m| (mantissa - m).abs() < 1e-6),
                "{lo} {hi}: {ticks:?}"
            );
        }
    }

    #[test]
    fn tick_labels_have_just_enough_decimals() {
        assert_eq!(
            (decimals(20.0), decimals(1.0), decimals(0.2), decimals(0.05)),
            (0, 0, 1, 2)
        );
        assert_eq!(decade_exponents(-0.3, 3.2), [-1.0, 0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(decade_exponents(2.0, 2.0), [2.0, 3.0]);
        let powers: Vec<String> = [-4, -1, 0, 3, 6].into_iter().map(power_of_ten).collect();
        assert_eq!(powers, ["1e-4", "0.1", "1", "1000", "1e6"]);
    }
}
