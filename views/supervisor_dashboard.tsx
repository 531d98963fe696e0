/** Supervisor › Dashboard: today's numbers, two charts, and every agent's load. */
import type { Stats } from "../domain/stats.ts";
import { type AgentLoad, formatAge, type QueueAges } from "../domain/supervision.ts";
import { AgeChart, HourlyChart } from "./charts.tsx";
import { Card } from "./admin_shell.tsx";
import { Empty } from "./components.tsx";
import { StatusBadge } from "./admin_people.tsx";

export interface DashboardProps {
  stats: Stats;
  hourly: { hour: number; count: number }[];
  ages: QueueAges;
  loads: AgentLoad[];
  timeZone: string;
  now: number;
}

function Stat({ value, label, href }: { value: string; label: string; href?: string }) {
  return (
    <div class="stat">
      <b>{href ? <a href={href}>{value}</a> : value}</b>
      <span>{label}</span>
    </div>
  );
}

const seconds = (s: number | null) => s === null ? "—" : s < 60 ? `${s} s` : formatAge(s * 1000);

export function DashboardNumbers({ stats, now }: { stats: Stats; now: number }) {
  return (
    <section class="stats" aria-label="Today">
      <Stat
        value={String(stats.unassigned)}
        label="Unassigned now"
        href="/supervisor/queues?queue=unassigned"
      />
      <Stat
        value={stats.oldestUnassignedAt === null ? "—" : formatAge(now - stats.oldestUnassignedAt)}
        label="Oldest unassigned"
        href={stats.oldestUnassignedAt === null
          ? undefined
          : "/supervisor/queues?queue=unassigned&sort=oldest"}
      />
      <Stat value={String(stats.createdToday)} label="Created today" />
      <Stat value={String(stats.acceptedToday)} label="Accepted today" />
      <Stat value={String(stats.closedToday)} label="Closed today" />
      <Stat value={seconds(stats.medianAcceptSeconds)} label="Median time to accept (today)" />
    </section>
  );
}

export function AgentLoadTable({ loads, now }: { loads: AgentLoad[]; now: number }) {
  if (!loads.length) return <Empty title="No agents yet" />;
  return (
    <div class="table-wrap">
      <table class="table">
        <thead>
          <tr>
            <th scope="col">Agent</th>
            <th scope="col">Status</th>
            <th scope="col" class="num">Assigned</th>
            <th scope="col" class="num" title="Age of the oldest ticket the agent holds">Oldest</th>
          </tr>
        </thead>
        <tbody>
          {loads.map(({ agent, assigned, oldestAssignedAt }) => (
            <tr>
              <td>
                {agent.name}
                {agent.role !== "agent"
                  ? <span class="muted small">{` ${agent.role}`}</span>
                  : null}
              </td>
              <td>
                <StatusBadge agent={agent} />
              </td>
              <td class="num">
                {assigned
                  ? (
                    <a href={`/supervisor/queues?queue=assigned&agent=${agent.id}`}>
                      {assigned}
                    </a>
                  )
                  : "0"}
              </td>
              <td class="num">
                {oldestAssignedAt === null ? "—" : formatAge(now - oldestAssignedAt)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function Dashboard(props: DashboardProps) {
  const { ages } = props;
  return (
    <div class="stack">
      <DashboardNumbers stats={props.stats} now={props.now} />
      <div class="grid-2 align-start">
        <Card id="hourly-h" title="Tickets created per hour, last 7 days">
          <div class="card-body">
            <HourlyChart points={props.hourly} timeZone={props.timeZone} />
          </div>
        </Card>
        <Card
          id="ages-h"
          title="Unassigned queue by age"
          aside={<span class="muted small">{ages.total} waiting</span>}
        >
          <div class="card-body">
            <AgeChart buckets={ages.buckets} notWalked={ages.notWalked} />
            {ages.notWalked
              ? (
                <p class="note">
                  * The {ages.notWalked}{" "}
                  oldest tickets were not walked (the chart reads at most 2,000 index keys); all are
                  older than {formatAge(ages.notWalkedOlderThan ?? 0)}.
                </p>
              )
              : null}
          </div>
        </Card>
      </div>
      <Card
        id="agents-h"
        title="Agents"
        aside={
          <a href="/supervisor/queues?queue=assigned&agent=all" class="small">
            All assigned tickets
          </a>
        }
      >
        <AgentLoadTable loads={props.loads} now={props.now} />
      </Card>
    </div>
  );
}
