// The v2m page: every call goes to the HTTP API of the process that served it, with the
// API key (when the service needs one) in the X-API-Key header. No external requests.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORE = "v2m-api-key";
const state = {
  key: sessionStorage.getItem(KEY_STORE) || "",
  video: null,         // the chosen video File, kept to re-post it when options change
  videoUrl: null,      // its object URL, played in the page
  body: null,          // the last answer of POST /recommend/video
  running: 0,          // a counter: only the newest query's answer is shown
  audio: new Map(),    // track id -> object URL of its audio
  page: { offset: 0, limit: 25, total: 0 },
  extraParams: [],     // query parameters of /recommend/video the form does not know
  modelJobs: new Map(), // model id -> how its last activation job ended
  routes: new Set(),   // the service's routes, from its OpenAPI document
  scopes: new Set(),   // what the key may do (GET /access); admin may do everything
};

/** May the key do this? */
const can = (scope) => state.scopes.has(scope) || state.scopes.has("admin");

/** Ask the service what the key may do, and show only that (uploading and deleting
 * tracks need catalog:write). */
async function applyAccess() {
  try {
    const { body } = await api("/access");
    state.scopes = new Set(body.scopes);
  } catch {
    state.scopes = new Set();
  }
  $("upload-form").hidden = !can("catalog:write");
  for (const button of document.querySelectorAll("#tracks button.delete")) button.hidden = !can("catalog:write");
}

// --- talking to the API --------------------------------------------------------------

class ApiFailure extends Error {
  constructor(status, code, detail) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

/** One API call. `params` become the query string (arrays repeat the name); `form`
 * is a FormData body; `blob` asks for a binary answer; `onUpload(fraction)` follows
 * the upload. Resolves to {status, body}; rejects with an ApiFailure. */
function api(path, { method = "GET", params = null, form = null, blob = false, onUpload = null } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params || {})) {
    for (const one of [].concat(value)) {
      if (one !== null && one !== undefined && one !== "") url.searchParams.append(name, one);
    }
  }
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    xhr.responseType = blob ? "blob" : "text";
    if (state.key) xhr.setRequestHeader("X-API-Key", state.key);
    if (onUpload) xhr.upload.onprogress = (e) => e.lengthComputable && onUpload(e.loaded / e.total);
    xhr.onerror = () => reject(new ApiFailure(0, "network", "the service cannot be reached"));
    xhr.onload = async () => {
      const ok = xhr.status >= 200 && xhr.status < 300;
      if (ok && blob) return resolve({ status: xhr.status, body: xhr.response });
      const text = blob ? await xhr.response.text() : xhr.responseText;
      let body = null;
      try { body = text ? JSON.parse(text) : null; } catch { body = null; }
      if (ok) return resolve({ status: xhr.status, body });
      if (xhr.status === 401) askForKey(body && body.detail);
      reject(new ApiFailure(xhr.status, body && body.error, body && body.detail));
    };
    xhr.send(form);
  });
}

/** Wait for a job to end, reporting its stage and progress; resolves to the job. */
async function waitForJob(jobUrl, report) {
  for (;;) {
    const { body: job } = await api(jobUrl);
    report(job);
    if (job.status === "succeeded" || job.status === "failed") return job;
    await new Promise((r) => setTimeout(r, 700));
  }
}

function notify(message) {
  const notice = $("notice");
  notice.textContent = message;
  notice.hidden = !message;
}

// --- the API key -----------------------------------------------------------------------

function askForKey(detail) {
  $("key-form").hidden = false;
  $("key-status").textContent = state.key ? detail || "this key was refused" : "this service needs an API key";
  notify(detail ? `API key: ${detail}` : "This service needs an API key.");
  $("api-key").focus();
}

