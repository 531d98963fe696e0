/**
 * Server-rendered SVG charts (no chart script in the browser). Horizontal positions are
 * percentages of the chart's width and vertical ones pixels, so the chart stretches to any
 * screen while its text keeps a readable size. Colours are SVG attributes (the CSP allows no
 * inline styles).
 */
import type { AgeBucket } from "../domain/supervision.ts";
import { Temporal } from "../domain/temporal.ts";

const BAR = "#1f5fbf";
const BAR_WARN = "#c27c0e";
const GRID = "#e1e4ea";
const INK_2 = "#525b6c";

const pct = (n: number) => `${Math.round(n * 1000) / 1000}%`;
const WEEKDAY = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTH = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** A rounded axis maximum: 1, 2, 5, 10, 20, 50… at or above the data's maximum. */
export function niceMax(value: number): number {
  if (value <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

/** Tickets created per hour: one bar an hour, a line and a label at each local midnight. */
export function HourlyChart(
  { points, timeZone }: { points: { hour: number; count: number }[]; timeZone: string },
) {
  const n = points.length;
  const total = points.reduce((s, p) => s + p.count, 0);
  const peak = points.reduce((best, p) => (p.count > best.count ? p : best), points[0]);
  const max = niceMax(peak?.count ?? 0);
  const top = 22, height = 150, axis = top + height;
  const local = (ms: number) =>
    Temporal.Instant.fromEpochMilliseconds(ms).toZonedDateTimeISO(timeZone);
  const label = (ms: number) => {
    const z = local(ms);
    return `${WEEKDAY[z.dayOfWeek - 1]} ${z.day} ${MONTH[z.month - 1]}, ${
      String(z.hour).padStart(2, "0")
    }:${String(z.minute).padStart(2, "0")}`;
  };
  const days: { i: number; text: string }[] = [];
  points.forEach((p, i) => {
    const date = local(p.hour).toPlainDate().toString();
    const prev = i ? local(points[i - 1].hour).toPlainDate().toString() : null;
    if (prev !== date) {
      const z = local(p.hour);
      days.push({ i, text: `${WEEKDAY[z.dayOfWeek - 1]} ${z.day}` });
    }
  });
  const since = points.length ? label(points[0].hour).replace(/, .*$/, "") : "";
  const summary = total
    ? `${total} ticket${total === 1 ? "" : "s"} created since ${since}; ` +
      `the busiest hour (${label(peak.hour)}) had ${peak.count}.`
    : `No tickets created since ${since}.`;
  return (
    <figure class="chart">
      <svg
        width="100%"
        height={axis + 26}
        role="img"
        aria-labelledby="hourly-title hourly-desc"
        class="chart-svg"
      >
        <title id="hourly-title">Tickets created per hour</title>
        <desc id="hourly-desc">{summary}</desc>
        <line x1="0" x2="100%" y1={top} y2={top} stroke={GRID} />
        <line x1="0" x2="100%" y1={top + height / 2} y2={top + height / 2} stroke={GRID} />
        <line x1="0" x2="100%" y1={axis} y2={axis} stroke="#cfd4dc" />
        <text x="0" y={top - 6} font-size="11" fill={INK_2}>{max} / hour</text>
        {days.map((d) => {
          // The last day's label would run off the right edge: right-align it there.
          const atEnd = d.i / n > 0.93;
          return (
            <g>
              {d.i > 0
                ? (
                  <line
                    x1={pct((d.i / n) * 100)}
                    x2={pct((d.i / n) * 100)}
                    y1={top}
                    y2={axis + 6}
                    stroke="#cfd4dc"
                  />
                )
                : null}
              <text
                x={atEnd ? "100%" : pct((d.i / n) * 100)}
                dx={atEnd ? undefined : "3"}
                text-anchor={atEnd ? "end" : undefined}
                y={axis + 18}
                font-size="11"
                fill={INK_2}
              >
                {d.text}
              </text>
            </g>
          );
        })}
        {points.map((p, i) =>
          p.count > 0
            ? (
              <rect
                x={pct((i / n) * 100)}
                width={pct((1 / n) * 100 * 0.8)}
                y={axis - (p.count / max) * height}
                height={Math.max(1, (p.count / max) * height)}
                fill={BAR}
              >
                <title>{`${label(p.hour)}: ${p.count} ticket${p.count === 1 ? "" : "s"}`}</title>
              </rect>
            )
            : null
        )}
      </svg>
      <figcaption class="muted small">{summary} Times in {timeZone}.</figcaption>
    </figure>
  );
}

/** The Unassigned queue by age: one horizontal bar per age bucket. */
export function AgeChart(
  { buckets, notWalked }: { buckets: AgeBucket[]; notWalked: number },
) {
  const rows = notWalked
    ? [...buckets, { label: "older*", below: null, count: notWalked }]
    : buckets;
  const max = niceMax(Math.max(0, ...rows.map((b) => b.count)));
  const rowHeight = 28;
  const labelWidth = 22; // percent
  const barSpace = 62; // percent
  const total = rows.reduce((s, b) => s + b.count, 0);
  const summary = total
    ? rows.map((b) => `${b.label}: ${b.count}`).join("; ")
    : "The Unassigned queue is empty.";
  return (
    <figure class="chart">
      <svg
        width="100%"
        height={rows.length * rowHeight + 4}
        role="img"
        aria-labelledby="ages-title ages-desc"
        class="chart-svg"
      >
        <title id="ages-title">Unassigned tickets by age</title>
        <desc id="ages-desc">{summary}</desc>
        {rows.map((b, i) => {
          const y = i * rowHeight + 4;
          const width = (b.count / max) * barSpace;
          return (
            <g>
              <text x="0" y={y + 15} font-size="12" fill={INK_2}>{b.label}</text>
              <rect
                x={pct(labelWidth)}
                y={y + 2}
                width={pct(barSpace)}
                height={rowHeight - 10}
                fill="#f0f2f5"
              />
              {b.count
                ? (
                  <rect
                    x={pct(labelWidth)}
                    y={y + 2}
                    width={pct(width)}
                    height={rowHeight - 10}
                    fill={b.below === null || b.below > 24 * 3600_000 ? BAR_WARN : BAR}
                  >
                    <title>{`${b.label}: ${b.count}`}</title>
                  </rect>
                )
                : null}
              <text x={pct(labelWidth + barSpace + 2)} y={y + 15} font-size="12" fill="#1d2330">
                {b.count}
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption class="muted small">
        {total
          ? "Amber: waiting longer than a day. Hover a bar for its count."
          : "The Unassigned queue is empty."}
      </figcaption>
    </figure>
  );
}
