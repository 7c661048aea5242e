// defectlab in-browser labeling surface (st.components.v2; no build step, no network).
//
// The server sends a window of the queue (items with their images as data URLs, decoded ahead of
// time here), the translated texts and the acknowledgements of earlier decisions. A key shows the
// next item at once from that window; the decision goes into an outbox that is sent to the server
// as the component's state ("sync"), retried until acknowledged, kept in localStorage until then,
// and shown as "unsaved" meanwhile. User text is only ever written with textContent.

const WINDOW_BEHIND = 30; // decoded images kept behind the current position (Back)
const RETRY_MS = 2500;
const STALL_MS = 5000;
const THROTTLE_MS = 300; // sends unanswered this long: ask for a whole-page rerun
const MAX_SEND = 200;

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function fmt(template, args) {
  return String(template || "").replace(/\{(\w+)\}/g, (m, k) => (k in args ? String(args[k]) : m));
}

function newId() {
  const a = new Uint8Array(12);
  crypto.getRandomValues(a);
  return Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
}

function typing(ev) {
  const target = (ev.composedPath && ev.composedPath()[0]) || ev.target;
  if (!target || !target.tagName) return false;
  const tag = target.tagName.toLowerCase();
  if (tag === "textarea" || tag === "select" || target.isContentEditable) return true;
  // choice controls (a view radio just clicked, a checkbox) keep focus without taking text: keys still label
  return tag === "input" && !["range", "checkbox", "radio", "button"].includes((target.type || "").toLowerCase());
}

function loadJSON(key, fallback) {
  try {
    const raw = window.localStorage.getItem(key);
    return raw ? JSON.parse(raw) : fallback;
  } catch (e) {
    return fallback;
  }
}

function saveJSON(key, value) {
  try {
    window.localStorage.setItem(key, JSON.stringify(value));
  } catch (e) {
    /* private mode or full: the outbox still lives in memory */
  }
}

const registry = (window.__defectlabLabeler = window.__defectlabLabeler || { instances: {}, timings: [] });

class Labeler {
  constructor(parent) {
    this.parent = parent;
    this.cid = newId();
    this.seq = 0;
    this.epoch = null;
    this.items = new Map(); // position -> item
    this.imgs = new Map(); // item id -> decoded HTMLImageElement
    this.plates = new Map(); // plate id -> {img, w, h}
    this.outbox = []; // unacknowledged operations, oldest first
    this.ledger = new Map(); // item id -> {label, status, message, op, version}
    this.pos = 0;
    this.lastSent = 0;
    this.firstUnanswered = null;
    this.shownAt = performance.now();
    this.pendingTiming = null;
    this.selected = new Set();
    this.anchor = null;
    this.view = { zoom: "fit", scale: 1, x: 0, y: 0, bright: 1, contrast: 1, invert: false, context: false };
    this.build();
    this.onKey = (ev) => this.key(ev);
    window.addEventListener("keydown", this.onKey, true);
    this.onUnload = (ev) => {
      if (this.outbox.length) {
        ev.preventDefault();
        ev.returnValue = "";
      }
    };
    window.addEventListener("beforeunload", this.onUnload);
    this.timer = window.setInterval(() => this.retry(), 1000);
  }

  destroy() {
    window.removeEventListener("keydown", this.onKey, true);
    window.removeEventListener("beforeunload", this.onUnload);
    window.clearInterval(this.timer);
    if (this.data) delete registry.instances[this.data.mode];
  }