async function useKey(event) {
  event.preventDefault();
  state.key = $("api-key").value.trim();
  sessionStorage.setItem(KEY_STORE, state.key);
  try {
    await api("/catalog/tracks", { params: { limit: 1 } });
    $("key-status").textContent = "key accepted";
    notify("");
    await applyAccess();
    loadTracks();
    offerModels();
  } catch (error) {
    if (error.status !== 401) notify(error.message);
  }
}

// --- formatting --------------------------------------------------------------------------

function clock(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, seconds);
  return `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, "0")}`;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

const listOf = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

// --- the query view ---------------------------------------------------------------------

/** The query parameters the form says, as /recommend/video reads them. */
function queryParams() {
  const params = {
    method: $("opt-method").value,
    k: $("opt-k").value,
    hubness: $("opt-hubness").value,
    sync: $("opt-sync").checked ? "true" : "false",
    license: listOf($("opt-license").value),
    exclude_artist: listOf($("opt-exclude").value),
    tag: listOf($("opt-tag").value),
    any_tag: listOf($("opt-any-tag").value),
    min_bpm: $("opt-min-bpm").value,
    max_bpm: $("opt-max-bpm").value,
    min_duration_s: $("opt-min-duration").value,
  };
  for (const p of state.extraParams) {
    const input = $(`opt-extra-${p.name}`);
    if (p.kind === "boolean") params[p.name] = input.value;
    else if (p.kind === "array") params[p.name] = listOf(input.value);
    else params[p.name] = input.value;
  }
  return params;
}

function chooseVideo(file) {
  if (!file) return;
  if (!file.type.startsWith("video/") && !/\.(mp4|mov|mkv|webm|avi|m4v)$/i.test(file.name)) {
    setQueryStatus(`${file.name} is not a video file.`);
    return;
  }
  state.video = file;
  if (state.videoUrl) URL.revokeObjectURL(state.videoUrl);
  state.videoUrl = URL.createObjectURL(file);
  $("video").src = state.videoUrl;
  clearTimeline();
  runQuery();
}

function setQueryStatus(text, fraction = null) {
  $("query-status").textContent = text;
  const bar = $("query-progress");
  bar.hidden = fraction === null;
  if (fraction === undefined) bar.removeAttribute("value");
  else if (fraction !== null) bar.value = fraction;
}

/** Post the kept video with the form's options; long videos come back as a job. */
async function runQuery() {
  if (!state.video) {
    setQueryStatus("Choose a video first.");
    $("video-file").focus();
    return;
  }
  const mine = ++state.running;
  const form = new FormData();
  form.append("file", state.video, state.video.name);
  $("results").setAttribute("aria-busy", "true");
  setQueryStatus("Uploading the video…", 0);
  try {
    let { status, body } = await api("/recommend/video", {
      method: "POST",
      params: queryParams(),
      form,
      onUpload: (f) => f < 1 ? setQueryStatus(`Uploading the video… ${Math.round(f * 100)}%`, f)
                             : setQueryStatus("Analysing the video…", undefined),
    });
    if (status === 202) {
      const job = await waitForJob(body.job_url, (j) => {
        if (mine === state.running) {
          setQueryStatus(`Analysing the video (a job): ${j.stage || j.status}, ${Math.round((j.progress || 0) * 100)}%`, j.progress || 0);
        }
      });
      if (job.status !== "succeeded") throw new ApiFailure(500, "job_failed", job.error || "the analysis failed");
      body = job.result;
    }
    if (mine !== state.running) return;
    state.body = body;
    showResults(body);
    const n = body.results.length;
    setQueryStatus(`${n} track${n === 1 ? "" : "s"} ranked (${body.method}, catalog of ${body.catalog_size}).`);
  } catch (error) {
    if (mine === state.running) setQueryStatus(`Could not rank: ${error.message}`);
  } finally {
    if (mine === state.running) $("results").removeAttribute("aria-busy");
  }
}

function clearTimeline() {
  for (const mark of $("timeline").querySelectorAll(".cut")) mark.remove();
  $("query-summary").textContent = "";
}

