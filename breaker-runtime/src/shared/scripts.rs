//! The fleet's protocol, as the Lua scripts Redis runs atomically on one hash per
//! breaker. Every script reads the server's clock (`TIME`), validates what it reads (a
//! foreign or corrupted hash is replaced, never trusted), and ends by refreshing the
//! key's TTL.
//!
//! The hash: `epoch` (server milliseconds when the record was created), `gen` (the
//! fleet's generation, moved on by every fleet transition), `state` (`closed`, `open`
//! or `half_open`), `open_until` and `probe_until` (server milliseconds), `probe` (the
//! token of the lease holder, or empty), `probe_ok` (successful probes so far), `cause`
//! (`auto`, or for a manual transition `manual`, `forced` or `disabled`: the last two are
//! sticky), `trace` (the W3C `traceparent` where the last automatic transition began:
//! the opening span of the replica whose vote opened it, the probe call that closed it;
//! empty otherwise) and one `v:<replica>` field per recent vote (server milliseconds).
//!
//! Every reply that describes the record is a *view*:
//! `{state, epoch, gen, open_remaining_ms, cause, trace}`; only durations leave the
//! server. A `trace` is kept only if it has a `traceparent`'s form and length; a longer
//! one is refused (stored as empty), and readers validate it again.

/// Read, validate, and helpers: shared by every script. `KEYS[1]` is the record,
/// `KEYS[2]` its bucket's version counter (see `layout.rs`), `ARGV[1]` the bucket's event
/// channel, `ARGV[2]` the breaker's name, `ARGV[3]` the TTL in ms.
const PRELUDE: &str = r#"
local key = KEYS[1]
local channel, name, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function num(v)
  local n = tonumber(v)
  if n == nil or n ~= n or n < 0 or n > 9007199254740991 then return nil end
  return math.floor(n)
end
local kind = redis.call('TYPE', key)['ok']
local raw = {}
if kind == 'hash' then
  raw = redis.call('HMGET', key, 'epoch', 'gen', 'state', 'open_until', 'probe', 'probe_until', 'probe_ok', 'cause', 'trace')
end
-- A W3C traceparent (version 00, lowercase hex), or empty: nothing longer is kept.
local function trace_of(v)
  if type(v) ~= 'string' or #v ~= 55 then return '' end
  if not string.match(v, '^00%-[0-9a-f]+%-[0-9a-f]+%-[0-9a-f][0-9a-f]$') then return '' end
  if string.sub(v, 36, 36) ~= '-' or string.sub(v, 53, 53) ~= '-' then return '' end
  return v
end
local r = {
  epoch = num(raw[1]), gen = num(raw[2]), state = raw[3],
  open_until = num(raw[4]) or 0, probe = raw[5] or '', probe_until = num(raw[6]) or 0,
  probe_ok = num(raw[7]) or 0, cause = raw[8], trace = trace_of(raw[9]),
}
local known = r.epoch ~= nil and r.gen ~= nil
  and (r.state == 'closed' or r.state == 'open' or r.state == 'half_open')
  and (r.cause == 'auto' or r.cause == 'manual' or r.cause == 'forced' or r.cause == 'disabled')
local sticky = r.cause == 'forced' or r.cause == 'disabled'
-- Anything else under the key (another type, a foreign or corrupted hash) is ignored,
-- and replaced by the first write.
local foreign = kind ~= 'none' and not known
if not known then
  r = { epoch = now, gen = 0, state = 'closed', open_until = 0, probe = '', probe_until = 0, probe_ok = 0, cause = 'auto', trace = '' }
end
local function claim()
  if foreign then
    redis.call('DEL', key)
    foreign = false
  end
end
local function save()
  claim()
  redis.call('HSET', key, 'epoch', r.epoch, 'gen', r.gen, 'state', r.state,
    'open_until', r.open_until, 'probe', r.probe, 'probe_until', r.probe_until,
    'probe_ok', r.probe_ok, 'cause', r.cause, 'trace', r.trace)
  redis.call('PEXPIRE', key, ttl)
end
local function view()
  return { r.state, r.epoch, r.gen, math.max(0, r.open_until - now), r.cause, r.trace }