  // -- DOM ------------------------------------------------------------------------------------
  build() {
    const root = el("div", "dl-root");
    root.tabIndex = -1;
    this.root = root;
    this.head = el("div", "dl-head");
    this.progress = el("span", "dl-progress");
    this.saved = el("span", "dl-saved");
    this.saved.dataset.testid = "dl-saved";
    this.head.append(this.progress, this.saved);
    this.tools = el("div", "dl-tools");
    this.body = el("div", "dl-body");
    this.stage = el("div", "dl-stage");
    this.canvas = el("div", "dl-canvas");
    this.holder = el("div", "dl-holder");
    this.box = el("div", "dl-box");
    this.canvas.append(this.holder, this.box);
    this.stage.append(this.canvas);
    this.placeholder = el("div", "dl-placeholder");
    this.stage.append(this.placeholder);
    this.side = el("div", "dl-side");
    this.caption = el("div", "dl-caption");
    this.info = el("div", "dl-info");
    this.status = el("div", "dl-status");
    this.status.dataset.testid = "dl-status";
    this.keysBox = el("div", "dl-keys");
    this.hint = el("div", "dl-hint");
    this.side.append(this.info, this.status, this.keysBox, this.hint);
    this.grid = el("div", "dl-grid");
    this.help = el("div", "dl-help");
    this.help.hidden = true;
    this.body.append(this.stage, this.side);
    root.append(this.head, this.tools, this.body, this.grid, this.caption, this.help);
    this.parent.append(root);
    this.wireStage();
  }

  buildTools() {
    const T = this.data.text;
    this.tools.replaceChildren();
    const range = (label, min, max, step, get, set, testid) => {
      const wrap = el("label", "dl-range");
      wrap.append(el("span", null, label));
      const input = el("input");
      Object.assign(input, { type: "range", min, max, step });
      input.dataset.testid = testid;
      input.value = get();
      input.addEventListener("input", () => {
        set(parseFloat(input.value));
        this.applyFilter();
        this.saveView();
      });
      wrap.append(input);
      return [wrap, input];
    };
    const button = (label, testid, fn) => {
      const b = el("button", "dl-tool", label);
      b.type = "button";
      b.dataset.testid = testid;
      b.addEventListener("click", (e) => {
        e.preventDefault();
        fn();
      });
      return b;
    };
    const [bw, bi] = range(T.brightness, 0.2, 3, 0.05, () => this.view.bright, (v) => (this.view.bright = v), "dl-brightness");
    const [cw, ci] = range(T.contrast, 0.2, 4, 0.05, () => this.view.contrast, (v) => (this.view.contrast = v), "dl-contrast");
    this.brightInput = bi;
    this.contrastInput = ci;
    this.tools.append(bw, cw);
    if (this.data.view !== "grid") {
      this.tools.append(
        button(T.invert, "dl-invert", () => this.toggleInvert()),
        button(T.fit, "dl-fit", () => this.setZoom("fit")),
        button(T.one_to_one, "dl-one", () => this.setZoom("one")),
        button(T.reset, "dl-reset", () => this.resetView()),
      );
      this.contextBtn = button(T.plate_context, "dl-context", () => this.toggleContext());
      this.tools.append(this.contextBtn);
    }
    this.tools.append(button("?", "dl-help-btn", () => this.toggleHelp()));
    this.zoomLabel = el("span", "dl-zoom");
    this.zoomLabel.dataset.testid = "dl-zoom";
    this.tools.append(this.zoomLabel);
  }

  buildKeys() {
    this.keysBox.replaceChildren();
    for (const k of this.data.keys) {
      const b = el("button", "dl-key" + (k.primary ? " dl-primary" : ""));
      b.type = "button";
      b.append(el("kbd", null, k.key === "Enter" ? "↵" : k.key), el("span", null, k.text));
      b.addEventListener("click", (e) => {
        e.preventDefault();
        this.act(k, e.timeStamp);
      });
      this.keysBox.append(b);
    }
    const T = this.data.text;
    const help = [];
    for (const k of this.data.keys) help.push([k.key === "Enter" ? "↵" : k.key, k.text]);
    for (const [key, text] of this.data.nav_keys || []) help.push([key, text]);
    const viewKeys = this.data.view === "grid" ? T.help_grid : T.help_view;
    for (const line of viewKeys || []) help.push(line);
    this.help.replaceChildren(el("h4", null, T.help_title));
    const table = el("table");
    for (const [key, text] of help) {
      const tr = el("tr");
      const td = el("td");
      td.append(el("kbd", null, key));
      tr.append(td, el("td", null, text));
      table.append(tr);
    }
    this.help.append(table, el("p", "dl-muted", T.help_close));
  }

