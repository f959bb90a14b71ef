/**
 * Two small inline-SVG charts, no library: horizontal bars for a promotion's funnel, and
 * counts over time with axes for live presence. Geometry goes into attributes (never style text), and labels
 * into textContent.
 */
const SVG = 'http://www.w3.org/2000/svg';

function svgElement<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | number> = {},
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

export interface Bar {
  label: string;
  value: number;
  /** A CSS class for its colour. */
  tone: string;
}

/**
 * One row per bar, all on the scale of the largest (at least 1, so zeros draw as empty rows).
 * Widths are in viewBox units, so the chart scales with its container.
 */
export function barChart(bars: readonly Bar[], title: string): SVGSVGElement {
  const rowHeight = 22;
  const labelWidth = 78;
  const valueWidth = 52;
  const width = 320;
  const track = width - labelWidth - valueWidth;
  const max = Math.max(1, ...bars.map((bar) => bar.value));
  const svg = svgElement('svg', {
    viewBox: `0 0 ${width} ${bars.length * rowHeight}`,
    class: 'bar-chart',
    role: 'img',
    preserveAspectRatio: 'xMinYMin meet',
  });
  const titleNode = svgElement('title');
  titleNode.textContent = `${title}: ${bars.map((bar) => `${bar.label} ${bar.value}`).join(', ')}`;
  svg.append(titleNode);
  bars.forEach((bar, index) => {
    const y = index * rowHeight;
    const label = svgElement('text', { x: 0, y: y + 15, class: 'bar-chart__label' });
    label.textContent = bar.label;
    const background = svgElement('rect', { x: labelWidth, y: y + 4, width: track, height: 14, rx: 3, class: 'bar-chart__track' });
    const barWidth = bar.value > 0 ? Math.max(2, (bar.value / max) * track) : 0;
    const fill = svgElement('rect', {
      x: labelWidth,
      y: y + 4,
      width: barWidth.toFixed(1),
      height: 14,
      rx: 3,
      class: `bar-chart__bar ${bar.tone}`,
    });
    const value = svgElement('text', { x: width, y: y + 15, 'text-anchor': 'end', class: 'bar-chart__value' });
    value.textContent = bar.value.toLocaleString();
    svg.append(label, background, fill, value);
  });
  return svg;
}

export interface Sample {
  at: number;
  value: number;
}

export interface TimeSeries {
  label: string;
  samples: readonly Sample[];
  /** A CSS class for its colour. */
  tone: string;
}

export interface TimeChartOptions {
  /** The window shown, in ms since the epoch. */
  from: number;
  to: number;
  /** The chart's size in CSS pixels: drawn 1:1, so its labels keep their size at any width. */
  width: number;
  height: number;
  title: string;
}

/** A round step for about `ticks` ticks up to `max`: 1, 2 or 5 times a power of ten. */
function niceStep(max: number, ticks: number): number {
  const rough = Math.max(1, max / ticks);
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((factor) => factor * power).find((candidate) => candidate >= rough);
  return step ?? 10 * power;
}

/** The time between x ticks: the first that leaves at least 64 px between labels. */
const TIME_STEPS_MS = [15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000, 3_600_000];

/**
 * Counts over time: a line per series, with a y axis of whole counts from zero and an x axis
 * of clock times. Drawn at the size it is shown (the caller passes its width), so the axis
 * labels stay legible on a phone instead of shrinking with a viewBox.
 */
export function timeChart(series: readonly TimeSeries[], options: TimeChartOptions): SVGSVGElement {
  const { from, to, width, height } = options;
  const margin = { top: 20, right: 12, bottom: 36, left: 36 };
  const plotWidth = Math.max(10, width - margin.left - margin.right);
  const plotHeight = Math.max(10, height - margin.top - margin.bottom);
  const max = Math.max(1, ...series.flatMap((line) => line.samples.map((sample) => sample.value)));
  const yStep = Math.max(1, niceStep(max, 4));
  const yMax = Math.ceil(max / yStep) * yStep;
  const x = (at: number) => margin.left + ((at - from) / Math.max(1, to - from)) * plotWidth;
  const y = (value: number) => margin.top + plotHeight - (value / yMax) * plotHeight;

  const svg = svgElement('svg', {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    class: 'time-chart',
    role: 'img',
  });
  const latest = series.map((line) => `${line.label} ${line.samples.at(-1)?.value ?? 'unknown'}`).join(', ');
  const titleNode = svgElement('title');
  titleNode.textContent = `${options.title}; now ${latest}`;
  svg.append(titleNode);

  // The y axis: a grid line and a label per tick, and the axis title above the labels.
  for (let value = 0; value <= yMax; value += yStep) {
    svg.append(svgElement('line', { x1: margin.left, x2: margin.left + plotWidth, y1: y(value), y2: y(value), class: 'time-chart__grid' }));
    const label = svgElement('text', { x: margin.left - 6, y: y(value) + 4, 'text-anchor': 'end', class: 'time-chart__tick' });
    label.textContent = value.toLocaleString();
    svg.append(label);
  }
  const yTitle = svgElement('text', { x: 0, y: 11, class: 'time-chart__axis-title' });
  yTitle.textContent = 'count';
  svg.append(yTitle);

  // The x axis: ticks on round clock times, the axis title under their labels.
  const bottom = margin.top + plotHeight;
  svg.append(svgElement('line', { x1: margin.left, x2: margin.left + plotWidth, y1: bottom, y2: bottom, class: 'time-chart__axis' }));
  const stepMs = TIME_STEPS_MS.find((step) => (step / Math.max(1, to - from)) * plotWidth >= 64) ?? TIME_STEPS_MS.at(-1)!;
  const withSeconds = stepMs < 60_000;
  for (let at = Math.ceil(from / stepMs) * stepMs; at <= to; at += stepMs) {
    svg.append(svgElement('line', { x1: x(at), x2: x(at), y1: bottom, y2: bottom + 4, class: 'time-chart__axis' }));
    const label = svgElement('text', { x: x(at), y: bottom + 16, 'text-anchor': 'middle', class: 'time-chart__tick' });
    label.textContent = new Date(at).toLocaleTimeString([], {
      hour: 'numeric',
      minute: '2-digit',
      ...(withSeconds ? { second: '2-digit' } : {}),
    });
    svg.append(label);
  }
  const xTitle = svgElement('text', {
    x: margin.left + plotWidth / 2,
    y: height - 4,
    'text-anchor': 'middle',
    class: 'time-chart__axis-title',
  });
  xTitle.textContent = 'time';
  svg.append(xTitle);

  for (const line of series) {
    const shown = line.samples.filter((sample) => sample.at >= from && sample.at <= to);
    if (shown.length === 0) continue;
    const points = shown.map((sample) => `${x(sample.at).toFixed(1)},${y(sample.value).toFixed(1)}`).join(' ');
    const first = x(shown[0]!.at).toFixed(1);
    const last = x(shown.at(-1)!.at).toFixed(1);
    svg.append(
      svgElement('polygon', { points: `${first},${bottom} ${points} ${last},${bottom}`, class: `time-chart__area ${line.tone}` }),
      svgElement('polyline', { points, class: `time-chart__line ${line.tone}` }),
      // The latest value as a dot: visible from the first sample, when there is no line yet.
      svgElement('circle', { cx: last, cy: y(shown.at(-1)!.value).toFixed(1), r: 3, class: `time-chart__dot ${line.tone}` }),
    );
  }
  return svg;
}