/** The video's cuts (its segment boundaries) as marks on the timeline under the player. */
function showCuts(query) {
  clearTimeline();
  const duration = query.duration_s;
  const cuts = query.segments.slice(1).map((s) => s.start_s);
  for (const t of cuts) {
    $("timeline").append(el("button", {
      type: "button",
      class: "cut",
      style: `left: ${(100 * t) / duration}%`,
      title: `cut at ${clock(t)}`,
      "aria-label": `cut at ${clock(t)}`,
      "data-t": t.toFixed(3),
      onclick: () => { $("video").currentTime = t; },
    }));
  }
  $("query-summary").textContent =
    `${cuts.length} cuts over ${clock(duration)} (${query.segmentation === "user" ? "your cut points" : "shots found in the video"}).`;
}

function movePlayhead() {
  const video = $("video");
  const duration = (state.body && state.body.query.duration_s) || video.duration;
  if (duration) $("playhead").style.left = `${Math.min(100, (100 * video.currentTime) / duration)}%`;
}

function showResults(body) {
  showCuts(body.query);
  const list = $("results");
  list.replaceChildren(...body.results.map((r) => resultItem(r, body)));
  $("results-empty").hidden = body.results.length > 0;
  $("results-empty").textContent = body.results.length ? "" : "No track passes these filters.";
}

function resultItem(r, body) {
  const excerpt = r.excerpt || { start_s: 0, end_s: r.duration_s };
  const audio = el("audio", { controls: true, preload: "none", class: "excerpt-audio",
    "aria-label": `${r.title} by ${r.artist}` });
  const match = r.match === null || r.match === undefined ? null : Math.round(r.match);
  return el("li", { class: "result", "data-track-id": r.track_id },
    el("div", { class: "result-head" },
      el("span", { class: "rank", text: `${r.rank}` }),
      el("div", { class: "who" },
        el("h3", { class: "title", text: r.title || `track ${r.track_id}` }),
        el("p", { class: "artist", text: r.artist || "unknown artist" })),
      match === null ? null : el("div", { class: "match", title: "match: how this track fits the video against the model's reference videos (0-100)" },
        el("meter", { min: 0, max: 100, value: match, "aria-label": "match" }),
        el("span", { class: "match-value", text: `${match}` }))),
    el("dl", { class: "facts" },
      el("dt", { text: "Licence" }), el("dd", { class: "license", text: r.license || "–" }),
      el("dt", { text: "BPM" }), el("dd", { class: "bpm", text: r.bpm ? r.bpm.toFixed(0) : "–" }),
      el("dt", { text: "Duration" }), el("dd", { text: clock(r.duration_s) }),
      el("dt", { text: "Excerpt" }), el("dd", { class: "excerpt", text: `${clock(excerpt.start_s)} – ${clock(excerpt.end_s)}` }),
      el("dt", { text: "Tags" }), el("dd", { class: "tags", text: tagsOf(r) || "–" }),
      typeof r.vocals === "number" ? el("dt", { text: "Vocals" }) : null,
      typeof r.vocals === "number" ? el("dd", { class: "vocals", text: `${Math.round(100 * r.vocals)}%` }) : null),
    el("div", { class: "actions" },
      el("button", { type: "button", class: "play", onclick: () => playExcerpt(r, audio) }, `Play excerpt`),
      el("button", { type: "button", class: "preview", onclick: () => openPreview(r) }, "Preview with the video"),
      el("button", { type: "button", class: "similar", "aria-expanded": "false",
        onclick: (e) => showSimilar(r, e.currentTarget) }, "Similar tracks"),
      audio),
    el("div", { class: "similar-list", hidden: true }),
    whyItRanked(r, body));
}

/** A result's tags: the catalog's, then those the service found itself (tags_auto:
 * tag -> confidence), most confident first, with their confidence. */
function tagsOf(r) {
  const auto = Object.entries(r.tags_auto || {}).sort((a, b) => b[1] - a[1])
    .map(([tag, confidence]) => `${tag} (auto ${Math.round(100 * confidence)}%)`);
  return [...(r.tags || []), ...auto].join(", ");
}

