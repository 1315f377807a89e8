// polyasr web page: upload or record audio, show the transcript with segment and word times, download txt/srt/vtt/json.
// Plain JavaScript, no dependencies. Talks to POST /v1/audio/transcriptions, GET /v1/languages and ws /v1/audio/stream.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const KEY_STORE = "polyasr-api-key";
  const LANGUAGE_STORE = "polyasr-language";
  const CUE_SECONDS = 7;   // subtitle cues: at most this long,
  const LINE_CHARS = 42;   // lines of at most this many characters,
  const CUE_LINES = 2;     // and this many lines (as the CLI's writers)

  const state = {
    file: null,        // Blob to transcribe (a chosen file or a recording)
    fileName: "",
    result: null,      // {name, text, language, duration, segments: [{id, start, end, text, words}], raw}
    abort: null,       // AbortController of the request in flight
    recording: null,   // {stream, recorder, chunks, live, started, timer}
    playerUrl: null,
    languageNames: new Map(),
  };

  // ---------------------------------------------------------------- small helpers

  const apiKey = () => sessionStorage.getItem(KEY_STORE) || "";
  const authHeaders = () => (apiKey() ? { Authorization: `Bearer ${apiKey()}` } : {});

  function setStatus(message) { $("status").textContent = message; }

  function showError(message) {
    $("error").textContent = message || "";
    $("error").hidden = !message;
  }

  async function errorMessage(response) {
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) return body.error.message;
    } catch (_) { /* not JSON */ }
    return `the server answered ${response.status} ${response.statusText}`.trim();
  }

  function clock(seconds) {
    const s = Math.max(0, seconds);
    const m = Math.floor(s / 60);
    const rest = (s - m * 60).toFixed(2).padStart(5, "0");
    return `${String(m).padStart(2, "0")}:${rest}`;
  }

  function stamp(seconds, separator) {
    const ms = Math.max(0, Math.round(seconds * 1000));
    const h = Math.floor(ms / 3600000);
    const m = Math.floor(ms / 60000) % 60;
    const s = Math.floor(ms / 1000) % 60;
    const pad = (n, w = 2) => String(n).padStart(w, "0");
    return `${pad(h)}:${pad(m)}:${pad(s)}${separator}${pad(ms % 1000, 3)}`;
  }

  function formatBytes(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1048576) return `${(n / 1024).toFixed(1)} KB`;
    return `${(n / 1048576).toFixed(1)} MB`;
  }

  function baseName(name) { return (name || "transcript").replace(/\.[^./\\]+$/, "") || "transcript"; }

  function element(tag, props, ...children) {
    const node = document.createElement(tag);
    Object.assign(node, props || {});
    node.append(...children);
    return node;
  }

  // ---------------------------------------------------------------- API key and languages

  function initKey() {
    $("api-key").value = apiKey();
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY_STORE, $("api-key").value.trim());
      setStatus("API key saved for this tab.");
      loadLanguages();
    });
    $("key-clear").addEventListener("click", () => {
      sessionStorage.removeItem(KEY_STORE);
      $("api-key").value = "";
      setStatus("API key forgotten.");
    });
  }

  async function loadLanguages() {
    const select = $("language");
    try {
      const response = await fetch("/v1/languages", { headers: authHeaders() });
      if (response.status === 401) {
        $("key-box").open = true;
        showError(`${await errorMessage(response)}. Enter this server's API key under “API key”.`);
        return;
      }
      if (!response.ok) throw new Error(await errorMessage(response));
      const languages = await response.json();
      select.querySelectorAll("optgroup").forEach((group) => group.remove());
      const group = element("optgroup", { label: "Restrict to a language" });
      languages.sort((a, b) => a.name.localeCompare(b.name));
      for (const { code, name } of languages) {
        state.languageNames.set(code, name);
        group.append(new Option(`${name} (${code})`, code));
      }
      select.append(group);
      const saved = localStorage.getItem(LANGUAGE_STORE);
      if (saved && [...select.options].some((o) => o.value === saved)) select.value = saved;
      showError("");
    } catch (error) {
      showError(`Could not load the list of languages: ${error.message}`);
    }
  }

  // ---------------------------------------------------------------- choosing a file

  function setPlayer(blob) {
    if (state.playerUrl) URL.revokeObjectURL(state.playerUrl);
    state.playerUrl = URL.createObjectURL(blob);
    $("player").src = state.playerUrl;
    $("player").hidden = false;
  }

  function choose(blob, name) {
    state.file = blob;
    state.fileName = name;
    $("file-name").textContent = `${name} (${formatBytes(blob.size)})`;
    $("transcribe").disabled = false;
    setPlayer(blob);
  }

  function initFilePicking() {
    const zone = $("drop-zone");
    $("file").addEventListener("change", (event) => {
      const file = event.target.files && event.target.files[0];
      if (file) choose(file, file.name);
    });
    for (const type of ["dragenter", "dragover"]) {
      zone.addEventListener(type, (event) => { event.preventDefault(); zone.classList.add("dragging"); });
    }
    for (const type of ["dragleave", "dragend", "drop"]) {
      zone.addEventListener(type, () => zone.classList.remove("dragging"));
    }
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      const file = event.dataTransfer && event.dataTransfer.files[0];
      if (file) choose(file, file.name);
    });
    // a file dropped next to the zone must not replace the page
    for (const type of ["dragover", "drop"]) document.addEventListener(type, (event) => event.preventDefault());
    $("file-form").addEventListener("submit", (event) => {
      event.preventDefault();
      if (state.file) transcribe(state.file, state.fileName);
    });
    $("language").addEventListener("change", () => localStorage.setItem(LANGUAGE_STORE, $("language").value));
  }

  // ---------------------------------------------------------------- transcribing a file

  function setBusy(busy) {
    $("transcribe").disabled = busy || !state.file;
    $("results").setAttribute("aria-busy", String(busy));
  }

  async function transcribe(blob, name) {
    if (state.abort) state.abort.abort();
    const controller = new AbortController();
    state.abort = controller;
    const form = new FormData();
    form.append("file", blob, name);
    form.append("model", document.querySelector("meta[name=polyasr-model]").content);
    form.append("language", $("language").value);
    form.append("response_format", "verbose_json");
    form.append("timestamp_granularities[]", "segment");
    form.append("timestamp_granularities[]", "word");
    showError("");
    setBusy(true);
    setStatus(`Transcribing ${name}…`);
    const started = performance.now();
    try {
      const response = await fetch("/v1/audio/transcriptions", {
        method: "POST", body: form, headers: authHeaders(), signal: controller.signal,
      });
      if (!response.ok) {
        if (response.status === 401) $("key-box").open = true;
        throw new Error(await errorMessage(response));
      }
      const body = await response.json();
      render(fromVerbose(body, name));
      const seconds = (performance.now() - started) / 1000;
      const took = seconds < 1 ? seconds.toFixed(2) : seconds.toFixed(1);
      setStatus(`Done: ${body.duration.toFixed(1)} s of audio transcribed in ${took} s.`);
    } catch (error) {
      if (error.name === "AbortError") return;
      setStatus("");
      showError(error.message === "Failed to fetch" ? "The server cannot be reached." : error.message);
    } finally {
      if (state.abort === controller) {
        state.abort = null;
        setBusy(false);
      }
    }
  }

  // verbose_json -> the page's result; each word goes to the segment its middle falls in
  function fromVerbose(body, name) {
    const words = body.words || [];
    let next = 0;
    const segments = (body.segments || []).map((segment) => {
      const own = [];
      while (next < words.length && (words[next].start + words[next].end) / 2 <= segment.end + 1e-3) own.push(words[next++]);
      return { id: segment.id, start: segment.start, end: segment.end, text: segment.text, words: own };
    });
    return { name, text: body.text, language: body.language_code || null, duration: body.duration, segments, raw: body };
  }

  // ---------------------------------------------------------------- showing a result

  // the words of a segment with their character offsets in its text (works for scripts without spaces)
  function placeWords(segment) {
    const placed = [];
    let cursor = 0;
    for (const word of segment.words || []) {
      const at = segment.text.indexOf(word.word, cursor);
      if (at < 0) continue;
      placed.push({ ...word, from: at, to: at + word.word.length });
      cursor = at + word.word.length;
    }
    return placed;
  }

  function wordTitle(word) {
    const confidence = word.probability == null ? "" : ` · ${Math.round(word.probability * 100)}% confidence`;
    return `${word.start.toFixed(2)}–${word.end.toFixed(2)} s${confidence}`;
  }

  function segmentItem(segment) {
    const time = element("button", {
      type: "button", className: "time", textContent: `${clock(segment.start)} – ${clock(segment.end)}`,
      title: "Play from here",
    });
    time.addEventListener("click", () => {
      const player = $("player");
      if (player.hidden) return;
      player.currentTime = segment.start;
      player.play().catch(() => {});
    });
    const text = element("span", { className: "segment-text" });
    let cursor = 0;
    for (const word of placeWords(segment)) {
      text.append(segment.text.slice(cursor, word.from));
      text.append(element("span", { className: "word", title: wordTitle(word), textContent: word.word }));
      cursor = word.to;
    }
    text.append(segment.text.slice(cursor));
    return element("li", {}, time, " ", text);
  }

  function renderMeta(result) {
    const language = result.language
      ? `${state.languageNames.get(result.language) || result.language} (${result.language})` : "auto (unrestricted)";
    $("meta").textContent = `${result.name} · ${result.duration.toFixed(1)} s · language: ${language}`;
  }

  function render(result) {
    state.result = result;
    const section = $("results");
    section.hidden = false;
    renderMeta(result);
    $("transcript").textContent = result.text || (result.live ? "" : "(no speech recognised)");
    $("segments").replaceChildren(...result.segments.map(segmentItem));
    const rows = result.segments.flatMap((s) => s.words || []).map((w) => element("tr", {},
      element("td", { textContent: w.word }), element("td", { textContent: w.start.toFixed(2) }),
      element("td", { textContent: w.end.toFixed(2) }),
      element("td", { textContent: w.probability == null ? "" : `${Math.round(w.probability * 100)}%` })));
    $("words").replaceChildren(...rows);
    for (const button of document.querySelectorAll("[data-download]")) button.disabled = false;
  }

  // ---------------------------------------------------------------- downloads (built here from the result)

  function wrapLines(text) {
    const lines = [];
    let line = "";
    for (const word of text.split(/\s+/).filter(Boolean)) {
      if (line && (line + " " + word).length > LINE_CHARS) { lines.push(line); line = word; } else { line = line ? `${line} ${word}` : word; }
      while (line.length > LINE_CHARS && !/\s/.test(line)) { lines.push(line.slice(0, LINE_CHARS)); line = line.slice(LINE_CHARS); }
    }
    if (line) lines.push(line);
    return lines;
  }

  // cues: a segment split at word boundaries into pieces of at most CUE_SECONDS and CUE_LINES lines
  function cues(result) {
    const out = [];
    for (const segment of result.segments) {
      const words = placeWords(segment);
      if (!words.length) {
        if (segment.text.trim()) out.push({ start: segment.start, end: segment.end, text: segment.text.trim() });
        continue;
      }
      let first = 0;
      for (let i = 1; i <= words.length; i++) {
        const fits = i < words.length
          && words[i].end - words[first].start <= CUE_SECONDS
          && wrapLines(segment.text.slice(words[first].from, words[i].to)).length <= CUE_LINES;
        if (!fits) {
          const text = segment.text.slice(words[first].from, words[i - 1].to).trim();
          out.push({ start: words[first].start, end: words[i - 1].end, text });
          first = i;
        }
      }
    }
    // ordered, never overlapping, never empty in time
    for (let i = 0; i < out.length; i++) {
      if (i > 0 && out[i].start < out[i - 1].end) out[i].start = out[i - 1].end;
      if (out[i].end <= out[i].start) out[i].end = out[i].start + 0.001;
    }
    return out;
  }

  function subtitles(result, format) {
    const separator = format === "srt" ? "," : ".";
    const blocks = cues(result).map((cue, i) => {
      const lines = wrapLines(cue.text).join("\n");
      const timing = `${stamp(cue.start, separator)} --> ${stamp(cue.end, separator)}`;
      return format === "srt" ? `${i + 1}\n${timing}\n${lines}\n` : `${timing}\n${lines}\n`;
    });
    return format === "srt" ? blocks.join("\n") : `WEBVTT\n\n${blocks.join("\n")}`;
  }

  function download(format) {
    const result = state.result;
    if (!result) return;
    const types = { txt: "text/plain", srt: "application/x-subrip", vtt: "text/vtt", json: "application/json" };
    let content;
    if (format === "txt") content = `${result.text}\n`;
    else if (format === "json") content = `${JSON.stringify(result.raw, null, 2)}\n`;
    else content = subtitles(result, format);
    const url = URL.createObjectURL(new Blob([content], { type: `${types[format]};charset=utf-8` }));
    const link = element("a", { href: url, download: `${baseName(result.name)}.${format}` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // ---------------------------------------------------------------- recording and live text

  function liveResult(live) {
    const segments = live.segments;
    return {
      name: live.name, text: segments.map((s) => s.text).join(" "), language: live.language,
      duration: live.duration, segments, live: !live.doneReceived,
      raw: { text: segments.map((s) => s.text).join(" "), language_code: live.language, duration: live.duration, segments },
    };
  }

  // Stream the microphone as 16-bit PCM to ws /v1/audio/stream; null where that is not possible.
  async function startLive(stream, name) {
    if (!window.AudioWorkletNode || !window.WebSocket) return null;
    const choice = $("language").value;
    const language = choice === "detect" ? "auto" : choice;
    const context = new AudioContext();
    try {
      await context.audioWorklet.addModule("/static/pcm-worklet.js");
    } catch (_) {
      context.close();
      return null;
    }
    const source = context.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(context, "pcm-capture");
    source.connect(node);
    node.connect(context.destination); // the worklet outputs silence; connected so that it keeps running
    const params = new URLSearchParams({ language, sample_rate: String(context.sampleRate), format: "pcm_s16le" });
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/v1/audio/stream?${params}`);
    ws.binaryType = "arraybuffer";
    // the key goes in the first message, never in the URL (URLs end up in logs)
    ws.addEventListener("open", () => { if (apiKey()) ws.send(JSON.stringify({ type: "auth", api_key: apiKey() })); });
    const live = { ws, context, node, source, name, language: null, duration: 0, segments: [], queue: [], ready: false, doneReceived: false };
    live.closed = new Promise((resolve) => { ws.addEventListener("close", resolve); });
    // when the audio up to each point was sent: the lag of a partial is its arrival minus the moment its end was sent
    live.sent = [];
    live.sentSeconds = 0;
    const send = (data) => {
      ws.send(data);
      live.sentSeconds += data.byteLength / 2 / context.sampleRate;
      live.sent.push([live.sentSeconds, performance.now()]);
    };
    node.port.onmessage = (event) => {
      if (live.ready && ws.readyState === WebSocket.OPEN) send(event.data); else live.queue.push(event.data);
    };
    ws.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "ready") {
        live.ready = true;
        live.language = message.language;
        for (const chunk of live.queue.splice(0)) send(chunk);
        $("live-box").hidden = false;
        render(liveResult(live));
        setStatus(choice === "detect" ? "Listening (live text decodes with “auto”; detection needs the whole recording)…" : "Listening…");
      } else if (message.type === "partial") {
        showPartial(message.text, message.stable || 0);
        while (live.sent.length > 1 && live.sent[0][0] < message.end - 1e-3) live.sent.shift();
        if (message.text && live.sent.length && live.sent[0][0] >= message.end - 1e-3) {
          $("live-lag").textContent = `lag ${((performance.now() - live.sent[0][1]) / 1000).toFixed(1)} s`;
        }
        live.duration = Math.max(live.duration, message.end);
        renderMeta(liveResult(live));
      } else if (message.type === "final") {
        live.segments.push(message.segment);
        live.duration = Math.max(live.duration, message.segment.end);
        $("live-partial").textContent = "";
        render(liveResult(live));
      } else if (message.type === "done") {
        live.doneReceived = true;
        live.duration = message.duration;
      } else if (message.type === "error") {
        showError(`Live text: ${message.message}`);
      }
    });
    return live;
  }

  // The partial text: its first `stable` characters will not change any more (shown plain), the rest may (dimmed).
  function showPartial(text, stable) {
    const box = $("live-partial");
    box.replaceChildren(text.slice(0, stable), element("span", { className: "tentative" }, text.slice(stable)));
  }

  // End the live stream; true if the server sent every final.
  async function finishLive(live) {
    live.node.port.postMessage("flush");
    await new Promise((resolve) => setTimeout(resolve, 50));
    live.node.port.onmessage = null;
    live.source.disconnect();
    live.node.disconnect();
    live.context.close();
    if (live.ready && live.ws.readyState === WebSocket.OPEN) {
      live.ws.send(JSON.stringify({ type: "end" }));
      await Promise.race([live.closed, new Promise((resolve) => setTimeout(resolve, 60000))]);
    } else {
      live.ws.close();
    }
    $("live-box").hidden = true;
    $("live-partial").textContent = "";
    $("live-lag").textContent = "";
    if (!live.doneReceived) return false;
    render(liveResult(live));
    return true;
  }

  function showRecording(on) {
    const button = $("record");
    button.setAttribute("aria-pressed", String(on));
    button.textContent = on ? "Stop recording" : "Record from microphone";
    button.classList.toggle("recording", on);
    $("live").disabled = on;
    if (!on) $("record-time").textContent = "";
  }

  async function startRecording() {
    showError("");
    if (!navigator.mediaDevices || !window.MediaRecorder) {
      showError("This browser cannot record audio (recording needs HTTPS or localhost).");
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1 } });
    } catch (error) {
      showError(`The microphone is not available: ${error.message}`);
      return;
    }
    const recorder = new MediaRecorder(stream);
    const chunks = [];
    recorder.addEventListener("dataavailable", (event) => { if (event.data.size) chunks.push(event.data); });
    recorder.start(1000);
    const started = performance.now();
    const name = `recording-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-")}`;
    const recording = { stream, recorder, chunks, live: null, name };
    recording.timer = setInterval(() => { $("record-time").textContent = clock((performance.now() - started) / 1000); }, 250);
    state.recording = recording;
    showRecording(true);
    setStatus("Recording…");
    if ($("live").checked) {
      recording.live = await startLive(stream, name);
      if (!recording.live) setStatus("Recording… (live text is not available in this browser; the recording is transcribed when you stop)");
    }
  }

  async function stopRecording() {
    const recording = state.recording;
    state.recording = null;
    clearInterval(recording.timer);
    showRecording(false);
    const stopped = new Promise((resolve) => recording.recorder.addEventListener("stop", resolve, { once: true }));
    recording.recorder.stop();
    await stopped;
    recording.stream.getTracks().forEach((track) => track.stop());
    const type = recording.recorder.mimeType || "audio/webm";
    const extension = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
    const blob = new Blob(recording.chunks, { type });
    choose(blob, `${recording.name}.${extension}`);
    if (recording.live) {
      setStatus("Finishing the live transcript…");
      if (await finishLive(recording.live)) {
        setStatus("Done. Select Transcribe to decode the whole recording again (e.g. with another language).");
        return;
      }
    }
    transcribe(blob, state.fileName);
  }

  function initRecording() {
    $("record").addEventListener("click", () => (state.recording ? stopRecording() : startRecording()));
  }

  // ---------------------------------------------------------------- start

  function init() {
    for (const button of document.querySelectorAll("[data-download]")) {
      button.disabled = true;
      button.addEventListener("click", () => download(button.dataset.download));
    }
    initKey();
    initFilePicking();
    initRecording();
    loadLanguages();
  }

  init();
})();