  // -- data from the server ---------------------------------------------------------------------
  update(data) {
    const first = !this.data;
    const newEpoch = data.epoch !== this.epoch;
    if (typeof data.seq === "number" && data.seq >= this.seq) {
      this.answeredSeq = data.seq;
      this.firstUnanswered = null;
    } else if (typeof data.seq === "number") {
      this.answeredSeq = Math.max(this.answeredSeq || 0, data.seq);
      this.firstUnanswered = this.firstUnanswered === null ? null : performance.now();
    }
    this.data = data;
    registry.instances[data.mode] = this;
    if (first) {
      this.storageKey = "defectlab.outbox." + data.storage_key;
      this.viewKey = "defectlab.view." + data.user_key;
      Object.assign(this.view, loadJSON(this.viewKey, {}), { zoom: "fit", context: false });
      for (const op of loadJSON(this.storageKey, [])) {
        if (op && op.op && !this.outbox.some((o) => o.op === op.op)) {
          this.outbox.push(op);
          this.ledger.set(op.item, { label: op.label || op.action, status: "pending", op: op.op });
        }
      }
      this.root.classList.toggle("dl-grid-mode", data.view === "grid");
      this.buildTools();
      this.buildKeys();
    }
    if (newEpoch) {
      this.epoch = data.epoch;
      this.items.clear();
      this.pos = data.start_pos || 0;
      this.selected.clear();
    }
    for (const it of data.items || []) {
      const old = this.items.get(it.pos);
      if (old && old.id === it.id) it.version = old.version; // the version seen when it arrived
      this.items.set(it.pos, it);
      if (it.img && !this.imgs.has(it.id)) this.prefetch(it.id, it.img);
    }
    for (const [id, p] of Object.entries(data.plates || {})) {
      if (!this.plates.has(Number(id))) {
        const img = new Image();
        img.decoding = "async";
        img.src = p.img;
        this.plates.set(Number(id), { img, w: p.w, h: p.h });
      }
    }
    this.applyAcks(data.acks || []);
    if (newEpoch && data.view !== "grid") this.skipDecided();
    this.render();
    const missing = this.missingImages();
    if (first || newEpoch || missing.length) this.send(missing); // the outbox: on a key, or by retry()
  }

  prefetch(id, src) {
    const img = new Image();
    img.decoding = "async";
    img.draggable = false;
    img.src = src;
    img.dataset.item = id;
    img.ready = img.decode().catch(() => null);
    this.imgs.set(id, img);
  }

  missingImages() {
    const out = [];
    for (const [pos, it] of this.items) {
      if (pos >= this.pos - 1 && pos < this.pos + this.windowSize() && !this.imgs.has(it.id)) out.push(it.id);
    }
    return out;
  }

  windowSize() {
    return this.data.window || 20;
  }

  applyAcks(acks) {
    let changed = false;
    for (const a of acks) {
      const k = this.outbox.findIndex((o) => o.op === a.op);
      if (k < 0) continue;
      const op = this.outbox[k];
      this.outbox.splice(k, 1);
      changed = true;
      const entry = this.ledger.get(op.item) || {};
      if (entry.op === op.op || !entry.op) {
        entry.status = a.status === "saved" ? "saved" : a.status;
        entry.message = a.text || "";
        entry.version = a.version;
        if (a.status !== "saved") entry.label = null;
        this.ledger.set(op.item, entry);
      }
      if (a.version !== null && a.version !== undefined) {
        for (const it of this.items.values()) if (it.id === op.item) it.version = a.version;
      }
    }
    if (changed) this.persist();
  }

  persist() {
    saveJSON(this.storageKey, this.outbox);
  }

  send(missing) {
    if (this.firstUnanswered === null || this.firstUnanswered === undefined) this.firstUnanswered = performance.now();
    this.seq += 1;
    this.lastSent = performance.now();
    const have = [];
    for (const id of this.imgs.keys()) have.push(id);
    this.setState("sync", {
      cid: this.cid,
      seq: this.seq,
      epoch: this.epoch,
      pos: this.pos,
      ops: this.outbox.slice(0, MAX_SEND),
      have: have.slice(-200),
      need: (missing || []).slice(0, 50),
    });
  }