/** POST /similar/track: the catalog tracks nearest to this result, listed under it. */
async function showSimilar(r, button) {
  const box = button.closest(".result").querySelector(".similar-list");
  if (button.getAttribute("aria-expanded") === "true") {
    box.hidden = true;
    button.setAttribute("aria-expanded", "false");
    return;
  }
  box.hidden = false;
  button.setAttribute("aria-expanded", "true");
  box.textContent = "Finding similar tracks…";
  try {
    const { body } = await api("/similar/track", { method: "POST", params: { track_id: r.track_id, k: 5 } });
    box.replaceChildren(el("h4", { text: `Tracks like ${r.title}` }),
      el("ol", {}, ...body.results.map((s) => el("li", { text: `${s.title} (${s.artist || "unknown"}, ${s.license || "–"})` }))));
    if (state.routes.has("/similar/section") && r.excerpt) box.append(await similarSections(r));
  } catch (error) {
    box.textContent = `Could not find similar tracks: ${error.message}`;
  }
}

/** POST /similar/section (where the service has it): catalog passages like this
 * result's excerpt, each with where it lies in its track. */
async function similarSections(r) {
  const params = { track_id: r.track_id, start_s: r.excerpt.start_s, end_s: r.excerpt.end_s, k: 5 };
  try {
    const { body } = await api("/similar/section", { method: "POST", params });
    return el("div", { class: "sections" }, el("h4", { text: "Passages like this excerpt" }),
      el("ol", {}, ...body.results.map((s) => el("li", {
        text: `${s.title} (${s.artist || "unknown"}) ${clock(s.start_s)} – ${clock(s.end_s)}` }))));
  } catch (error) {
    return el("p", { class: "hint", text: `No similar passages: ${error.message}` });
  }
}

/** Load the track's audio (once), start it at the excerpt and stop at its end. */
async function playExcerpt(r, audio) {
  const excerpt = r.excerpt || { start_s: 0, end_s: r.duration_s };
  try {
    if (!state.audio.has(r.track_id)) {
      const { body } = await api(`/catalog/tracks/${r.track_id}/audio`, { blob: true });
      state.audio.set(r.track_id, URL.createObjectURL(body));
    }
    for (const other of document.querySelectorAll("audio")) if (other !== audio) other.pause();
    if (audio.src !== state.audio.get(r.track_id)) {
      audio.src = state.audio.get(r.track_id);
      await new Promise((ok, fail) => {
        audio.addEventListener("loadedmetadata", ok, { once: true });
        audio.addEventListener("error", () => fail(new Error("the browser cannot play this audio")), { once: true });
      });
    }
    audio.currentTime = excerpt.start_s;
    audio.ontimeupdate = () => { if (audio.currentTime >= excerpt.end_s) audio.pause(); };
    await audio.play();
  } catch (error) {
    notify(`Could not play ${r.title}: ${error.message}`);
  }
}

