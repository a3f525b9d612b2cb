// Session history: keeps each row's status, retries, stages and duration
// current from the list stream, and reconnects by itself when it drops.
(function () {
  "use strict";

  const table = document.getElementById("sessions");
  const indicator = document.getElementById("connection");
  if (!table) {
    return;
  }
  const body = table.tBodies[0];
  const liveInsert = table.dataset.liveInsert === "true";
  let retryDelay = 1000;

  function setState(state, text) {
    indicator.dataset.state = state;
    indicator.textContent = text;
  }

  function cell(text, field) {
    const td = document.createElement("td");
    td.textContent = text;
    if (field) {
      td.dataset.field = field;
    }
    return td;
  }

  function newRow(session) {
    const row = document.createElement("tr");
    row.dataset.sessionId = session.id;
    const link = document.createElement("a");
    link.href = session.url;
    link.textContent = session.short_id;
    const first = document.createElement("td");
    first.appendChild(link);
    const prompt = cell(session.prompt);
    prompt.className = "prompt";
    row.append(
      first,
      prompt,
      cell("", "status"),
      cell("", "retries"),
      cell("", "stages"),
      cell("", "duration"),
      cell(session.created_at)
    );
    const empty = body.querySelector("tr.no-match");
    if (empty) {
      empty.remove();
    }
    body.insertBefore(row, body.firstChild);
    return row;
  }

  function update(session) {
    let row = body.querySelector(`tr[data-session-id="${session.id}"]`);
    if (!row) {
      if (!liveInsert) {
        return;
      }
      row = newRow(session);
    }
    const status = row.querySelector('[data-field="status"]');
    status.textContent = session.status_display;
    status.className = `status status-${session.status}`;
    row.querySelector('[data-field="retries"]').textContent = session.retries;
    row.querySelector('[data-field="stages"]').textContent =
      `${session.stages_done}/${session.stages_total}`;
    row.querySelector('[data-field="duration"]').textContent = session.duration;
    row.classList.remove("updated");
    void row.offsetWidth;
    row.classList.add("updated");
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(
      `${scheme}//${window.location.host}${table.dataset.streamUrl}`
    );
    socket.addEventListener("open", function () {
      retryDelay = 1000;
      setState("live", "Live");
    });
    socket.addEventListener("message", function (message) {
      const data = JSON.parse(message.data);
      if (data.type === "session") {
        update(data.session);
      }
    });
    socket.addEventListener("close", function (closed) {
      if (closed.code === 4403) {
        setState("disconnected", "Disconnected: log in again to see live updates.");
        return;
      }
      setState("disconnected", "Disconnected; reconnecting…");
      window.setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 15000);
    });
  }

  connect();
})();