  // After a key the send waits for the next frame (the new item is painted first) and happens at
  // most every THROTTLE_MS: fewer reruns, and none of their work in the way of the next key.
  scheduleSend() {
    if (this.sendTimer) return;
    const wait = Math.max(0, THROTTLE_MS - (performance.now() - this.lastSent));
    this.sendTimer = true;
    requestAnimationFrame(() => {
      window.setTimeout(() => {
        this.sendTimer = null;
        this.send(this.missingImages());
      }, wait);
    });
  }

  retry() {
    const now = performance.now();
    if ((this.outbox.length || this.waiting) && now - this.lastSent > RETRY_MS) this.send(this.missingImages());
    // sends unanswered for long (a restarted server drops the fragment's reruns): rerun the whole page
    const unanswered = this.seq > (this.answeredSeq || 0) && this.firstUnanswered !== null;
    if (unanswered && now - this.firstUnanswered > STALL_MS && now - (this.lastPoke || 0) > STALL_MS) {
      this.lastPoke = now;
      if (registry.sentinel) registry.sentinel();
    }
  }

  // -- decisions --------------------------------------------------------------------------------
  visible() {
    return this.root.isConnected && this.root.offsetParent !== null && this.root.getClientRects().length > 0;
  }

  key(ev) {
    if (!this.data || ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev) || !this.visible()) return;
    const k = ev.key;
    if (!this.help.hidden && (k === "Escape" || k === "?")) {
      this.toggleHelp();
      ev.preventDefault();
      return;
    }
    if (k === "?") {
      this.toggleHelp();
      ev.preventDefault();
      return;
    }
    const upper = k.length === 1 ? k.toUpperCase() : k;
    const decision = this.data.keys.find((d) => d.key === upper);
    if (decision) {
      ev.preventDefault();
      ev.stopPropagation();
      this.act(decision, ev.timeStamp);
      return;
    }
    if (this.navKey(upper, ev)) {
      ev.preventDefault();
      ev.stopPropagation();
    }
  }

  navKey(k, ev) {
    const grid = this.data.view === "grid";
    if (grid) {
      if (k === "A") this.selectAll(true);
      else if (k === "N" || k === "Escape") this.selectAll(false);
      else if (k === "PageDown" || k === "ArrowRight") this.page(1);
      else if (k === "PageUp" || k === "ArrowLeft") this.page(-1);
      else if (k === "R") this.resetView();
      else if (k === "[" || k === "]" || k === ";" || k === "'") this.adjust(k);
      else return false;
      return true;
    }
    if (k === "S" || k === "ArrowRight") this.move(1, ev.timeStamp);
    else if (k === "B" || k === "ArrowLeft") this.move(-1, ev.timeStamp);
    else if (k === "Z" && this.data.mode === "label") this.undo(ev.timeStamp);
    else if (k === "I") this.toggleInvert();
    else if (k === "R") this.resetView();
    else if (k === "C") this.toggleContext();
    else if (k === "F") this.setZoom("fit");
    else if (k === "X") this.setZoom("one");
    else if (k === "+" || k === "=") this.zoomBy(1.25);
    else if (k === "-" || k === "_") this.zoomBy(0.8);
    else if (k === "[" || k === "]" || k === ";" || k === "'") this.adjust(k);
    else return false;
    return true;
  }

  current() {
    return this.items.get(this.pos);
  }

  makeOp(item, decision) {
    const prev = this.ledger.get(item.id);
    const op = {
      op: newId(),
      item: item.id,
      kind: this.data.op_kind,
      version: item.version === undefined ? null : item.version,
      seconds: Math.round((performance.now() - this.shownAt) / 10) / 100,
    };
    if (decision.label) op.label = decision.label;
    if (decision.action) op.action = decision.action;
    if (prev && prev.op && (prev.status === "pending" || prev.status === "saved")) op.after = prev.op;
    if (prev && prev.status === "saved" && prev.version) op.version = prev.version;
    return op;
  }

  enqueue(op, shownLabel) {
    this.outbox.push(op);
    this.ledger.set(op.item, { label: shownLabel, status: "pending", op: op.op });
    this.persist();
  }

  act(decision, t0) {
    if (this.data.view === "grid") return this.actGrid(decision);
    const item = this.current();
    if (!item) return;
    this.enqueue(this.makeOp(item, decision), decision.text);
    this.move(1, t0, true);
    this.scheduleSend();
  }

  undo(t0) {
    // the newest decision of this page: retract it (or drop it while still unsent) and go back to it
    let last = null;
    for (const [id, entry] of this.ledger) if (entry.op && entry.status !== "undone") last = [id, entry];
    if (!last) return;
    const [id, entry] = last;
    const op = { op: newId(), item: id, kind: "undo", target: entry.op };
    this.outbox.push(op);
    this.ledger.set(id, { label: null, status: "undone", op: null });
    this.ledger.delete(id);
    this.persist();
    for (const [pos, it] of this.items) {
      if (it.id === id) {
        this.pos = pos;
        break;
      }
    }
    this.show(t0);
    this.scheduleSend();
  }

  skipDecided() {
    let guard = 0;
    while (guard++ < 1000) {
      const it = this.items.get(this.pos);
      if (!it || !this.ledger.has(it.id)) break;
      this.pos += 1;
    }
  }

  move(step, t0, advancing) {
    const total = this.data.total;
    this.pos = Math.max(0, Math.min(this.pos + step, total));
    if (advancing) this.skipDecided();
    this.show(t0);
    this.evict();
    if (step !== 0 && !advancing) this.scheduleSend();
  }

  evict() {
    const keep = new Set();
    for (const [pos, it] of this.items) {
      if (pos < this.pos - WINDOW_BEHIND) this.items.delete(pos);
      else keep.add(it.id);
    }
    for (const id of this.imgs.keys()) if (!keep.has(id)) this.imgs.delete(id);
  }

  // -- drawing ----------------------------------------------------------------------------------
  render() {
    if (this.data.view === "grid") return this.renderGrid();
    const item = this.current();
    if (item && !this.waiting && this.shownItem === item.id && this.pos < this.data.total) {
      this.renderSaved(); // the same item stays on screen: only the counters and its status change
      this.renderStatus(item);
      return undefined;
    }
    return this.show(null);
  }

  show(t0) {
    const T = this.data.text;
    const total = this.data.total;
    const item = this.current();
    this.renderSaved();
    if (this.pos >= total) {
      this.progress.textContent = fmt(T.progress, { pos: total, n: total });
      this.placeholder.textContent = fmt(T.done, { n: total });
      this.placeholder.hidden = false;
      this.holder.replaceChildren();
      this.box.hidden = true;
      this.info.replaceChildren();
      this.caption.textContent = "";
      this.status.textContent = "";
      this.waiting = false;
      return;
    }
    this.progress.textContent = fmt(T.progress, { pos: this.pos + 1, n: total });
    const img = item && (this.data.view !== "grid") && this.imgs.get(item.id);
    if (!item || !img) {
      this.placeholder.textContent = T.loading;
      this.placeholder.hidden = false;
      this.holder.replaceChildren();
      this.waiting = true;
      this.pendingTiming = t0 ? { t0, pos: this.pos } : this.pendingTiming;
      return;
    }
    this.waiting = false;
    this.placeholder.hidden = true;
    const shown = this.shownItem !== item.id;
    this.shownItem = item.id;
    if (shown) this.shownAt = performance.now();
    this.drawImage(item, img);
    this.renderInfo(item);
    const start = t0 || (this.pendingTiming && this.pendingTiming.pos === this.pos ? this.pendingTiming.t0 : null);
    this.pendingTiming = null;
    if (start) {
      img.ready.then(() =>
        requestAnimationFrame(() => {
          registry.timings.push({ mode: this.data.mode, item: item.id, ms: performance.now() - start });
          if (registry.timings.length > 1000) registry.timings.splice(0, 500);
        }),
      );
    }
  }

  drawImage(item, img) {
    const plate = this.view.context && item.plate ? this.plates.get(item.plate) : null;
    if (this.contextBtn) {
      this.contextBtn.disabled = !item.plate;
      this.contextBtn.classList.toggle("dl-on", !!plate);
    }
    if (plate) {
      this.holder.replaceChildren(plate.img);
      this.natural = [plate.w, plate.h];
      const [x0, y0, x1, y1] = item.box;
      Object.assign(this.box.style, { left: x0 + "px", top: y0 + "px", width: x1 - x0 + "px", height: y1 - y0 + "px" });
      this.box.hidden = false;
      plate.img.style.width = plate.w + "px";
      plate.img.style.height = plate.h + "px";
    } else {
      if (this.holder.firstChild !== img) this.holder.replaceChildren(img);
      this.natural = [item.w, item.h];
      img.style.width = item.w + "px";
      img.style.height = item.h + "px";
      this.box.hidden = true;
    }
    this.layout();
    this.applyFilter();
  }

  renderInfo(item) {
    this.caption.textContent = item.caption || "";
    const rows = [];
    for (const line of item.lines || []) rows.push(el("div", "dl-line", line));
    this.info.replaceChildren(...rows);
    this.renderStatus(item);
    for (const b of this.keysBox.children) b.classList.remove("dl-suggested");
    if (item.suggested_key) {
      const k = this.data.keys.findIndex((d) => d.key === item.suggested_key);
      if (k >= 0) this.keysBox.children[k].classList.add("dl-suggested");
    }
    this.hint.textContent = item.hint || "";
  }

  renderStatus(item) {
    const T = this.data.text;
    const entry = this.ledger.get(item.id);
    this.status.className = "dl-status";
    if (!entry) {
      this.status.textContent = "";
    } else if (entry.status === "pending") {
      this.status.textContent = fmt(T.pending_item, { label: entry.label || "" });
      this.status.classList.add("dl-pending");
    } else if (entry.status === "saved") {
      this.status.textContent = fmt(T.saved_item, { label: entry.label || "" });
      this.status.classList.add("dl-ok");
    } else {
      this.status.textContent = entry.message || T.error;
      this.status.classList.add(entry.status === "conflict" ? "dl-conflict" : "dl-error");
    }
  }

  renderSaved() {
    const T = this.data.text;
    const n = this.outbox.length;
    const conflicts = [...this.ledger.values()].filter((e) => e.status === "conflict" || e.status === "error").length;
    this.saved.className = "dl-saved " + (n ? "dl-pending" : "dl-ok");
    this.saved.dataset.pending = String(n);
    let text = n ? fmt(T.unsaved, { n }) : T.all_saved;
    if (conflicts) text += " · " + fmt(T.conflicts, { n: conflicts });
    this.saved.textContent = text;
  }

  // -- looking: zoom, pan, brightness, contrast, invert, plate context ------------------------------
  wireStage() {
    this.stage.addEventListener(
      "wheel",
      (ev) => {
        ev.preventDefault();
        const r = this.stage.getBoundingClientRect();
        this.zoomBy(ev.deltaY < 0 ? 1.2 : 1 / 1.2, ev.clientX - r.left, ev.clientY - r.top);
      },
      { passive: false },
    );
    let drag = null;
    this.stage.addEventListener("pointerdown", (ev) => {
      drag = { x: ev.clientX, y: ev.clientY, vx: this.view.x, vy: this.view.y };
      this.stage.setPointerCapture(ev.pointerId);
      this.stage.classList.add("dl-dragging");
    });
    this.stage.addEventListener("pointermove", (ev) => {
      if (!drag) return;
      this.view.x = drag.vx + ev.clientX - drag.x;
      this.view.y = drag.vy + ev.clientY - drag.y;
      if (this.view.zoom === "fit") this.view.zoom = "free";
      this.transform();
    });
    const end = () => {
      drag = null;
      this.stage.classList.remove("dl-dragging");
    };
    this.stage.addEventListener("pointerup", end);
    this.stage.addEventListener("pointercancel", end);
  }

  layout() {
    const [w, h] = this.natural || [1, 1];
    const sw = this.stage.clientWidth || 600;
    const sh = this.stage.clientHeight || 480;
    if (this.view.zoom === "fit") this.view.scale = Math.min(sw / w, sh / h);
    else if (this.view.zoom === "one") this.view.scale = 1;
    if (this.view.zoom !== "free") {
      this.view.x = (sw - w * this.view.scale) / 2;
      this.view.y = (sh - h * this.view.scale) / 2;
    }
    this.transform();
  }

  transform() {
    const v = this.view;
    this.canvas.style.transform = `translate(${v.x}px, ${v.y}px) scale(${v.scale})`;
    this.canvas.classList.toggle("dl-pixelated", v.scale >= 1);
    if (this.zoomLabel) this.zoomLabel.textContent = Math.round(v.scale * 100) + "%";
    this.root.dataset.zoom = String(v.scale);
  }

  zoomBy(factor, cx, cy) {
    const v = this.view;
    const sw = this.stage.clientWidth || 600;
    const sh = this.stage.clientHeight || 480;
    cx = cx === undefined ? sw / 2 : cx;
    cy = cy === undefined ? sh / 2 : cy;
    const scale = Math.min(Math.max(v.scale * factor, 0.05), 64);
    v.x = cx - ((cx - v.x) * scale) / v.scale;
    v.y = cy - ((cy - v.y) * scale) / v.scale;
    v.scale = scale;
    v.zoom = "free";
    this.transform();
  }

  setZoom(mode) {
    this.view.zoom = mode;
    this.layout();
  }

  applyFilter() {
    const v = this.view;
    const filter = `brightness(${v.bright}) contrast(${v.contrast})` + (v.invert ? " invert(1)" : "");
    this.holder.style.filter = filter;
    this.grid.style.setProperty("--dl-filter", filter);
    this.root.dataset.filter = filter;
    if (this.brightInput) this.brightInput.value = v.bright;
    if (this.contrastInput) this.contrastInput.value = v.contrast;
  }

  adjust(k) {
    const v = this.view;
    if (k === "[") v.bright = Math.max(0.2, v.bright - 0.1);
    if (k === "]") v.bright = Math.min(3, v.bright + 0.1);
    if (k === ";") v.contrast = Math.max(0.2, v.contrast - 0.1);
    if (k === "'") v.contrast = Math.min(4, v.contrast + 0.1);
    this.applyFilter();
    this.saveView();
  }

  toggleInvert() {
    this.view.invert = !this.view.invert;
    this.applyFilter();
    this.saveView();
  }

  toggleContext() {
    const item = this.current();
    if (!item || !item.plate) return;
    this.view.context = !this.view.context;
    this.view.zoom = "fit";
    this.show(null);
  }

  resetView() {
    Object.assign(this.view, { zoom: "fit", bright: 1, contrast: 1, invert: false });
    this.applyFilter();
    this.saveView();
    if (this.data.view !== "grid") this.layout();
  }

  saveView() {
    const v = this.view;
    saveJSON(this.viewKey, { bright: v.bright, contrast: v.contrast, invert: v.invert });
  }

  toggleHelp() {
    this.help.hidden = !this.help.hidden;
  }

  // -- grid -------------------------------------------------------------------------------------
  renderGrid() {
    const T = this.data.text;
    const size = this.data.page_size || 24;
    const total = this.data.total;
    this.body.hidden = true;
    this.renderSaved();
    const page = Math.floor(this.pos / size);
    const pages = Math.max(1, Math.ceil(total / size));
    this.progress.textContent = fmt(T.grid_page, { page: page + 1, pages, n: total, sel: this.selected.size });
    const tiles = [];
    this.waiting = false;
    for (let p = page * size; p < Math.min((page + 1) * size, total); p++) {
      const it = this.items.get(p);
      const tile = el("div", "dl-tile");
      tile.dataset.pos = p;
      if (!it) {
        tile.append(el("div", "dl-tile-empty", T.loading));
        this.waiting = true;
        tiles.push(tile);
        continue;
      }
      tile.dataset.item = it.id;
      const img = this.imgs.get(it.id);
      if (img) {
        const copy = img.cloneNode();
        copy.draggable = false;
        tile.append(copy);
      } else {
        tile.append(el("div", "dl-tile-empty", T.loading));
        this.waiting = true;
      }
      const entry = this.ledger.get(it.id);
      let tag = String(p + 1);
      if (entry && entry.label) tag += " · " + entry.label;
      else if (it.label_text) tag += " · " + it.label_text;
      const cap = el("div", "dl-tile-cap", tag);
      if (entry) cap.classList.add("dl-" + entry.status);
      if (entry && (entry.status === "conflict" || entry.status === "error")) cap.title = entry.message || "";
      tile.append(cap);
      if (this.selected.has(p)) tile.classList.add("dl-selected");
      tile.addEventListener("click", (ev) => this.clickTile(p, ev));
      tiles.push(tile);
    }
    this.grid.replaceChildren(...tiles);
    const last = [...this.ledger.values()].reverse().find((e) => e.status === "conflict" || e.status === "error");
    this.caption.textContent = last ? last.message || "" : T.grid_help;
  }

  clickTile(p, ev) {
    if (ev.shiftKey && this.anchor !== null) {
      const [a, b] = [Math.min(this.anchor, p), Math.max(this.anchor, p)];
      for (let k = a; k <= b; k++) if (this.items.has(k)) this.selected.add(k);
    } else if (ev.ctrlKey || ev.metaKey) {
      if (this.selected.has(p)) this.selected.delete(p);
      else this.selected.add(p);
      this.anchor = p;
    } else {
      if (this.selected.has(p) && this.selected.size === 1) this.selected.clear();
      else {
        this.selected.clear();
        this.selected.add(p);
      }
      this.anchor = p;
    }
    this.renderGrid();
  }

  selectAll(on) {
    const size = this.data.page_size || 24;
    const page = Math.floor(this.pos / size);
    this.selected.clear();
    if (on) for (let p = page * size; p < Math.min((page + 1) * size, this.data.total); p++) if (this.items.has(p)) this.selected.add(p);
    this.renderGrid();
  }

  page(step) {
    const size = this.data.page_size || 24;
    const pages = Math.max(1, Math.ceil(this.data.total / size));
    const page = Math.min(Math.max(Math.floor(this.pos / size) + step, 0), pages - 1);
    this.pos = page * size;
    this.selected.clear();
    this.anchor = null;
    this.renderGrid();
    this.scheduleSend();
  }

  actGrid(decision) {
    if (!this.selected.size) {
      this.caption.textContent = this.data.text.none_selected;
      return;
    }
    const seconds = (performance.now() - this.shownAt) / 1000 / this.selected.size;
    for (const p of [...this.selected].sort((a, b) => a - b)) {
      const item = this.items.get(p);
      if (!item) continue;
      const op = this.makeOp(item, decision);
      op.seconds = Math.round(seconds * 100) / 100;
      this.enqueue(op, decision.text);
    }
    this.shownAt = performance.now();
    this.selected.clear();
    this.anchor = null;
    this.renderGrid();
    this.scheduleSend();
  }

  setState(name, value) {
    this.setStateValue(name, value);
  }
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  if (data && data.sentinel) {
    // outside the fragment: setting its state reruns the whole page (see defectlab/ui/labeler.py)
    registry.sentinel = () => setStateValue("ping", Date.now());
    return undefined;
  }
  let labeler = parentElement.__defectlabLabeler;
  if (!labeler) {
    labeler = new Labeler(parentElement);
    parentElement.__defectlabLabeler = labeler;
  }
  labeler.setStateValue = setStateValue;
  if (data) labeler.update(data);
  return () => {
    labeler.destroy();
    parentElement.__defectlabLabeler = null;
  };
}