/** Why a track ranked: the alignment picture, the aligned segments and the cuts it hits. */
function whyItRanked(r, body) {
  const pairs = (r.alignment && r.alignment.pairs) || [];
  const events = (r.sync && r.sync.events) || [];
  const rows = pairs.map((p) => el("tr", {},
    el("td", { text: `${clock(p.query_start_s)} – ${clock(p.query_end_s)}` }),
    el("td", { text: `${clock(p.track_start_s)} – ${clock(p.track_end_s)}` })));
  const syncScore = r.sync && r.sync.score !== null && r.sync.score !== undefined
    ? `Cuts on beats: ${(100 * r.sync.score).toFixed(0)}%.` : "";
  const edit = r.edit ? `The edit hits ${r.edit.cuts_hit} of ${r.edit.cuts.length} cuts.` : "";
  const why = el("details", { class: "why" },
    el("summary", {}, "Why it ranked"),
    r.explain_url ? el("img", { class: "explain", alt: "the similarity of the track's and the video's segments with the alignment's path, and the video's cuts against the edit's downbeats" })
      : alignmentPicture(pairs, body.query.duration_s),
    edit ? el("p", { class: "edit", text: edit }) : null,
    el("p", { class: "hint", text: `${syncScore} Alignment by ${(r.alignment && r.alignment.method) || body.method}; distance ${r.distance !== undefined ? r.distance.toFixed(3) : "–"}.` }),
    pairs.length ? el("table", { class: "compact pairs" },
      el("caption", { text: "Aligned segments" }),
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Video" }), el("th", { scope: "col", text: "Track" }))),
      el("tbody", {}, ...rows)) : null,
    events.length ? el("ul", { class: "events" }, ...events.map((e) => el("li", { text: e }))) : null);
  if (r.explain_url) why.addEventListener("toggle", () => why.open && explainPicture(r, why, body.query.duration_s), { once: true });
  return why;
}

/** GET a result's explain_url (the service's picture of why it ranked, with the key)
 * into its image; the page's own drawing of the alignment if the query is gone. */
async function explainPicture(r, why, videoDuration) {
  const img = why.querySelector("img.explain");
  try {
    const { body } = await api(r.explain_url, { blob: true });
    img.src = URL.createObjectURL(body);
  } catch (error) {
    img.replaceWith(alignmentPicture((r.alignment && r.alignment.pairs) || [], videoDuration),
      el("p", { class: "hint", text: `No picture from the service: ${error.message}` }));
  }
}

/** An SVG: the video's segments above, the track's aligned segments below, joined. */
function alignmentPicture(pairs, videoDuration) {
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 400 70");
  svg.setAttribute("class", "alignment");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "the video's segments (top) above the track's aligned segments (bottom)");
  if (!pairs.length) return svg;
  const t0 = Math.min(...pairs.map((p) => p.track_start_s));
  const t1 = Math.max(...pairs.map((p) => p.track_end_s));
  const span = Math.max(t1 - t0, videoDuration, 1e-6);
  const x = (t) => (380 * t) / span + 10;
  const add = (tag, attrs) => {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    svg.append(node);
  };
  pairs.forEach((p, i) => {
    const hue = (i * 67) % 360;
    add("rect", { x: x(p.query_start_s), y: 5, width: Math.max(1, x(p.query_end_s) - x(p.query_start_s)), height: 15, fill: `hsl(${hue} 60% 70%)` });
    add("rect", { x: x(p.track_start_s - t0), y: 50, width: Math.max(1, x(p.track_end_s - t0) - x(p.track_start_s - t0)), height: 15, fill: `hsl(${hue} 60% 70%)` });
    add("line", { x1: x(p.query_start_s), y1: 20, x2: x(p.track_start_s - t0), y2: 50, stroke: "#555" });
  });
  return svg;
}

/** POST /preview: the video with this track edited under it, in a dialog. */
async function openPreview(r) {
  const dialog = $("preview-dialog");
  const player = $("preview-video");
  $("preview-title").textContent = `Preview: ${r.title}`;
  $("preview-status").textContent = "Editing the track to the video…";
  player.removeAttribute("src");
  dialog.showModal();
  const form = new FormData();
  form.append("file", state.video, state.video.name);
  const params = { track_id: r.track_id, start_s: r.excerpt ? r.excerpt.start_s : null };
  if (state.body && state.body.query.segmentation === "user") {
    params.boundaries = state.body.query.segments.slice(1).map((s) => s.start_s.toFixed(3)).join(",");
  }
  try {
    const { body } = await api("/preview", { method: "POST", params, form, blob: true });
    if (player.dataset.url) URL.revokeObjectURL(player.dataset.url);
    player.dataset.url = URL.createObjectURL(body);
    player.src = player.dataset.url;
    $("preview-status").textContent = "Ready.";
    player.focus();
  } catch (error) {
    $("preview-status").textContent = `Could not render the preview: ${error.message}`;
  }
}

