/**
 * A small typed builder for Grafana dashboard JSON (schema 39): rows, time series and stat
 * panels with Prometheus targets, laid out left to right on Grafana's 24-column grid.
 */

export type PanelType = 'timeseries' | 'stat' | 'row';
/** Grafana unit ids. */
export type Unit = 'reqps' | 'percentunit' | 's' | 'short' | 'none';

export interface Target {
  /** The PromQL expression. */
  readonly expr: string;
  /** Series name in the legend, Grafana template syntax (`{{code}}`). */
  readonly legend?: string;
}

export interface PanelOptions {
  readonly title: string;
  readonly description?: string;
  readonly type: Exclude<PanelType, 'row'>;
  readonly targets: Target[];
  readonly unit?: Unit;
  /** Grid columns (of 24). */
  readonly width: number;
  /** Grid rows (30 px each). */
  readonly height: number;
  /** Fixed y-axis range, e.g. 0..1 for ratios. */
  readonly min?: number;
  readonly max?: number;
}

export interface GridPos { readonly x: number; readonly y: number; readonly w: number; readonly h: number }

/** The datasource every panel uses: a dashboard variable, so any Prometheus datasource works. */
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

export class DashboardBuilder {
  private readonly panels: Array<Record<string, unknown>> = [];
  private x = 0;
  private y = 0;
  private rowHeight = 0;
  private nextId = 1;

  constructor(private readonly title: string, private readonly uid: string, private readonly tags: string[]) {
    if (uid.length > 40) throw new Error(`internal: Grafana dashboard uid '${uid}' is longer than 40 characters`);
  }

  /** Starts a new row with a header. */
  public row(title: string): this {
    this.newLine();
    this.panels.push({ id: this.nextId++, type: 'row', title, collapsed: false, panels: [], gridPos: { x: 0, y: this.y, w: 24, h: 1 } });
    this.y += 1;
    return this;
  }

  /** Adds a panel to the right of the last one, wrapping to a new line when the row is full. */
  public panel(options: PanelOptions): this {
    if (options.width < 1 || options.width > 24) throw new Error(`internal: panel width ${options.width} is outside 1..24`);
    if (this.x + options.width > 24) this.newLine();
    const gridPos: GridPos = { x: this.x, y: this.y, w: options.width, h: options.height };
    this.x += options.width;
    this.rowHeight = Math.max(this.rowHeight, options.height);
    const refIds = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
    this.panels.push({
      id: this.nextId++,
      type: options.type,
      title: options.title,
      ...(options.description ? { description: options.description } : {}),
      datasource: DATASOURCE,
      gridPos,
      targets: options.targets.map((t, i) => ({
        refId: refIds[i],
        datasource: DATASOURCE,
        expr: t.expr,
        ...(t.legend ? { legendFormat: t.legend } : {}),
        range: true,
      })),
      fieldConfig: {
        defaults: {
          unit: options.unit ?? 'short',
          ...(options.min !== undefined ? { min: options.min } : {}),
          ...(options.max !== undefined ? { max: options.max } : {}),
        },
        overrides: [],
      },
      options: options.type === 'stat'
        ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'area' }
        : { legend: { displayMode: 'table', placement: 'bottom', calcs: ['mean', 'max'] }, tooltip: { mode: 'multi', sort: 'desc' } },
    });
    return this;
  }

  /** Every PromQL expression of the dashboard, in panel order. */
  public expressions(): string[] {
    return this.panels.flatMap(p => ((p.targets as Array<{ expr: string }> | undefined) ?? []).map(t => t.expr));
  }

  /** The dashboard JSON model. */
  public toJson(): Record<string, unknown> {
    return {
      uid: this.uid,
      title: this.title,
      tags: this.tags,
      schemaVersion: 39,
      version: 1,
      editable: true,
      timezone: 'browser',
      refresh: '30s',
      time: { from: 'now-1h', to: 'now' },
      templating: {
        list: [{ name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', hide: 0 }],
      },
      annotations: { list: [] },
      panels: this.panels,
    };
  }

  private newLine(): void {
    if (this.x > 0) {
      this.y += this.rowHeight;
      this.x = 0;
      this.rowHeight = 0;
    }
  }
}
