/**
 * How long a web node's heartbeat stays valid. Nodes beat every second; a node that has not
 * beaten for this long (crashed, frozen, partitioned) stops counting, and its rows are swept.
 */
export const PRESENCE_WINDOW_SECONDS = 5;

/**
 * The keys of the active sessions ("has a connected socket now"), as a subquery any
 * statement can join: presence rows whose node's heartbeat is fresh.
 */
export const activeSessionKeysSql = `
  SELECT DISTINCT p.session_sid
    FROM presence p
    JOIN presence_nodes n ON n.node_id = p.node_id
   WHERE n.heartbeat_at > now() - interval '${PRESENCE_WINDOW_SECONDS} seconds'`;