/** Query parameters of POST /recommend/video that the form does not have yet (newer
 * filters of the service) get a generic field, read from the OpenAPI document. */
async function addNewerFilters() {
  const known = new Set(["k", "method", "shortlist", "license", "licence", "exclude_artist", "tag",
    "any_tag", "min_bpm", "max_bpm", "min_duration_s", "boundaries", "min_segment_s", "hubness", "sync"]);
  let spec;
  try {
    const response = await fetch("/openapi.json");
    if (!response.ok) return;
    spec = await response.json();
  } catch { return; }
  state.routes = new Set(Object.keys(spec.paths || {}));
  const route = spec.paths && spec.paths["/recommend/video"] && spec.paths["/recommend/video"].post;
  const box = $("extra-options");
  for (const p of (route && route.parameters) || []) {
    if (p.in !== "query" || known.has(p.name)) continue;
    const schema = resolve(spec, p.schema || {});
    const id = `opt-extra-${p.name}`;
    let input, kind = "text";
    if (schema.enum || schema.type === "boolean") {
      kind = schema.type === "boolean" ? "boolean" : "enum";
      const values = schema.enum || ["true", "false"];
      input = el("select", { id, name: p.name }, el("option", { value: "", text: "any" }),
        ...values.map((v) => el("option", { value: v, text: v })));
    } else if (schema.type === "array") {
      kind = "array";
      input = el("input", { id, name: p.name, type: "text", "aria-describedby": "comma-hint" });
    } else {
      input = el("input", { id, name: p.name, type: schema.type === "number" || schema.type === "integer" ? "number" : "text" });
    }
    state.extraParams.push({ name: p.name, kind });
    box.append(el("label", { title: p.description || "" }, `${p.name.replaceAll("_", " ")} `, input));
  }
}

/** An OpenAPI schema with its $ref and anyOf-with-null unwrapped. */
function resolve(spec, schema) {
  if (schema.$ref) return resolve(spec, spec.components.schemas[schema.$ref.split("/").pop()]);
  if (schema.anyOf) return resolve(spec, schema.anyOf.find((s) => s.type !== "null") || {});
  return schema;
}

// --- the catalog view --------------------------------------------------------------------

async function loadTracks() {
  const params = {
    q: $("search-q").value, artist: $("search-artist").value, license: $("search-license").value,
    tag: $("search-tag").value, status: $("search-status").value,
    limit: state.page.limit, offset: state.page.offset,
  };
  try {
    const { body } = await api("/catalog/tracks", { params });
    state.page.total = body.total;
    $("tracks").querySelector("tbody").replaceChildren(...body.tracks.map(trackRow));
    const last = Math.min(body.offset + body.tracks.length, body.total);
    $("tracks-caption").textContent = body.total
      ? `Tracks ${body.offset + 1}–${last} of ${body.total}` : "No tracks match.";
    $("page-prev").disabled = body.offset === 0;
    $("page-next").disabled = last >= body.total;
  } catch (error) {
    $("tracks-caption").textContent = `Could not list the tracks: ${error.message}`;
  }
}

function trackRow(t) {
  return el("tr", { "data-track-id": t.track_id },
    el("td", { text: t.track_id }),
    el("td", { text: t.title }),
    el("td", { text: t.artist }),
    el("td", { text: t.license }),
    el("td", { text: (t.tags || []).join(", ") }),
    el("td", { text: t.bpm ? t.bpm.toFixed(0) : "–" }),
    el("td", { text: clock(t.duration_s) }),
    el("td", { class: "status", text: t.status }),
    el("td", {}, el("button", { type: "button", class: "delete", "aria-label": `Delete ${t.title}`,
      hidden: !can("catalog:write"), onclick: () => deleteTrack(t) }, "Delete")));
}

