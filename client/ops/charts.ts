/**
 * Two small inline-SVG charts, no library: horizontal bars for a promotion's funnel, and a
 * sparkline for live presence. Geometry goes into attributes (never style text), and labels
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

export interface Series {
  values: readonly number[];
  tone: string;
}

/** A line per series over the last samples, on a shared scale that starts at zero. */
export function sparkline(series: readonly Series[], capacity: number): SVGSVGElement {
  const width = 300;
  const height = 60;
  const pad = 3;
  const max = Math.max(1, ...series.flatMap((line) => line.values));
  const svg = svgElement('svg', { viewBox: `0 0 ${width} ${height}`, class: 'sparkline__svg', preserveAspectRatio: 'none' });
  const step = (width - pad * 2) / Math.max(1, capacity - 1);
  for (const line of series) {
    if (line.values.length === 0) continue;
    const offset = capacity - line.values.length;
    const points = line.values
      .map((value, index) => {
        const x = pad + (offset + index) * step;
        const y = height - pad - (value / max) * (height - pad * 2);
        return `${x.toFixed(1)},${y.toFixed(1)}`;
      })
      .join(' ');
    const first = points.split(' ')[0]?.split(',')[0] ?? String(pad);
    const last = points.split(' ').at(-1)?.split(',')[0] ?? String(width - pad);
    svg.append(
      svgElement('polygon', {
        points: `${first},${height - pad} ${points} ${last},${height - pad}`,
        class: `sparkline__area ${line.tone}`,
      }),
      svgElement('polyline', { points, class: `sparkline__line ${line.tone}` }),
    );
  }
  return svg;
}
