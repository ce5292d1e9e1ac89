// paperbot web page. Hand-written, no dependencies, no build step.
// Every string that comes from papers or models is put in the page as text (textContent /
// createTextNode), never as HTML; the server also sends a strict Content-Security-Policy.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const state = {
    sessionId: null,
    busy: false,
    papers: new Map(), // id -> paper (abstracts fetched on demand)
    activeCite: null,
  };
  const KEY_STORE = "paperbot-api-key";

  // --- DOM helper: el("div", {class: "x"}, "text", childNode) ------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function safeUrl(url) {
    if (typeof url !== "string") return null;
    try {
      const parsed = new URL(url, window.location.href);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch (e) {
      return null;
    }
  }

  // --- API -------------------------------------------------------------------------------
  function headers(extra) {
    const h = Object.assign({}, extra || {});
    const key = sessionStorage.getItem(KEY_STORE);
    if (key) h["Authorization"] = "Bearer " + key;
    return h;
  }

  function askForKey() {
    return new Promise((resolve) => {
      const dialog = $("key-dialog");
      const input = $("key-input");
      input.value = "";
      dialog.addEventListener(
        "close",
        () => {
          if (input.value.trim()) sessionStorage.setItem(KEY_STORE, input.value.trim());
          resolve(Boolean(input.value.trim()));
        },
        { once: true }
      );
      dialog.showModal();
    });
  }

  async function request(path, options, retried) {
    const opts = Object.assign({}, options || {});
    opts.headers = headers(opts.headers);
    const response = await fetch(path, opts);
    if (response.status === 401 && !retried) {
      if (await askForKey()) return request(path, options, true);
    }
    return response;
  }

  async function errorText(response) {
    try {
      const data = await response.json();
      if (typeof data.detail === "string") return data.detail;
      if (Array.isArray(data.detail) && data.detail.length) {
        return data.detail.map((d) => (d.loc || []).slice(1).join(".") + ": " + d.msg).join("; ");
      }
    } catch (e) {
      /* not JSON */
    }
    return "HTTP " + response.status;
  }

  async function getJSON(path) {
    const response = await request(path);
    if (!response.ok) throw new Error(await errorText(response));
    return response.json();
  }

  async function postJSON(path, body) {
    const response = await request(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(await errorText(response));
    return response.json();
  }

  // Server-sent events over a POST body (EventSource only does GET).
  async function streamChat(body, handlers) {
    const response = await request("/api/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(await errorText(response));
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let event = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length && handlers[event]) handlers[event](JSON.parse(data.join("\n")));
      }
    }
  }

  // --- status, papers, sessions -------------------------------------------------------------
  async function loadStats() {
    const status = $("status");
    try {
      const stats = await getJSON("/api/stats");
      status.classList.remove("error");
      const hint = $("empty-hint");
      if (stats.papers === 0 && !hint) {
        $("welcome").append(el("p", { id: "empty-hint", class: "error-text",
          text: "There are no papers yet. Add a file with “Add papers from a file” on the right, " +
            "or run: paperbot ingest data/papers" }));
      } else if (stats.papers > 0 && hint) {
        hint.remove();
      }
      status.textContent =
        stats.papers + " papers · " + (stats.llm_mode === "extractive"
          ? "answers quoted from the papers (no language model; set OPENAI_BASE_URL to any " +
            "OpenAI-compatible endpoint, Ollama included, for written answers)"
          : stats.llm_mode + " model");
    } catch (e) {
      status.classList.add("error");
      status.textContent = "server error: " + e.message;
    }
  }

  function renderPaperList(items, total, label) {
    const list = $("paper-list");
    list.replaceChildren();
    for (const p of items) {
      const sub = [p.published, (p.authors || []).slice(0, 3).join(", ")].filter(Boolean);
      list.append(
        el(
          "li",
          {},
          el("button", {
            type: "button",
            class: "link",
            text: p.title,
            onclick: () => showPaper(p.id || p.paper_id, null),
          }),
          sub.length ? el("span", { class: "sub", text: sub.join(" · ") }) : null
        )
      );
    }
    $("paper-count").textContent = label || (total === items.length
      ? total + " papers"
      : "showing " + items.length + " of " + total + " papers");
  }

  async function loadPapers(q) {
    try {
      const data = await getJSON("/api/papers?limit=500&q=" + encodeURIComponent(q || ""));
      for (const p of data.papers) state.papers.set(p.id, p);
      renderPaperList(data.papers, data.total);
      return data;
    } catch (e) {
      $("paper-count").textContent = "could not list papers: " + e.message;
      return null;
    }
  }

  async function semanticSearch(q) {
    try {
      const data = await getJSON("/api/search?k=15&q=" + encodeURIComponent(q));
      const items = data.results.map((r) => ({ id: r.paper_id, title: r.title }));
      renderPaperList(items, items.length, items.length + " closest papers by meaning");
    } catch (e) {
      $("paper-count").textContent = "search failed: " + e.message;
    }
  }

  // Example questions about the two most recently added papers.
  async function showExamples() {
    const box = $("examples");
    let papers = [];
    try {
      papers = (await getJSON("/api/papers?sort=recent&limit=2")).papers;
    } catch (e) {
      /* the examples are a convenience */
    }
    box.replaceChildren();
    for (const p of papers) {
      const q = "What does “" + p.title + "” propose?";
      box.append(el("button", { type: "button", text: q, onclick: () => ask(q) }));
    }
  }

  // The upload picker offers every format the server's readers know.
  async function loadFormats() {
    try {
      const data = await getJSON("/api/formats");
      $("upload").setAttribute("accept", data.accept);
      $("upload-formats").textContent = "(" + data.formats.map((f) => f.name).join(", ") + ")";
    } catch (e) {
      /* keep the picker open to any file: the server says what it cannot read */
    }
  }

  async function removePaper(paper) {
    if (!window.confirm("Remove “" + paper.title + "” from the library? Its chunks, index " +
        "entry and cached summaries are deleted.")) return;
    const view = $("source-view");
    try {
      const response = await request("/api/papers/" + encodeURIComponent(paper.id),
        { method: "DELETE" });
      if (!response.ok) throw new Error(await errorText(response));
      state.papers.delete(paper.id);
      const done = "Removed “" + paper.title + "”.";
      view.replaceChildren(el("p", { class: "muted", text: done }));
      $("library-status").textContent = done;
      selectTab("papers");
      await loadPapers($("paper-filter").value);
      loadStats();
      showExamples();
    } catch (e) {
      view.prepend(el("p", { class: "error-text", text: "could not remove: " + e.message }));
    }
  }

  async function loadSessions() {
    try {
      const data = await getJSON("/api/sessions?limit=30");
      const select = $("session-select");
      select.replaceChildren(el("option", { value: "", text: "Previous conversations…" }));
      for (const s of data.sessions) {
        const label = s.title.length > 60 ? s.title.slice(0, 57) + "…" : s.title;
        select.append(el("option", { value: s.id, text: label + " (" + s.turns + ")" }));
      }
      select.value = data.sessions.some((s) => s.id === state.sessionId) ? state.sessionId : "";
    } catch (e) {
      /* the list is a convenience */
    }
  }

  async function openSession(id) {
    if (!id) return;
    const session = await getJSON("/api/sessions/" + encodeURIComponent(id));
    newChat();
    state.sessionId = session.id;
    $("welcome").hidden = true;
    for (const turn of session.history) {
      addUserMessage(turn.question);
      const bubble = addBotMessage();
      renderAnswer(bubble, turn.answer);
    }
    $("session-select").value = session.id;
  }

  function newChat() {
    state.sessionId = null;
    const messages = $("messages");
    for (const node of Array.from(messages.children)) {
      if (node.id !== "welcome") node.remove();
    }
    $("welcome").hidden = false;
    $("session-select").value = "";
    $("question").focus();
  }

  // --- the source panel -----------------------------------------------------------------
  function selectTab(name) {
    for (const tab of ["papers", "source"]) {
      $("tab-" + tab).setAttribute("aria-selected", String(tab === name));
      $("panel-" + tab).hidden = tab !== name;
    }
  }

  async function fetchPaper(id) {
    const known = state.papers.get(id);
    if (known && typeof known.text === "string") return known;
    const paper = await getJSON("/api/papers/" + encodeURIComponent(id));
    state.papers.set(id, paper);
    return paper;
  }

  // Show a paper's abstract; with a citation, highlight its quoted sentence (start/end offsets).
  async function showPaper(id, citation) {
    selectTab("source");
    const view = $("source-view");
    view.replaceChildren(el("p", { class: "muted", text: "Loading…" }));
    let paper;
    try {
      paper = await fetchPaper(id);
    } catch (e) {
      view.replaceChildren(el("p", { class: "error-text", text: e.message }));
      return;
    }
    const url = safeUrl(paper.url);
    const title = url
      ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: paper.title })
      : paper.title;
    const byline = [(paper.authors || []).join(", "), paper.published, paper.id].filter(Boolean);
    const abstract = paper.text || paper.abstract || ""; // full-text papers: abstract + body
    const body = el("div", { class: "abstract" });
    let mark = null;
    if (citation) {
      let start = citation.start;
      let end = citation.end;
      if (abstract.slice(start, end) !== citation.quote) {
        start = abstract.indexOf(citation.quote);
        end = start + citation.quote.length;
      }
      if (start >= 0) {
        mark = el("mark", { id: "highlight", text: abstract.slice(start, end) });
        body.append(abstract.slice(0, start), mark, abstract.slice(end));
      }
    }
    if (!mark) body.append(abstract);
    view.replaceChildren(
      el("h2", {}, title),
      el("div", { class: "byline", text: byline.join(" · ") }),
      el("button", { type: "button", id: "remove-paper", class: "secondary small-button",
        text: "Remove from library", onclick: () => removePaper(paper) }),
      citation
        ? el("p", { class: "quote-note", text: "Source [" + citation.n + "]: the highlighted sentence is the one quoted in the answer." })
        : null,
      body
    );
    if (mark) mark.scrollIntoView({ block: "center" });
  }

  // --- the conversation -------------------------------------------------------------------
  function scrollDown() {
    const box = $("messages");
    box.scrollTop = box.scrollHeight;
  }

  function addUserMessage(text) {
    const msg = el(
      "div",
      { class: "msg user" },
      el("div", { class: "who", text: "You" }),
      el("div", { class: "bubble", text: text })
    );
    $("messages").append(msg);
    scrollDown();
  }

  function addBotMessage() {
    const bubble = el("div", { class: "bubble draft" });
    $("messages").append(
      el("div", { class: "msg bot" }, el("div", { class: "who", text: "paperbot" }), bubble)
    );
    scrollDown();
    return bubble;
  }

  // Text with [n] markers -> text nodes and citation buttons. Markers written inside paper
  // text arrive escaped as \[n\] (bot/sanitize.py): they are shown as a plain "[n]" and never
  // become buttons, so an abstract cannot fake a citation.
  function textWithMarkers(text, citations, onCite) {
    const frag = document.createDocumentFragment();
    const byN = new Map((citations || []).map((c) => [c.n, c]));
    const re = /\\\[([^\[\]\\]*)\\\]|\[(\d+)\]/g;
    let last = 0;
    let plain = "";
    let m;
    while ((m = re.exec(text)) !== null) {
      if (m[1] !== undefined) {
        plain += text.slice(last, m.index) + "[" + m[1] + "]";
        last = m.index + m[0].length;
        continue;
      }
      const c = byN.get(Number(m[2]));
      if (!c) continue;
      frag.append(plain + text.slice(last, m.index));
      plain = "";
      const button = el("button", {
        type: "button",
        class: "cite",
        title: c.title,
        "aria-label": "Source " + c.n + ": " + c.title,
        "data-n": c.n,
        text: "[" + c.n + "]",
      });
      button.addEventListener("click", () => onCite(c, button));
      frag.append(button);
      last = m.index + m[0].length;
    }
    frag.append(plain + text.slice(last));
    return frag;
  }

  function openCitation(c, button) {
    if (state.activeCite) state.activeCite.classList.remove("active");
    if (button) {
      button.classList.add("active");
      state.activeCite = button;
    }
    showPaper(c.paper_id, c);
  }

  function renderAnswer(bubble, data) {
    bubble.classList.remove("draft");
    bubble.classList.toggle("abstained", Boolean(data.abstained));
    bubble.replaceChildren();
    if (data.standalone_question && data.standalone_question !== data.question) {
      bubble.append(el("div", { class: "rewrite", text: "Searched as: " + data.standalone_question }));
    }
    const text = el("div", { class: "answer-text" });
    text.append(textWithMarkers(data.answer || "", data.citations, openCitation));
    bubble.append(text);

    const citations = data.citations || [];
    if (citations.length) {
      const list = el("ol", { class: "sources", "aria-label": "Sources" });
      for (const c of citations) {
        const open = el("button", { type: "button", class: "link", text: c.title });
        open.addEventListener("click", () => openCitation(c, null));
        list.append(
          el("li", {}, el("span", { class: "n", text: "[" + c.n + "]" }),
            el("div", {}, open,
              c.page != null ? el("span", { class: "page", text: " p. " + c.page }) : "",
              el("span", { class: "quote", text: "“" + (c.display || c.quote) + "”" })))
        );
      }
      bubble.append(list);
    }
    const v = data.verified || { supported: 0, total: 0 };
    const parts = [];
    if (!data.abstained) parts.push("verified " + v.supported + "/" + v.total + " cited sentences");
    parts.push(data.mode === "extractive" ? "quoted from the abstracts" : data.mode + " · " + data.model);
    if (data.fallback_from) parts.push("the " + data.fallback_from + " model's answer was replaced");
    bubble.append(el("div", { class: "meta", text: parts.join(" · ") }));
    if (data.notes && data.notes.length) {
      bubble.append(el("ul", { class: "notes" }, ...data.notes.map((n) => el("li", { text: n }))));
    }
    if (citations.length) {
      const ids = Array.from(new Set(citations.map((c) => c.paper_id)));
      const actions = el("div", { class: "actions" });
      actions.append(
        el("button", { type: "button", class: "secondary", text: "Lay summary of these sources",
          onclick: (ev) => makeCard(bubble, ev.currentTarget, "/api/summarize", ids) }),
        el("button", { type: "button", class: "secondary", text: "Newsletter draft",
          onclick: (ev) => makeCard(bubble, ev.currentTarget, "/api/newsletter", ids) })
      );
      bubble.append(actions);
    }
  }

  async function makeCard(bubble, button, path, ids) {
    button.disabled = true;
    const card = el("div", { class: "card" }, el("p", { class: "thinking", text: "Writing…" }));
    bubble.append(card);
    scrollDown();
    try {
      const data = await postJSON(path, { paper_ids: ids });
      card.replaceChildren(...(path.endsWith("summarize") ? summaryNodes(data) : newsletterNodes(data)));
    } catch (e) {
      card.replaceChildren(el("p", { class: "error-text", text: e.message }));
    } finally {
      button.disabled = false;
    }
  }

  function summaryBlock(s, heading) {
    const nodes = [el(heading ? "h4" : "h3", { text: (heading ? "" : "Lay summary: ") + s.title })];
    const text = el("div", { class: "answer-text" });
    text.append(textWithMarkers(s.summary || "", s.citations, openCitation));
    nodes.push(text);
    if (s.glossary && s.glossary.length) {
      nodes.push(el("ul", { class: "glossary" },
        ...s.glossary.map((g) => el("li", {}, el("strong", { text: g.term }), ": " + g.meaning))));
    }
    const r = s.readability || {};
    const v = s.verified || {};
    const meta = [];
    if (typeof r.fkgl === "number") meta.push("reading grade " + r.fkgl.toFixed(1));
    if (typeof v.total === "number") meta.push("verified " + v.supported + "/" + v.total);
    if (s.mode) meta.push(s.mode === "extractive" ? "quoted from the abstract" : s.mode + " · " + s.model);
    if (meta.length) nodes.push(el("div", { class: "meta", text: meta.join(" · ") }));
    return nodes;
  }

  function summaryNodes(data) {
    const items = data.summaries || [data];
    return items.flatMap((s) => summaryBlock(s, false));
  }

  function newsletterNodes(data) {
    const nodes = [el("h3", { text: data.headline || "Newsletter draft" })];
    if (data.intro) nodes.push(el("p", { text: data.intro }));
    for (const section of data.sections || []) {
      if (section.title && (data.sections || []).length > 1) {
        nodes.push(el("h4", { text: section.title }));
      }
      for (const item of section.papers || []) nodes.push(...summaryBlock(item, true));
    }
    const v = data.verified || {};
    if (typeof v.total === "number") {
      nodes.push(el("div", { class: "meta", text: "verified " + v.supported + "/" + v.total + " cited sentences" }));
    }
    return nodes;
  }

  async function ask(question) {
    question = (question || "").trim();
    if (!question || state.busy) return;
    state.busy = true;
    $("send").disabled = true;
    $("welcome").hidden = true;
    $("question").value = "";
    addUserMessage(question);
    const bubble = addBotMessage();
    const thinking = el("div", { class: "thinking", text: "Searching the papers…" });
    const draft = el("div", { class: "answer-text" });
    bubble.append(thinking, draft);
    let finished = false;
    try {
      await streamChat(
        { question: question, session_id: state.sessionId },
        {
          meta(m) {
            // the session exists once the final answer is stored; not before
            if (m.standalone_question !== m.question) {
              thinking.textContent = "Searching as: " + m.standalone_question;
            }
          },
          token(t) {
            if (t.draft && !bubble.querySelector(".draft-label")) {
              // a model's raw draft: say so until the verified answer replaces it
              bubble.insertBefore(el("div", { class: "draft-label",
                text: "Draft from the model, not verified yet: the verified answer replaces it." }),
                draft);
            }
            draft.append(t.text);
            bubble.dataset.tokens = String(Number(bubble.dataset.tokens || 0) + 1);
            scrollDown();
          },
          final(data) {
            finished = true;
            state.sessionId = data.session_id;
            renderAnswer(bubble, data); // the verified answer replaces the streamed draft
            scrollDown();
          },
          error(e) {
            finished = true;
            bubble.classList.remove("draft");
            bubble.replaceChildren(el("p", { class: "error-text", text: e.detail }));
          },
        }
      );
      if (!finished) throw new Error("the answer stream ended early");
    } catch (e) {
      bubble.classList.remove("draft");
      bubble.replaceChildren(el("p", { class: "error-text", text: e.message }));
    } finally {
      state.busy = false;
      $("send").disabled = false;
      $("question").focus();
      loadSessions();
    }
  }

  async function upload(file) {
    const status = $("upload-status");
    status.textContent = "Uploading " + file.name + "…";
    const form = new FormData();
    form.append("file", file);
    try {
      const response = await request("/api/ingest", { method: "POST", body: form });
      const data = await response.json().catch(() => ({}));
      if (!response.ok && !("added" in data)) throw new Error(data.detail || "HTTP " + response.status);
      const failed = (data.failed || []).map((f) => (f.line ? "line " + f.line + ": " : "") + f.error);
      status.textContent =
        "added " + data.added + ", updated " + data.updated + ", unchanged " + data.unchanged +
        (failed.length ? "; failed: " + failed.slice(0, 3).join("; ") : "");
      loadPapers($("paper-filter").value);
      loadStats();
    } catch (e) {
      status.textContent = "upload failed: " + e.message;
    }
  }

  // --- wiring ---------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", async () => {
    $("ask-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      ask($("question").value);
    });
    $("question").addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        ask($("question").value);
      }
    });
    $("new-chat").addEventListener("click", newChat);
    $("session-select").addEventListener("change", (ev) => {
      openSession(ev.target.value).catch((e) => alert(e.message));
    });
    for (const tab of document.querySelectorAll(".tabs button")) {
      tab.addEventListener("click", () => selectTab(tab.dataset.tab));
    }
    let timer = null;
    $("paper-filter").addEventListener("input", (ev) => {
      clearTimeout(timer);
      timer = setTimeout(() => loadPapers(ev.target.value), 200);
    });
    $("paper-search").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const q = $("paper-filter").value.trim();
      if (q) semanticSearch(q);
      else loadPapers("");
    });
    $("upload").addEventListener("change", (ev) => {
      if (ev.target.files.length) upload(ev.target.files[0]);
      ev.target.value = "";
    });
    loadFormats();
    await loadStats();
    await loadPapers("");
    showExamples();
    loadSessions();
    $("question").focus();
  });
})();