async function deleteTrack(t) {
  if (!confirm(`Delete "${t.title}" from the catalog?`)) return;
  try {
    await api(`/catalog/tracks/${t.track_id}`, { method: "DELETE" });
    loadTracks();
  } catch (error) {
    notify(`Could not delete ${t.title}: ${error.message}`);
  }
}

/** One title field per chosen file, defaulting to the file's name. */
function listChosenTracks() {
  const files = [...$("track-files").files];
  const body = $("upload-table").querySelector("tbody");
  body.replaceChildren(...files.map((f, i) => el("tr", {},
    el("td", { text: f.name }),
    el("td", {}, el("input", { type: "text", class: "up-title", id: `up-title-${i}`,
      "aria-label": `Title of ${f.name}`, value: f.name.replace(/\.[^.]+$/, "") })))));
  $("upload-table").hidden = files.length === 0;
}

async function uploadTracks(event) {
  event.preventDefault();
  const files = [...$("track-files").files];
  if (!files.length) { notify("Choose one or more audio files."); return; }
  const shared = { artist: $("up-artist").value.trim(), license: $("up-license").value.trim(),
    tags: listOf($("up-tags").value) };
  await Promise.all(files.map((file, i) => uploadOne(file, { ...shared, title: $(`up-title-${i}`).value.trim() })));
  $("upload-form").reset();
  listChosenTracks();
}

/** Upload one track and follow its ingestion job in the jobs list. */
async function uploadOne(file, metadata) {
  const line = el("li", { class: "job" }, el("span", { class: "job-name", text: metadata.title || file.name }), " ",
    el("span", { class: "job-state", text: "uploading" }), " ", el("progress", { max: 1, value: 0 }));
  $("jobs").prepend(line);
  const say = (text, fraction) => {
    line.querySelector(".job-state").textContent = text;
    line.querySelector("progress").value = fraction;
  };
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("metadata", JSON.stringify(metadata));
  try {
    const { body } = await api("/catalog/tracks", { method: "POST", form, onUpload: (f) => say("uploading", f) });
    if (body.duplicate) { say(`already in the catalog (track ${body.track_id}, ${body.status})`, 1); return; }
    loadTracks();
    const job = await waitForJob(body.job_url, (j) => say(`${j.status}${j.stage ? `: ${j.stage}` : ""}`, j.progress || 0));
    say(job.status === "succeeded" ? "ready" : `failed: ${job.error}`, 1);
    line.dataset.status = job.status;
    loadTracks();
  } catch (error) {
    say(`refused: ${error.message}`, 0);
    line.dataset.status = "refused";
  }
}

// --- the models view (admin keys only) --------------------------------------------------

/** The Models tab appears only when the key may read the registry. */
async function offerModels() {
  try {
    await api("/models");
    $("tab-models").hidden = false;
  } catch {
    $("tab-models").hidden = true;
  }
}

async function loadModels() {
  try {
    const { body } = await api("/models");
    $("models").querySelector("tbody").replaceChildren(...body.models.map(modelRow));
  } catch (error) {
    notify(`Could not list the models: ${error.message}`);
  }
}

function modelRow(m) {
  const verb = m.active ? "Re-embed" : "Activate";
  const cell = el("td", { class: "state" },
    m.active ? "active " : "",
    el("button", { type: "button", class: "activate", "aria-label": `${verb} ${m.name}`,
      onclick: (e) => activateModel(m, e.currentTarget, cell) }, verb));
  const last = state.modelJobs.get(m.id);
  if (last) cell.append(el("span", { class: "job-state", text: ` ${last.text}` }));
  return el("tr", { "data-model-id": m.id, "data-status": last ? last.status : null },
    el("td", { text: m.id }), el("td", { text: m.name }), el("td", { text: m.kind }),
    el("td", { text: m.segmentation }), el("td", { text: `${m.audio_extractor} / ${m.video_extractor}` }),
    el("td", { text: m.dim }), el("td", { class: "evaluation", text: evaluationText(m.evaluation || {}) }),
    el("td", { text: new Date(m.created_at).toLocaleString() }), cell);
}