end
local function publish()
  -- The bucket's version moves with every transition: a replica that missed the event
  -- sees it at its next poll. A counter that expired starts again from the server's
  -- clock, past any value it held (it lives at least as long as a record, and a value is
  -- compared only for a change), and lives as long as its longest-lived record.
  if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('SET', KEYS[2], now) end
  local version = redis.call('INCR', KEYS[2])
  if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
  local trace = r.trace
  if trace == '' then trace = '-' end
  -- The event carries the version it made: a subscriber that saw every event of the
  -- bucket knows the version without reading it, and one that sees a gap re-reads.
  redis.call(PUBLISH, channel,
    r.epoch .. ' ' .. r.gen .. ' ' .. r.state .. ' ' .. math.max(0, r.open_until - now)
      .. ' ' .. r.cause .. ' ' .. trace .. ' ' .. version .. ' ' .. name)
end
local function clear_votes()
  -- A foreign record first goes (HKEYS on a key of another type is an error).
  claim()
  for _, f in ipairs(redis.call('HKEYS', key)) do
    if string.sub(f, 1, 2) == 'v:' then redis.call('HDEL', key, f) end
  end
end
local function open(reset, trace)
  r.gen = r.gen + 1
  r.cause = 'auto'
  r.state = 'open'
  r.open_until = now + reset
  r.trace = trace_of(trace)
  r.probe = ''
  r.probe_until = 0
  r.probe_ok = 0
  save()
  publish()
end
"#;

/// `vote(rid, quorum, window_ms, reset_ms, trace)`: this replica tripped, in the span
/// `trace`. The fleet opens when `quorum` distinct replicas voted within `window_ms`,
/// linked to the vote that opened it. Returns the view.
const VOTE: &str = r#"
local rid, quorum, window, reset = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local trace = ARGV[8]
claim()
redis.call('HSET', key, 'v:' .. rid, now)
local fields = redis.call('HGETALL', key)
local votes = 0
for i = 1, #fields, 2 do
  local f = fields[i]
  if string.sub(f, 1, 2) == 'v:' then
    local at = num(fields[i + 1])
    if at == nil or now - at > window or at > now then
      redis.call('HDEL', key, f)
    else
      votes = votes + 1
    end
  end
end
if r.state == 'closed' and not sticky and votes >= quorum then
  open(reset, trace)
else
  save()
end
return view()
"#;

/// `acquire(token, lease_ms)`: a replica asks for the fleet's probe. Returns
/// `{'granted', epoch, gen}` or `{'denied', wait_ms, view...}`.
const ACQUIRE: &str = r#"
local token, lease = ARGV[4], tonumber(ARGV[5])
if sticky then
  local v = view()
  return { 'denied', 1000, v[1], v[2], v[3], v[4], v[5], v[6] }
end
if r.state == 'open' and now >= r.open_until then
  r.state = 'half_open'
  r.probe = ''
end
if r.state == 'half_open' and (r.probe == '' or now >= r.probe_until) then
  r.probe = token
  r.probe_until = now + lease
  save()
  return { 'granted', r.epoch, r.gen }
end
local wait = 0
if r.state == 'open' then wait = r.open_until - now end
if r.state == 'half_open' then wait = r.probe_until - now end
if known then redis.call('PEXPIRE', key, ttl) end
local v = view()
return { 'denied', math.max(0, wait), v[1], v[2], v[3], v[4], v[5], v[6] }
"#;

/// `report(token, gen, outcome, success_threshold, reset_ms, trace)`: the lease holder's
/// verdict, fenced by its token and the generation it was granted in, with the span of
/// the probe (a success) or of its reopening (a failure). Returns
/// `{'ok' | 'stale', view...}`.
const REPORT: &str = r#"
local token, gen, outcome = ARGV[4], tonumber(ARGV[5]), ARGV[6]
local threshold, reset = tonumber(ARGV[7]), tonumber(ARGV[8])
local trace = ARGV[9]
if r.state ~= 'half_open' or r.probe ~= token or r.gen ~= gen then
  local v = view()
  return { 'stale', v[1], v[2], v[3], v[4], v[5], v[6] }
end
if outcome == 'failure' then
  open(reset, trace)
elseif outcome == 'success' then
  r.probe = ''
  r.probe_ok = r.probe_ok + 1
  if r.probe_ok >= threshold then
    r.gen = r.gen + 1
    r.cause = 'auto'
    r.state = 'closed'
    r.probe_ok = 0
    r.open_until = 0
    r.trace = trace_of(trace)
    clear_votes()
    save()
    publish()
  else
    save()
  end
else
  r.probe = ''
  save()
end
local v = view()
return { 'ok', v[1], v[2], v[3], v[4], v[5], v[6] }
"#;

