// The chat page's client. The protocol is documented at the top of examples/chat.rs.
// Query parameters: ?transport=polling (or websocket) picks the transport;
// ?name=ann fills in the nickname.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const transport = params.get("transport");

  const options = { reconnectionDelay: 500, reconnectionDelayMax: 3000 };
  if (transport === "polling" || transport === "websocket") options.transports = [transport];
  const socket = io(options);

  let me = null;          // my nickname once joined
  let joinedOnce = false; // history is shown only on the first join of this page
  let everConnected = false;
  let lastItem = null;    // for grouping consecutive messages of one sender

  // ---------- connection status ----------

  const STATUS_TEXT = {
    connecting: "Connecting…",
    connected: "Connected",
    reconnecting: "Reconnecting…",
    disconnected: "Disconnected",
  };

  function setStatus(status) {
    $("status").dataset.status = status;
    $("status-text").textContent = STATUS_TEXT[status];
    updateComposer();
  }

  function showTransport() {
    const engine = socket.io.engine;
    $("transport").textContent = engine && engine.transport ? "via " + engine.transport.name : "—";
  }

  socket.on("connect", () => {
    const wasConnected = everConnected;
    everConnected = true;
    setStatus("connected");
    showTransport();
    if (me) {
      // A reconnection is a new socket (and maybe a restarted server): join again.
      join(me, { silent: true });
      if (wasConnected) notice("Reconnected.");
    }
  });

  socket.io.on("open", () => {
    socket.io.engine.on("upgrade", showTransport);
  });

  socket.on("disconnect", (reason) => {
    clearTyping();
    if (socket.active) {
      setStatus("reconnecting");
      notice("Connection lost, reconnecting…");
    } else {
      // The server sent us away ("io server disconnect"): try once more.
      setStatus("disconnected");
      setTimeout(() => socket.connect(), 1000);
    }
  });

  socket.io.on("reconnect_attempt", () => {
    setStatus(everConnected ? "reconnecting" : "connecting");
  });

  socket.on("connect_error", () => {
    setStatus(everConnected ? "reconnecting" : "connecting");
  });

  // ---------- joining ----------

  function join(name, { silent = false } = {}) {
    $("join-button").disabled = true;
    socket.timeout(5000).emit("join", name, (err, res) => {
      $("join-button").disabled = false;
      if (err) {
        if (!silent) $("join-error").textContent = "The server did not answer; try again.";
        return;
      }
      if (!res || !res.ok) {
        $("join-error").textContent = (res && res.error) || "That nickname did not work.";
        return;
      }
      me = res.name;
      try { localStorage.setItem("wshub-chat-name", me); } catch (e) { /* private mode */ }
      $("join").hidden = true;
      if (!joinedOnce) {
        joinedOnce = true;
        res.history.forEach(addMessage);
        notice(res.online === 1 ? "You are " + me + ". You are the first one here." : "You are " + me + ". " + (res.online - 1) + " other" + (res.online === 2 ? "" : "s") + " online.");
      }
      setOnline(res.online, res.users);
      updateComposer();
      $("message-input").focus();
    });
  }

  $("join-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = $("name-input").value.trim();
    if (!name) {
      $("join-error").textContent = "Please pick a nickname.";
      return;
    }
    $("join-error").textContent = "";
    if (!socket.connected) {
      $("join-error").textContent = "Not connected yet; one moment…";
      socket.once("connect", () => { $("join-error").textContent = ""; join(name); });
      return;
    }
    join(name);
  });

  const saved = params.get("name") || (function () {
    try { return localStorage.getItem("wshub-chat-name"); } catch (e) { return null; }
  })();
  if (saved) $("name-input").value = saved;

  // ---------- messages ----------

  function formatTime(ms) {
    return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  // A colour per nickname: a hash of the name picks one of a few distinct hues.
  const HUES = [265, 145, 330, 195, 100, 25, 215, 350, 40, 170, 290, 5];
  function hue(name) {
    let h = 2166136261;
    for (const c of name) h = Math.imul(h ^ c.codePointAt(0), 16777619);
    h ^= h >>> 13;
    h = Math.imul(h, 0x5bd1e995);
    h ^= h >>> 15;
    return HUES[(h >>> 0) % HUES.length];
  }

  function nearBottom() {
    const list = $("messages");
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  function append(li, { forceScroll = false } = {}) {
    const stick = forceScroll || nearBottom();
    $("messages").appendChild(li);
    if (stick) li.scrollIntoView({ block: "end" });
  }

  function addMessage(msg) {
    const mine = msg.user === me;
    const li = document.createElement("li");
    li.className = "message" + (mine ? " mine" : "");
    li.dataset.user = msg.user;
    li.dataset.time = msg.time;
    li.style.setProperty("--hue", hue(msg.user));

    const grouped = lastItem && lastItem.classList.contains("message") &&
      lastItem.dataset.user === msg.user && msg.time - Number(lastItem.dataset.time) < 120000;
    if (grouped) li.classList.add("cont");

    const avatar = document.createElement("span");
    avatar.className = "avatar";
    avatar.setAttribute("aria-hidden", "true");
    avatar.textContent = [...msg.user][0].toUpperCase();

    const bubble = document.createElement("div");
    bubble.className = "bubble";
    const head = document.createElement("div");
    head.className = "head";
    const user = document.createElement("span");
    user.className = "user";
    user.textContent = mine ? msg.user + " (you)" : msg.user;
    const time = document.createElement("time");
    time.className = "time";
    time.dateTime = new Date(msg.time).toISOString();
    time.textContent = formatTime(msg.time);
    time.title = new Date(msg.time).toLocaleString();
    head.append(user, time);
    const text = document.createElement("div");
    text.className = "text";
    text.textContent = msg.text;
    bubble.append(head, text);
    li.append(avatar, bubble);

    lastItem = li;
    append(li, { forceScroll: mine });
  }

  function notice(text, time) {
    const li = document.createElement("li");
    li.className = "notice";
    const span = document.createElement("span");
    span.textContent = text;
    li.appendChild(span);
    if (time) {
      const t = document.createElement("time");
      t.textContent = " · " + formatTime(time);
      span.appendChild(t);
    }
    lastItem = li;
    append(li);
  }

  socket.on("chat message", (msg) => {
    stopTyping(msg.user);
    addMessage(msg);
  });

  socket.on("user joined", ({ user, time }) => notice(user + " joined", time));
  socket.on("user left", ({ user, time }) => {
    stopTyping(user);
    notice(user + " left", time);
  });
  socket.on("user renamed", ({ user, from, time }) => {
    stopTyping(from);
    notice(from + " is now " + user, time);
  });
  socket.on("online", ({ online, users }) => setOnline(online, users));

  function setOnline(online, users) {
    $("online-count").textContent = online;
    const list = $("people");
    list.replaceChildren(...users.map((name) => {
      const li = document.createElement("li");
      li.style.setProperty("--hue", hue(name));
      const avatar = document.createElement("span");
      avatar.className = "avatar small";
      avatar.textContent = [...name][0].toUpperCase();
      const label = document.createElement("span");
      label.textContent = name === me ? name + " (you)" : name;
      li.append(avatar, label);
      return li;
    }));
  }

  // ---------- typing ----------

  const typers = new Map(); // user -> expiry timer

  function renderTyping() {
    const names = [...typers.keys()];
    let text = "";
    if (names.length === 1) text = names[0] + " is typing…";
    else if (names.length === 2) text = names[0] + " and " + names[1] + " are typing…";
    else if (names.length > 2) text = "Several people are typing…";
    $("typing").textContent = text;
  }

  function stopTyping(user) {
    if (typers.has(user)) {
      clearTimeout(typers.get(user));
      typers.delete(user);
      renderTyping();
    }
  }

  function clearTyping() {
    typers.forEach((t) => clearTimeout(t));
    typers.clear();
    renderTyping();
  }

  socket.on("typing", ({ user, typing }) => {
    stopTyping(user);
    if (typing) {
      typers.set(user, setTimeout(() => stopTyping(user), 6000));
      renderTyping();
    }
  });

  let typingSent = false;
  let typingTimer = null;

  function sendTyping(on) {
    if (typingSent !== on && ready()) socket.emit("typing", on);
    typingSent = on;
  }

  $("message-input").addEventListener("input", () => {
    clearTimeout(typingTimer);
    if ($("message-input").value.trim() === "") {
      sendTyping(false);
      return;
    }
    sendTyping(true);
    typingTimer = setTimeout(() => sendTyping(false), 2500);
  });

  // ---------- sending ----------

  function ready() {
    return socket.connected && me !== null;
  }

  function updateComposer() {
    const ok = ready();
    $("message-input").disabled = me === null;
    $("send").disabled = !ok;
    $("message-input").placeholder = me === null ? "Pick a nickname first…"
      : ok ? "Message as " + me + "…" : "Waiting for the connection…";
  }

  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = $("message-input");
    const text = input.value.trim();
    if (!text || !ready()) return;
    clearTimeout(typingTimer);
    typingSent = false; // the server's chat message clears our typing notice for others
    socket.emit("chat message", text);
    input.value = "";
    input.focus();
  });

  // For tests and the curious.
  window.chat = { socket, me: () => me };
})();