/** What training measured on the model's validation clips, in words. */
function evaluationText(e) {
  const parts = [];
  if (e.recipe) parts.push(e.recipe);
  if (e.val_mean_rank_fraction !== undefined) parts.push(`mean rank ${(100 * e.val_mean_rank_fraction).toFixed(1)}% of the catalog`);
  if (e.val_recall_at_1 !== undefined) parts.push(`R@1 ${Math.round(100 * e.val_recall_at_1)}%`);
  if (e.val_recall_at_10 !== undefined) parts.push(`R@10 ${Math.round(100 * e.val_recall_at_10)}%`);
  if (e.sync_weight !== undefined) parts.push(`cuts-on-beats weight ${e.sync_weight}`);
  return parts.length ? parts.join(", ") : "not recorded";
}

/** POST /models/{id}/activate, then follow the re-embedding job in the row. */
async function activateModel(m, button, cell) {
  button.disabled = true;
  const line = el("span", { class: "job-state", role: "status", text: " queued" });
  cell.append(line);
  try {
    const { body } = await api(`/models/${m.id}/activate`, { method: "POST" });
    const job = await waitForJob(body.job_url, (j) => {
      line.textContent = ` ${j.status}${j.stage ? `: ${j.stage}` : ""} ${Math.round((j.progress || 0) * 100)}%`;
    });
    const text = job.status === "succeeded" ? "re-embedded" : `failed: ${job.error}`;
    state.modelJobs.set(m.id, { status: job.status, text });
    loadModels();
  } catch (error) {
    line.textContent = ` refused: ${error.message}`;
    button.disabled = false;
  }
}

// --- wiring -------------------------------------------------------------------------------

function showView(name) {
  for (const view of ["query", "catalog", "models"]) {
    $(`view-${view}`).hidden = view !== name;
    if (view === name) $(`tab-${view}`).setAttribute("aria-current", "page");
    else $(`tab-${view}`).removeAttribute("aria-current");
  }
  if (name === "catalog") loadTracks();
  if (name === "models") loadModels();
}

function wire() {
  $("tab-query").addEventListener("click", () => showView("query"));
  $("tab-catalog").addEventListener("click", () => showView("catalog"));
  $("tab-models").addEventListener("click", () => showView("models"));
  $("key-form").addEventListener("submit", useKey);
  if (state.key) $("api-key").value = state.key;

  $("video-file").addEventListener("change", (e) => chooseVideo(e.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    chooseVideo(e.dataTransfer.files[0]);
  });
  $("query-form").addEventListener("submit", (e) => { e.preventDefault(); runQuery(); });
  // A changed option re-ranks the same video (the service knows it by its content).
  $("query-form").addEventListener("change", (e) => {
    if (e.target.id !== "video-file" && state.video) runQuery();
  });
  $("video").addEventListener("timeupdate", movePlayhead);
  $("preview-dialog").addEventListener("close", () => $("preview-video").pause());

  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); state.page.offset = 0; loadTracks(); });
  $("page-prev").addEventListener("click", () => { state.page.offset = Math.max(0, state.page.offset - state.page.limit); loadTracks(); });
  $("page-next").addEventListener("click", () => { state.page.offset += state.page.limit; loadTracks(); });
  $("track-files").addEventListener("change", listChosenTracks);
  $("upload-form").addEventListener("submit", uploadTracks);
}

/** Does the service need a key (or is the kept one refused)? Ask before anything else. */
async function checkAccess() {
  try {
    await api("/catalog/tracks", { params: { limit: 1 } });
    if (state.key) { $("key-form").hidden = false; $("key-status").textContent = "key accepted"; }
  } catch (error) {
    if (error.status !== 401) notify(error.message);
  }
}

wire();
addNewerFilters();
checkAccess().then(applyAccess).then(offerModels);