/// `force(transition, reset_ms)`: a manual transition for the whole fleet (`open`,
/// `half_open`, `close`, `force_open`, `disable`). Returns the view.
const FORCE: &str = r#"
local transition, reset = ARGV[4], tonumber(ARGV[5])
r.gen = r.gen + 1
r.probe = ''
r.probe_until = 0
r.probe_ok = 0
r.trace = ''
if transition == 'open' then
  r.state, r.cause, r.open_until = 'open', 'manual', now + reset
elseif transition == 'half_open' then
  r.state, r.cause, r.open_until = 'half_open', 'manual', now
elseif transition == 'force_open' then
  r.state, r.cause, r.open_until = 'open', 'forced', 0
elseif transition == 'disable' then
  r.state, r.cause, r.open_until = 'closed', 'disabled', 0
  clear_votes()
else
  r.state, r.cause, r.open_until = 'closed', 'manual', 0
  clear_votes()
end
save()
publish()
return view()
"#;

/// `snapshot()`: the view, or an empty reply for a missing record (which reads as
/// closed, and is not created by reading it).
const SNAPSHOT: &str = r#"
if not known then return {} end
redis.call('PEXPIRE', key, ttl)
return view()
"#;

/// `restore(epoch, gen, state, remaining_ms, cause, trace)`: a replica's newest view,
/// written back unless the record is as new or newer by `(epoch, gen)` (after a failover
/// that lost the last writes: a generation never goes backwards for a replica that saw
/// it). The lease is not restored: the next probe asks for a new one. Returns the view,
/// or an empty reply for a missing record left alone.
const RESTORE: &str = r#"
local epoch, gen, remaining = num(ARGV[4]), num(ARGV[5]), num(ARGV[7])
local state, cause = ARGV[6], ARGV[8]
local valid = epoch ~= nil and gen ~= nil and remaining ~= nil
  and (state == 'closed' or state == 'open' or state == 'half_open')
  and (cause == 'auto' or cause == 'manual' or cause == 'forced' or cause == 'disabled')
if not valid or (known and (r.epoch > epoch or (r.epoch == epoch and r.gen >= gen))) then
  if not known then return {} end
  redis.call('PEXPIRE', key, ttl)
  return view()
end
r.epoch, r.gen, r.state, r.cause = epoch, gen, state, cause
r.open_until = 0
if state == 'open' then r.open_until = now + remaining end
if state == 'half_open' then r.open_until = now end
r.probe, r.probe_until, r.probe_ok = '', 0, 0
r.trace = trace_of(ARGV[9])
save()
publish()
return view()
"#;

/// The scripts, compiled once (their SHA1 computed) per process.
pub(super) struct Scripts {
    pub(super) vote: redis::Script,
    pub(super) acquire: redis::Script,
    pub(super) report: redis::Script,
    pub(super) snapshot: redis::Script,
    pub(super) force: redis::Script,
    pub(super) restore: redis::Script,
    /// Each script's code, to load it into a server that lost it.
    codes: [String; 6],
}

impl Scripts {
    /// The scripts that announce transitions with `PUBLISH` (one server, Sentinel).
    pub(super) fn new() -> Self {
        Self::publishing_with("PUBLISH")
    }

    /// The scripts that announce transitions with `SPUBLISH`, to the shard of the
    /// channel's slot only (Redis Cluster).
    #[cfg(feature = "redis-cluster")]
    pub(super) fn sharded() -> Self {
        Self::publishing_with("SPUBLISH")
    }

    fn publishing_with(command: &str) -> Self {
        let codes = [VOTE, ACQUIRE, REPORT, SNAPSHOT, FORCE, RESTORE]
            .map(|body| format!("local PUBLISH = '{command}'\n{PRELUDE}{body}"));
        let script = |i: usize| redis::Script::new(&codes[i]);
        Scripts {
            vote: script(0),
            acquire: script(1),
            report: script(2),
            snapshot: script(3),
            force: script(4),
            restore: script(5),
            codes,
        }
    }

    /// The script that answers `request`.
    pub(super) fn of(&self, request: &super::replica::Request) -> &redis::Script {
        use super::replica::Request;
        match request {
            Request::Force(_) => &self.force,
            Request::Vote(_) => &self.vote,
            Request::Report(..) => &self.report,
            Request::Acquire(_) => &self.acquire,
            Request::Snapshot => &self.snapshot,
            Request::Restore(_) => &self.restore,
        }
    }

    /// Every script's code.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(super) fn codes(&self) -> &[String] {
        &self.codes
    }
}
