// One session, live: follows the session stream from the last seq this page
// has, updates the stage table, summary, timeline and event log, and
// refreshes the server-rendered sections (actions, errors, results) when the
// session's status changes. The stage-row wording repeats monitoring/progress.py.
(function () {
  "use strict";

  const STAGES = ["intent", "planning", "search", "verify", "writing", "evaluation", "turnitin"];
  const SYMBOLS = {
    completed: "✓", skipped: "✓", running: "⟳", retrying: "⟳",
    pending: "⋯", failed: "✗", stopped: "✗",
  };
  const ACTIVE = ["queued", "running"];
  const LABELS = {
    queued: "Queued", running: "Running", completed: "Completed",
    failed: "Failed", interrupted: "Interrupted", cancelled: "Cancelled",
  };

  const root = document.getElementById("session");
  const indicator = document.getElementById("connection");
  const events = JSON.parse(document.getElementById("session-events").textContent);
  let lastSeq = Number(root.dataset.lastSeq) || 0;
  let status = root.dataset.status;
  let baseDuration = root.dataset.duration === "" ? null : Number(root.dataset.duration);
  let baseTime = Date.now();
  let retryDelay = 1000;
  let refreshing = null;
  let refreshAgain = false;

  function setConnection(state, text) {
    indicator.dataset.state = state;
    indicator.textContent = text;
  }

  function seconds(value) {
    return value === null || value === undefined ? "-" : `${value.toFixed(2)}s`;
  }

  function stateOf(event) {
    const active = ACTIVE.includes(status);
    if (event.status === "started") {
      return active ? "running" : "stopped";
    }
    if (event.status === "retrying") {
      return active ? "retrying" : "stopped";
    }
    return event.status;
  }

  function completedDetails(stage, details) {
    if (stage === "search" && "sources_count" in details) {
      return `Sources: ${details.sources_count}`;
    }
    if (stage === "verify" && "sources_verified" in details) {
      return `Verified: ${details.sources_verified}, dropped: ${details.sources_dropped || 0}`;
    }
    if (stage === "writing" && "word_count" in details) {
      return `Words: ${details.word_count}, citations: ${details.citations || 0}`;
    }
    if (stage === "evaluation" && "score" in details) {
      return `Score: ${details.score}${details.revised ? ", revised" : ""}`;
    }
    if (stage === "turnitin" && "similarity_index" in details) {
      return `Similarity: ${(Number(details.similarity_index) * 100).toFixed(1)}%`;
    }
    return "";
  }

  function describe(stage, state, event) {
    switch (state) {
      case "pending": return "Pending";
      case "running": return "Running...";
      case "retrying": return "Retrying...";
      case "stopped": return "Stopped";
      case "skipped": return "Restored from checkpoint";
      case "failed": return event.error || "Failed";
      default: return completedDetails(stage, event.details || {});
    }
  }

  function byStage() {
    const latest = {};
    const durations = {};
    const attempts = {};
    for (const event of events) {
      latest[event.stage] = event;
      if (event.duration_seconds !== null) {
        durations[event.stage] = (durations[event.stage] || 0) + event.duration_seconds;
        (attempts[event.stage] = attempts[event.stage] || []).push(event);
      }
    }
    return { latest, durations, attempts };
  }

  function renderTable() {
    const { latest, durations } = byStage();
    let done = 0;
    for (const stage of STAGES) {
      const row = document.querySelector(`#stages tr[data-stage="${stage}"]`);
      const event = latest[stage];
      const state = event ? stateOf(event) : "pending";
      if (state === "completed" || state === "skipped") {
        done += 1;
      }
      if (!row) {
        continue;
      }
      row.dataset.state = state;
      const symbol = row.querySelector('[data-field="symbol"]');
      symbol.textContent = SYMBOLS[state];
      symbol.className = `symbol state-${state}`;
      symbol.title = state;
      row.querySelector('[data-field="attempt"]').textContent = event ? event.attempt : "-";
      row.querySelector('[data-field="duration"]').textContent =
        seconds(stage in durations ? durations[stage] : null);
      row.querySelector('[data-field="details"]').textContent =
        event ? describe(stage, state, event) : "Pending";
    }
    const summary = document.getElementById("summary");
    summary.querySelector('[data-field="stages"]').textContent =
      `${done}/${STAGES.length} completed`;
    summary.querySelector('[data-field="retries"]').textContent =
      events.filter((event) => event.status === "retrying").length;
  }

  function renderOutcome() {
    const outcome = status === "completed" ? "Success"
      : ACTIVE.includes(status) ? "In Progress"
        : `No (${(LABELS[status] || status).toLowerCase()})`;
    document.querySelector('#summary [data-field="outcome"]').textContent = outcome;
    const badge = document.getElementById("session-status");
    badge.textContent = LABELS[status] || status;
    badge.className = `status status-${status}`;
  }

  function tickDuration() {
    let value = baseDuration;
    if (value !== null && status === "running") {
      value += (Date.now() - baseTime) / 1000;
    }
    document.querySelector('#summary [data-field="duration"]').textContent = seconds(value);
  }

  function renderTimeline() {
    const { latest, durations, attempts } = byStage();
    const longest = Math.max(0.001, ...Object.values(durations));
    const chart = document.getElementById("timeline");
    chart.replaceChildren();
    for (const stage of STAGES) {
      const line = document.createElement("div");
      line.className = "timeline-row";
      const label = document.createElement("span");
      label.className = "timeline-label";
      label.textContent = stage;
      const track = document.createElement("span");
      track.className = "timeline-track";
      for (const event of attempts[stage] || []) {
        const bar = document.createElement("span");
        bar.className = `timeline-bar bar-${event.status}`;
        bar.style.width = `${(100 * event.duration_seconds) / longest}%`;
        bar.title = `attempt ${event.attempt}, ${event.status}, ${seconds(event.duration_seconds)}`;
        track.appendChild(bar);
      }
      const value = document.createElement("span");
      value.className = "timeline-value";
      const retries = (attempts[stage] || []).filter((e) => e.status === "retrying").length;
      const event = latest[stage];
      let text = stage in durations ? seconds(durations[stage]) : "";
      if (retries) {
        text += ` · ${retries} retr${retries === 1 ? "y" : "ies"}`;
      }
      if (!text && event) {
        text = describe(stage, stateOf(event), event);
      }
      value.textContent = text;
      line.append(label, track, value);
      chart.appendChild(line);
    }
  }

  function appendLog(event) {
    const item = document.createElement("li");
    item.dataset.seq = event.seq;
    item.className = `event-${event.status}`;
    const time = new Date(event.timestamp).toISOString().slice(11, 19);
    let text = `#${event.seq} ${time} ${event.stage} ${event.status} (attempt ${event.attempt})`;
    if (event.duration_seconds !== null) {
      text += ` ${seconds(event.duration_seconds)}`;
    }
    if (event.error) {
      text += `: ${event.error}`;
    }
    item.textContent = text;
    document.getElementById("event-log").appendChild(item);
  }

  function onEvent(event) {
    if (event.seq <= lastSeq) {
      return;
    }
    lastSeq = event.seq;
    root.dataset.lastSeq = String(lastSeq);
    events.push(event);
    appendLog(event);
    renderTable();
    renderTimeline();
  }

  // Fetch this page again and swap in the sections the server renders. A
  // change that arrives during a fetch triggers one more fetch after it.
  function refreshFragments() {
    if (refreshing) {
      refreshAgain = true;
      return;
    }
    refreshAgain = false;
    refreshing = fetch(window.location.href, { credentials: "same-origin" })
      .then((response) => (response.ok ? response.text() : Promise.reject(response)))
      .then((html) => {
        const page = new DOMParser().parseFromString(html, "text/html");
        for (const fresh of page.querySelectorAll("[data-fragment]")) {
          const current = document.getElementById(fresh.id);
          if (current) {
            current.replaceWith(document.importNode(fresh, true));
          }
        }
        const freshRoot = page.getElementById("session");
        if (freshRoot && freshRoot.dataset.duration !== "") {
          baseDuration = Number(freshRoot.dataset.duration);
          baseTime = Date.now();
        }
      })
      .catch(() => undefined)
      .finally(() => {
        refreshing = null;
        if (refreshAgain) {
          refreshFragments();
        }
      });
  }

  function onSession(session) {
    if (session.status === status) {
      return;
    }
    status = session.status;
    root.dataset.status = status;
    if (status === "running" && baseDuration === null) {
      baseDuration = 0;
      baseTime = Date.now();
    }
    renderOutcome();
    renderTable();
    refreshFragments();
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${window.location.host}${root.dataset.streamUrl}?since=${lastSeq}`;
    const socket = new WebSocket(url);
    socket.addEventListener("open", function () {
      retryDelay = 1000;
      setConnection("live", "Live");
    });
    socket.addEventListener("message", function (message) {
      const data = JSON.parse(message.data);
      if (data.type === "event") {
        onEvent(data.event);
      } else if (data.type === "session") {
        onSession(data.session);
      }
    });
    socket.addEventListener("close", function (closed) {
      if (closed.code === 4403 || closed.code === 4404) {
        setConnection("disconnected", "Disconnected: this session is not available to you.");
        return;
      }
      setConnection("disconnected", "Disconnected; reconnecting…");
      window.setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 15000);
    });
  }

  renderTable();
  renderOutcome();
  renderTimeline();
  tickDuration();
  window.setInterval(tickDuration, 1000);
  connect();
})();
