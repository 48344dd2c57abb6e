// The node's Prometheus metrics, named like etcd's where one exists so
// existing dashboards read them with few changes.
import { MetricsRegistry, type Counter, type Gauge, type Histogram } from "./metrics.ts";

export interface NodeMetrics {
  registry: MetricsRegistry;
  hasLeader: Gauge;
  isLeader: Gauge;
  leaderChanges: Counter;
  term: Gauge;
  commitIndex: Gauge;
  appliedIndex: Gauge;
  proposalsCommitted: Counter;
  proposalsFailed: Counter;
  proposalsPending: Gauge;
  applySeconds: Histogram;
  fsyncSeconds: Histogram;
  peerRoundTripSeconds: Histogram;
  eventLoopDelaySeconds: Histogram;
  keys: Gauge;
  peersConnected: Gauge;
  dbSizeBytes: Gauge;
  watchers: Gauge;
  watchHistoryStart: Gauge;
  leases: Gauge;
  leasesTimed: Gauge;
}

export function createNodeMetrics(): NodeMetrics {
  const r = new MetricsRegistry();
  return {
    registry: r,
    hasLeader: r.gauge("dkv_server_has_leader", "1 when this member knows a leader, else 0."),
    isLeader: r.gauge("dkv_server_is_leader", "1 when this member is the leader, else 0."),
    leaderChanges: r.counter("dkv_server_leader_changes_seen_total", "Leader changes seen by this member."),
    term: r.gauge("dkv_server_term", "Current raft term."),
    commitIndex: r.gauge("dkv_server_commit_index", "Raft commit index."),
    appliedIndex: r.gauge("dkv_server_applied_index", "Index of the last entry applied to the state machine."),
    proposalsCommitted: r.counter("dkv_server_proposals_committed_total", "Proposals committed and applied."),
    proposalsFailed: r.counter("dkv_server_proposals_failed_total", "Proposals that failed or timed out, by reason.", ["reason"]),
    proposalsPending: r.gauge("dkv_server_proposals_pending", "Proposals waiting to be applied."),
    applySeconds: r.histogram("dkv_server_apply_duration_seconds", "Time to apply one batch of committed entries."),
    fsyncSeconds: r.histogram("dkv_disk_wal_fsync_duration_seconds", "Time to persist one Ready (entries and hard state, fsynced)."),
    peerRoundTripSeconds: r.histogram("dkv_network_peer_round_trip_time_seconds", "Round trip time of forwarded requests to the leader."),
    eventLoopDelaySeconds: r.histogram(
      "dkv_server_event_loop_delay_seconds",
      "How late the raft tick timer fired: how long other work held the event loop, which every request waiting then waited too.",
    ),
    keys: r.gauge("dkv_mvcc_keys", "Keys in the state machine (all held in memory)."),
    peersConnected: r.gauge("dkv_network_peers_connected", "Peers with an open connection."),
    dbSizeBytes: r.gauge("dkv_mvcc_db_total_size_in_bytes", "Size of the database files in bytes."),
    watchers: r.gauge("dkv_watch_watchers", "Watches this member is streaming."),
    watchHistoryStart: r.gauge("dkv_watch_history_oldest_revision", "Oldest revision a watch may start at on this member."),
    leases: r.gauge("dkv_lease_leases", "Leases in this member's applied state."),
    leasesTimed: r.gauge("dkv_lease_timed", "Leases this member times as the leader (0 on followers)."),
  };
}
