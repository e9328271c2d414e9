// The gallery: sign in, upload, browse, view, edit and delete photos. One ES module, no
// framework, no build step. The API is this page's own origin (paths relative to <base href>,
// the API root the page came through); large files go straight to S3 with a presigned POST;
// photos come from presigned S3 URLs, which stay the same for a few minutes so the browser's
// cache keeps them.

const $ = (id) => document.getElementById(id);
const page = document.body.dataset;
const AUTH = page.authMode === "cognito" ? "cognito" : "header";
const MAX_API_BYTES = Number(page.maxImageBytes) || 10 * 1024 * 1024;
const MAX_DIRECT_BYTES = Number(page.maxDirectUploadBytes) || 50 * 1024 * 1024;
// Behind API Gateway a request body is at most about 6 MB (Lambda's limit; binary bodies travel
// base64-encoded, 4/3 larger): files past 4 MiB go straight to S3 too, whatever the API takes.
const THROUGH_API_BYTES = Math.min(MAX_API_BYTES, 4 * 1024 * 1024);
const USER_NAME = /^[A-Za-z0-9._@-]{1,128}$/;
const PAGE_SIZE = 20;
const PARALLEL_UPLOADS = 2;
const FRESH_MS = 10 * 60 * 1000; // listed URLs live at least 15 minutes: refetch after 10
const TYPES = {
  jpg: "image/jpeg", jpeg: "image/jpeg", jpe: "image/jpeg", jfif: "image/jpeg", mpo: "image/jpeg",
  png: "image/png", gif: "image/gif", webp: "image/webp", avif: "image/avif", avifs: "image/avif",
  heic: "image/heic", heif: "image/heif", hif: "image/heic",
};
const FORMATS = [["avif", "image/avif"], ["webp", "image/webp"]]; // best first; then jpeg or png
const SHOWN_HERE = new Set(["image/jpeg", "image/png", "image/gif", "image/webp", "image/avif"]);
const KEYS = { user: "gallery.user", token: "gallery.token", pending: "gallery.pending." };

const state = {
  identity: null, // {id, name, headers}
  filters: {},
  nextToken: null,
  more: false, // the listing shown has more pages
  generation: 0, // bumped when the listing starts again: pages of an older one are dropped
  busy: null, // the generation whose page is being fetched
  images: new Map(), // image_id -> {image, at}: the API's last word on it, and when
  current: null, // the image the photo view shows
  opener: null, // where focus goes back when the photo view closes
  queue: [],
  active: 0,
  uploads: new Set(),
};

// ----- small helpers ------------------------------------------------------------------------

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key.startsWith("data-") || key.startsWith("aria-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children);
  return node;
}

function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function store(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // storage disabled: the page still works, it just forgets on reload
  }
}

function bytes(size) {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(0)} KB`;
  return `${(size / 1024 / 1024).toFixed(1)} MB`;
}

const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

function altText(image) {
  return image.title || `Untitled photo by ${image.user_id}`;
}

function splitTags(text) {
  return text.split(/[\s,]+/).map((tag) => tag.replace(/^#/, "")).filter(Boolean);
}

function typeOf(file) {
  const extension = file.name.includes(".") ? file.name.split(".").pop().toLowerCase() : "";
  return TYPES[extension] || (Object.values(TYPES).includes(file.type) ? file.type : "");
}

function photoUrl(id) {
  // an absolute path: relative URLs resolve against <base href>, which may not be this page
  return `${location.pathname}${location.search}${id ? `#photo=${encodeURIComponent(id)}` : ""}`;
}

// ----- the API ------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message, field = "") {
    super(message);
    this.status = status;
    this.field = field;
  }
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function failure(status, text) {
  const data = parse(text);
  const error = data && (data.error || data);
  const message = (error && error.message) || `The service answered ${status}.`;
  if (status === 401) queueMicrotask(() => signOut(`Signed out: ${message}`));
  return new ApiError(status, message, (error && error.field) || "");
}

// GET answers the API revalidates by ETag (listings, images), kept for this tab: a reload
// within the URL window sends If-None-Match and gets a 304 instead of the same bytes again.
const REVALIDATED = "revalidated:";

function revalidated(url) {
  try {
    return parse(sessionStorage.getItem(REVALIDATED + url) || "") || null;
  } catch {
    return null; // storage refused (private modes): plain requests
  }
}

function keep(url, etag, text) {
  try {
    sessionStorage.setItem(REVALIDATED + url, JSON.stringify({ etag, text }));
  } catch {
    try {
      sessionStorage.clear(); // full: start over rather than fail the request
    } catch {
      // storage refused: nothing is kept
    }
  }
}

async function api(path, { method = "GET", query = {}, json, headers = {} } = {}) {
  const url = new URL(path, document.baseURI);
  for (const [key, value] of Object.entries(query)) if (value) url.searchParams.set(key, value);
  const init = { method, headers: { ...state.identity.headers, ...headers } };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  const kept = method === "GET" ? revalidated(url.href) : null;
  if (kept) init.headers["If-None-Match"] = kept.etag;
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, "The service did not answer: check the connection and try again.");
  }
  const text = await response.text();
  if (response.status === 304 && kept) return parse(kept.text);
  if (!response.ok) throw failure(response.status, text);
  const etag = response.headers.get("ETag");
  if (method === "GET" && etag && text) keep(url.href, etag, text);
  return text ? parse(text) : null;
}

function remember(image) {
  state.images.set(image.image_id, { image, at: Date.now() });
  return image;
}

// XMLHttpRequest, for its upload progress events (fetch has none).
function send(url, form, headers, onProgress, job) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    for (const [key, value] of Object.entries(headers)) xhr.setRequestHeader(key, value);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener("load", () => resolve({ status: xhr.status, text: xhr.responseText }));
    xhr.addEventListener("error", () =>
      reject(new ApiError(0, "The upload was cut off: check the connection and try again.")),
    );
    xhr.addEventListener("abort", () => reject(new ApiError(0, "Cancelled.")));
    job.xhr = xhr;
    xhr.send(form);
  });
}

// ----- signing in ---------------------------------------------------------------------------

function claimsOf(token) {
  const part = token.split(".")[1];
  if (!part) throw new Error("That is not an ID token: a JWT is three parts joined by dots.");
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
  try {
    const raw = atob(base64 + "===".slice((base64.length + 3) % 4));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(raw, (c) => c.charCodeAt(0))));
  } catch {
    throw new Error("That token cannot be read: paste the whole id_token.");
  }
}

function identityOf(value) {
  if (AUTH === "header") {
    if (!USER_NAME.test(value)) {
      throw new Error("A user name is 1 to 128 of letters, digits and . _ @ -");
    }
    return { id: value, name: value, headers: { "X-User-Id": value } };
  }
  const token = value.trim().replace(/^Bearer\s+/i, "");
  const claims = claimsOf(token);
  if (claims.token_use && claims.token_use !== "id") {
    throw new Error(`That is an ${claims.token_use} token: paste the id_token.`);
  }
  if (!claims.sub) throw new Error("That token names no user (no sub claim).");
  if (claims.exp && claims.exp * 1000 <= Date.now()) {
    throw new Error("That token has expired: sign in again and paste the new one.");
  }
  const name = claims["cognito:username"] || claims.email || claims.sub;
  return { id: claims.sub, name, headers: { Authorization: token } };
}

function showSignIn(message = "") {
  state.identity = null;
  $("loading").hidden = true;
  $("gallery").hidden = true;
  $("who").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message;
  $(AUTH === "header" ? "user-name" : "id-token").focus();
}

function signIn(value) {
  const identity = identityOf(value);
  store(AUTH === "header" ? KEYS.user : KEYS.token, value.trim());
  enter(identity);
}

function signOut(message = "") {
  if (!state.identity) return;
  state.identity = null;
  store(KEYS.user, null);
  store(KEYS.token, null);
  for (const job of state.uploads) job.xhr?.abort();
  state.queue = [];
  state.uploads.clear();
  $("tray").replaceChildren();
  showTray();
  if ($("photo").open) closePhoto();
  state.images.clear();
  $("filters").reset(); // the next user starts from the whole gallery (and lists nothing yet)
  showSignIn(message);
}

function enter(identity) {
  state.identity = identity;
  $("loading").hidden = true;
  $("sign-in").hidden = true;
  $("gallery").hidden = false;
  $("who").hidden = false;
  $("who-name").textContent = identity.name;
  $("sign-in-error").textContent = "";
  restart();
  resumePending();
  const asked = /^#photo=([\w-]+)$/.exec(location.hash);
  if (asked) openPhoto(asked[1]);
}

// ----- browsing -----------------------------------------------------------------------------

function query(filters) {
  const result = { tag: filters.tag, user_id: filters.user_id, title: filters.title };
  // dates are the user's days: from the start of `from` to the end of `to`, local time
  if (filters.from) {
    result.created_after = new Date(new Date(`${filters.from}T00:00`) - 1).toISOString();
  }
  if (filters.to) {
    const end = new Date(`${filters.to}T00:00`);
    end.setDate(end.getDate() + 1);
    result.created_before = end.toISOString();
  }
  return result;
}

function matches(image, filters) {
  const q = query(filters);
  return (
    image.status === "ready" &&
    (!q.tag || image.tags.includes(q.tag)) &&
    (!q.user_id || image.user_id === q.user_id) &&
    (!q.title || image.title.toLowerCase().includes(q.title.toLowerCase())) &&
    (!q.created_after || image.created_at > q.created_after) &&
    (!q.created_before || image.created_at < q.created_before)
  );
}

function restart() {
  state.generation += 1;
  state.busy = null;
  state.nextToken = null;
  state.more = true;
  $("grid").replaceChildren(...[...state.uploads].map((job) => job.tile).filter(Boolean));
  $("status").textContent = "";
  $("load-more").hidden = true;
  loadMore();
}

async function loadMore() {
  const generation = state.generation;
  if (!state.identity || !state.more || state.busy === generation) return;
  state.busy = generation;
  $("load-more").hidden = true;
  try {
    const listed = await api("images", {
      query: { ...query(state.filters), limit: String(PAGE_SIZE), next_token: state.nextToken },
    });
    if (generation !== state.generation) return;
    for (const image of listed.items) showTile(remember(image), false);
    state.nextToken = listed.next_token;
    state.more = Boolean(listed.next_token);
    showStatus();
  } catch (error) {
    if (generation !== state.generation) return;
    $("status").textContent = `The photos could not be listed: ${error.message}`;
    $("load-more").textContent = "Try again";
    $("load-more").hidden = false;
    return;
  } finally {
    if (state.busy === generation) state.busy = null;
  }
  $("load-more").textContent = "Load more";
  $("load-more").hidden = !state.more;
  // the end of the grid may still be in view (a short page, a selective filter): observing
  // it again reports whether it intersects now, and so loads the next page if it does
  scroller.unobserve($("more"));
  scroller.observe($("more"));
}

const scroller = new IntersectionObserver(
  (entries) => {
    if (entries.some((entry) => entry.isIntersecting)) loadMore();
  },
  { rootMargin: "0px 0px 200px 0px" },
);

function showStatus() {
  const shown = $("grid").querySelectorAll(".tile:not(.pending)").length;
  const filtered = Object.values(state.filters).some(Boolean);
  if (shown === 0 && !state.more) {
    $("status").textContent = filtered
      ? "No photos match these filters."
      : "No photos yet: upload some with the button above, or drop them here.";
  } else {
    $("status").textContent = `${shown} photo${shown === 1 ? "" : "s"}${state.more ? " so far" : ""}`;
  }
}

function picture(sources, rendition, alt, lazy) {
  const node = el("picture");
  for (const [format, type] of FORMATS) {
    if (sources[format]) node.append(el("source", { type, srcset: sources[format] }));
  }
  const img = el("img", { alt, decoding: "async" });
  if (lazy) img.loading = "lazy"; // before src, or the image starts loading at once
  if (rendition) {
    img.width = rendition.width;
    img.height = rendition.height;
  }
  img.src = sources.jpeg || sources.png || Object.values(sources)[0];
  node.append(img);
  return node;
}

function tile(image) {
  const link = el(
    "a",
    { href: photoUrl(image.image_id) },
    picture(image.sources.square, image.renditions?.square, altText(image), true),
    el("span", { className: "caption", "aria-hidden": "true" }, image.title || image.filename),
  );
  return el("li", { className: "tile", "data-id": image.image_id }, link);
}

function tileOf(id) {
  return $("grid").querySelector(`.tile:not(.pending)[data-id="${CSS.escape(id)}"]`);
}

// A thumbnail that would not load, most likely because its URL expired (the page was left open
// past the URLs' lifetime before scrolling that far): the image again, for fresh URLs, once.
async function renew(id) {
  const old = tileOf(id);
  if (!old || old.dataset.renewed) return;
  old.dataset.renewed = "yes";
  try {
    const image = remember(await api(`images/${encodeURIComponent(id)}`));
    const fresh = tile(image);
    fresh.dataset.renewed = "yes";
    tileOf(id)?.replaceWith(fresh);
  } catch (error) {
    if (error.status === 404) tileOf(id)?.remove(); // deleted since
  }
}

// A listed image goes at the end; a new upload at the top, after the uploads in progress.
function showTile(image, top) {
  if (!image.sources) return;
  const old = tileOf(image.image_id);
  const node = tile(image);
  if (old) old.replaceWith(node);
  else if (!top) $("grid").append(node);
  else {
    const first = $("grid").querySelector(".tile:not(.pending)");
    $("grid").insertBefore(node, first);
  }
}

// ----- filters ------------------------------------------------------------------------------

function applyFilters(values) {
  const filters = {
    tag: (values.tag || "").trim().replace(/^#/, "").toLowerCase(),
    user_id: (values.user_id || "").trim(),
    title: (values.title || "").trim(),
    from: values.from || "",
    to: values.to || "",
  };
  const form = $("filters");
  for (const [key, value] of Object.entries(filters)) form.elements[key].value = value;
  if (filters.user_id && !USER_NAME.test(filters.user_id)) {
    $("filter-error").textContent = "A user name is 1 to 128 of letters, digits and . _ @ -";
    return;
  }
  if (filters.from && filters.to && filters.from > filters.to) {
    $("filter-error").textContent = "“From” must not be after “To”.";
    return;
  }
  $("filter-error").textContent = "";
  state.filters = filters;
  const labels = { tag: "#", user_id: "by ", title: "“", from: "from ", to: "to " };
  $("filter-summary").textContent = Object.entries(filters)
    .filter(([, value]) => value)
    .map(([key, value]) => `${labels[key]}${value}${key === "title" ? "”" : ""}`)
    .join(" · ");
  restart();
}

// ----- uploading ----------------------------------------------------------------------------

function uploadFiles(files) {
  if (!files.length || !state.identity) return;
  for (const row of [...$("tray").children]) if (!row.classList.contains("busy")) row.remove();
  const title = $("batch-title").value.trim();
  const tags = splitTags($("batch-tags").value);
  for (const file of files) {
    // one Idempotency-Key per file: a retry after a lost answer gives back the same image
    const job = { file, title, tags, user: state.identity.id, key: newKey() };
    job.progress = el("progress", { max: 1, value: 0 });
    job.result = el("span", { className: "result" }, "Waiting…");
    job.row = el(
      "li",
      { className: "busy" },
      el("span", { className: "name", title: file.name }, file.name),
      job.progress,
      job.result,
    );
    $("tray").append(job.row);
    enqueue(job);
  }
  showTray();
  $("batch-title").value = "";
  $("batch-tags").value = "";
  pump();
}

function newKey() {
  const random = crypto.getRandomValues(new Uint8Array(16)); // randomUUID needs https
  return [...random].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

// A tile for the upload at the top of the grid, and a place in the queue.
function enqueue(job) {
  const { file } = job;
  job.tileProgress = el("progress", { max: 1, value: 0 });
  job.tileText = el("span", {}, "Waiting…");
  // the file itself as its tile's picture while it uploads, when the browser can show it
  const shown = SHOWN_HERE.has(file.type) && file.size <= MAX_API_BYTES;
  job.preview = shown ? URL.createObjectURL(file) : "";
  job.tile = el(
    "li",
    { className: "tile pending", "aria-label": `Uploading ${file.name}` },
    ...(job.preview ? [el("img", { src: job.preview, alt: "", decoding: "async" })] : []),
    el("div", { className: "veil" }, job.tileText, job.tileProgress),
  );
  $("grid").prepend(job.tile);
  state.uploads.add(job);
  state.queue.push(job);
}

// Cut off, a 5xx or the same upload still in progress: trying again may work.
function retryable(error) {
  return error instanceof ApiError && (error.status === 0 || error.status === 409 || error.status >= 500);
}

function retry(job) {
  if (job.user !== state.identity?.id) return;
  job.row.className = "busy";
  job.progress.value = 0;
  say(job, "Waiting…");
  enqueue(job);
  showTray();
  pump();
}

function showTray() {
  const rows = [...$("tray").children];
  const count = (name) => rows.filter((row) => row.classList.contains(name)).length;
  const [busy, done, failed] = [count("busy"), count("done"), count("failed")];
  $("tray-box").hidden = !rows.length;
  $("tray-clear").hidden = Boolean(busy);
  const parts = [];
  if (busy) parts.push(`Uploading ${busy} file${busy === 1 ? "" : "s"}…`);
  if (done) parts.push(`${done} added`);
  if (failed) parts.push(`${failed} failed`);
  $("tray-summary").textContent = parts.join(" · ");
}

function pump() {
  while (state.active < PARALLEL_UPLOADS && state.queue.length) {
    const job = state.queue.shift();
    state.active += 1;
    runUpload(job).finally(() => {
      state.active -= 1;
      pump();
    });
  }
}

function say(job, text) {
  job.result.textContent = text;
  job.tileText.textContent = text;
}

function progress(job, loaded, total) {
  job.progress.max = job.tileProgress.max = total;
  job.progress.value = job.tileProgress.value = loaded;
  say(job, loaded < total ? `${bytes(loaded)} of ${bytes(total)}` : "Processing…");
}

async function runUpload(job) {
  const { file } = job;
  try {
    const type = typeOf(file);
    if (file.size > MAX_DIRECT_BYTES) {
      throw new Error(`Too large: ${bytes(file.size)}; at most ${bytes(MAX_DIRECT_BYTES)}.`);
    }
    say(job, "Starting…");
    const image = file.size > THROUGH_API_BYTES ? await direct(job, type) : await through(job);
    if (job.user !== state.identity?.id) return;
    remember(image);
    job.row.className = "done";
    const edit = el("button", { type: "button", className: "quiet" }, "Edit");
    edit.addEventListener("click", () => openPhoto(image.image_id, edit, true));
    job.result.replaceChildren(image.status === "ready" ? "Added" : "Processing", edit);
    job.tile.remove();
    if (matches(image, state.filters)) showTile(image, true);
    showStatus();
  } catch (error) {
    job.row.className = "failed";
    job.progress.value = 0;
    job.result.textContent = error.message;
    if (retryable(error)) {
      const again = el("button", { type: "button", className: "quiet" }, "Retry");
      again.addEventListener("click", () => retry(job));
      job.result.append(again);
    }
    job.tile.remove();
  } finally {
    state.uploads.delete(job);
    if (job.preview) URL.revokeObjectURL(job.preview);
    showTray();
  }
}

// Up to THROUGH_API_BYTES: multipart through the API, which answers the ready image.
async function through(job) {
  const form = new FormData();
  if (job.title) form.append("title", job.title);
  if (job.tags.length) form.append("tags", job.tags.join(","));
  form.append("file", job.file, job.file.name);
  const url = new URL("images", document.baseURI);
  const onProgress = (loaded, total) => progress(job, loaded, total);
  const headers = { ...state.identity.headers, "Idempotency-Key": job.key };
  const answer = await send(url, form, headers, onProgress, job);
  if (answer.status !== 201) throw failure(answer.status, answer.text);
  return parse(answer.text);
}

// Larger: the API makes a pending image and a presigned POST; the file goes to S3 with it,
// then /complete checks it and makes the renditions.
async function direct(job, type) {
  if (!type) {
    throw new Error("Not a type of image the service takes (JPEG, PNG, GIF, WebP, AVIF, HEIC).");
  }
  const request = { content_type: type, size: job.file.size, filename: job.file.name };
  if (job.title) request.title = job.title;
  if (job.tags.length) request.tags = job.tags;
  const headers = { "Idempotency-Key": job.key };
  const started = await api("images/uploads", { method: "POST", json: request, headers });
  const id = started.image.image_id;
  pending(job.user, id, true);
  const form = new FormData();
  for (const [key, value] of Object.entries(started.upload.fields)) form.append(key, value);
  form.append("file", job.file, job.file.name); // S3 wants the file last
  const onProgress = (loaded, total) => progress(job, loaded, total);
  try {
    const answer = await send(started.upload.url, form, {}, onProgress, job);
    if (answer.status < 200 || answer.status >= 300) {
      const said = /<Message>([^<]*)<\/Message>/.exec(answer.text);
      throw new ApiError(answer.status, `Storage refused the file: ${said ? said[1] : answer.status}`);
    }
    say(job, "Processing…");
    const image = await api(`images/${id}/complete`, { method: "POST" });
    pending(job.user, id, false);
    return image;
  } catch (error) {
    // nothing to finish on the next visit unless the answer was lost on the way
    if (error.status) pending(job.user, id, false);
    throw error;
  }
}

// Direct uploads are remembered until finalised: one cut short by a reload (the file reached
// S3 but /complete never came) is finalised on the next visit.
function pending(user, id, add) {
  const key = KEYS.pending + user;
  const ids = new Set(JSON.parse(stored(key) || "[]"));
  if (add) ids.add(id);
  else ids.delete(id);
  store(key, ids.size ? JSON.stringify([...ids]) : null);
}

async function resumePending() {
  const user = state.identity.id;
  for (const id of JSON.parse(stored(KEYS.pending + user) || "[]")) {
    let shown = null;
    try {
      let image = await api(`images/${id}`);
      if (image.status === "pending") {
        // the owner sees it while it is finished
        const text = `Finishing the upload of ${image.filename}…`;
        shown = el("li", { className: "tile pending" }, el("div", { className: "veil" }, text));
        $("grid").prepend(shown);
        image = await api(`images/${id}/complete`, { method: "POST" });
      }
      if (image.status === "ready" && matches(image, state.filters)) showTile(remember(image), true);
    } catch {
      // never uploaded, refused or deleted since: nothing to show
    } finally {
      shown?.remove();
    }
    pending(user, id, false);
  }
}

// ----- one photo ----------------------------------------------------------------------------

async function openPhoto(id, opener = document.activeElement, editing = false) {
  let known = state.images.get(id);
  if (!known || Date.now() - known.at > FRESH_MS) {
    try {
      known = { image: remember(await api(`images/${encodeURIComponent(id)}`)) };
    } catch (error) {
      $("status").textContent = `That photo cannot be shown: ${error.message}`;
      return;
    }
  }
  state.opener = opener;
  showPhoto(known.image);
  const dialog = $("photo");
  if (!dialog.open) dialog.showModal();
  history.replaceState(null, "", photoUrl(id));
  if (editing && isMine(known.image)) showEdit();
}

function closePhoto() {
  $("photo").close();
  closed(); // now: the close event comes later
}

function closed() {
  if (!state.current) return;
  state.current = null;
  history.replaceState(null, "", photoUrl(""));
  const back = state.opener?.isConnected ? state.opener : $("upload-button");
  back.focus();
}

function isMine(image) {
  return image.user_id === state.identity?.id;
}

function showPhoto(image) {
  state.current = image;
  const medium = image.sources?.medium;
  $("photo-picture").replaceChildren(
    ...(medium
      ? picture(medium, image.renditions?.medium, altText(image), false).childNodes
      : [el("p", { className: "hint" }, "Still being processed…")]),
  );
  $("photo-title").textContent = image.title || "Untitled";
  $("photo-description").textContent = image.description;
  $("photo-tags").replaceChildren(
    ...image.tags.map((tag) => {
      const button = el("button", { type: "button", title: `Photos tagged ${tag}` }, `#${tag}`);
      button.addEventListener("click", () => filterBy({ tag }));
      return el("li", {}, button);
    }),
  );
  $("photo-owner").textContent = image.user_id;
  $("photo-owner").title = `Photos by ${image.user_id}`;
  $("photo-date").textContent = when.format(new Date(image.created_at));
  const size = image.width ? `${image.width} × ${image.height} px · ` : "";
  $("photo-size").textContent = `${size}${bytes(image.size)}`;
  $("photo-file").textContent = `${image.filename} (${image.content_type.replace("image/", "")})`;
  for (const node of document.querySelectorAll("[data-owner]")) node.hidden = !isMine(image);
  $("photo-download").disabled = image.status !== "ready";
  $("edit-form").hidden = true;
  $("delete-confirm").hidden = true;
  $("photo-error").textContent = "";
}

function filterBy(values) {
  closePhoto();
  $("filter-box").open = true;
  applyFilters({ ...state.filters, tag: "", user_id: "", title: "", ...values });
}

function showEdit() {
  const image = state.current;
  $("delete-confirm").hidden = true;
  $("edit-form").hidden = false;
  $("edit-title").value = image.title;
  $("edit-description").value = image.description;
  $("edit-tags").value = image.tags.join(", ");
  $("edit-title").focus();
}

async function saveEdit() {
  const image = state.current;
  const form = $("edit-form");
  const change = {
    title: $("edit-title").value.trim(),
    description: $("edit-description").value.trim(),
    tags: splitTags($("edit-tags").value),
  };
  form.querySelector("[type=submit]").disabled = true;
  try {
    const saved = remember(await api(`images/${image.image_id}`, { method: "PATCH", json: change }));
    showPhoto(saved);
    const old = tileOf(saved.image_id);
    if (old) {
      const fresh = tile(saved);
      old.replaceWith(fresh);
      if (!state.opener?.isConnected) state.opener = fresh.querySelector("a");
    }
    $("photo-edit").focus();
  } catch (error) {
    $("photo-error").textContent = error.message;
  } finally {
    form.querySelector("[type=submit]").disabled = false;
  }
}

async function deletePhoto() {
  const image = state.current;
  $("delete-yes").disabled = true;
  try {
    await api(`images/${image.image_id}`, { method: "DELETE" });
    state.images.delete(image.image_id);
    tileOf(image.image_id)?.remove();
    state.opener = $("upload-button");
    closePhoto();
    showStatus();
    $("status").textContent = `Deleted “${altText(image)}”. ${$("status").textContent}`;
  } catch (error) {
    $("photo-error").textContent = error.message;
  } finally {
    $("delete-yes").disabled = false;
  }
}

async function download() {
  const image = state.current;
  try {
    const link = await api(`images/${image.image_id}/download`, { query: { attachment: "true" } });
    // the URL answers with Content-Disposition: attachment, so the page stays
    const anchor = el("a", { href: link.url, download: image.filename, rel: "noopener" });
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
  } catch (error) {
    $("photo-error").textContent = error.message;
  }
}

// ----- wiring -------------------------------------------------------------------------------

function wire() {
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const field = AUTH === "header" ? $("user-name") : $("id-token");
    try {
      signIn(field.value.trim());
    } catch (error) {
      $("sign-in-error").textContent = error.message;
      field.focus();
    }
  });
  $("sign-out").addEventListener("click", () => signOut());

  $("upload-button").addEventListener("click", () => $("file-input").click());
  $("tray-clear").addEventListener("click", () => {
    $("tray").replaceChildren();
    showTray();
    $("upload-button").focus();
  });
  $("file-input").addEventListener("change", (event) => {
    uploadFiles([...event.target.files]);
    event.target.value = "";
  });
  let depth = 0;
  const hasFiles = (event) => event.dataTransfer?.types.includes("Files") && state.identity;
  document.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    depth += 1;
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) document.body.classList.remove("dragging");
  });
  document.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  document.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    document.body.classList.remove("dragging");
    uploadFiles([...event.dataTransfer.files]);
  });
  window.addEventListener("beforeunload", (event) => {
    if (state.uploads.size) event.preventDefault(); // uploads in progress would be lost
  });

  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    applyFilters(Object.fromEntries(new FormData(event.target)));
  });
  $("filters").addEventListener("reset", (event) => {
    event.preventDefault();
    applyFilters({});
  });
  $("load-more").addEventListener("click", () => {
    state.more = true;
    loadMore();
  });
  scroller.observe($("more"));

  $("grid").addEventListener(
    "error", // images' errors do not bubble: caught on the way down
    (event) => {
      const failed = event.target.closest?.(".tile:not(.pending)");
      if (event.target.tagName === "IMG" && failed) renew(failed.dataset.id);
    },
    true,
  );
  $("grid").addEventListener("click", (event) => {
    const link = event.target.closest(".tile a");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button) return;
    event.preventDefault();
    openPhoto(link.closest(".tile").dataset.id, link);
  });

  const dialog = $("photo");
  dialog.addEventListener("close", closed); // Escape, or closePhoto()
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) closePhoto(); // the backdrop
  });
  $("photo-close").addEventListener("click", closePhoto);
  $("photo-owner").addEventListener("click", () => filterBy({ user_id: state.current.user_id }));
  $("photo-download").addEventListener("click", download);
  $("photo-edit").addEventListener("click", showEdit);
  $("edit-cancel").addEventListener("click", () => {
    $("edit-form").hidden = true;
    $("photo-edit").focus();
  });
  $("edit-form").addEventListener("submit", (event) => {
    event.preventDefault();
    saveEdit();
  });
  $("photo-delete").addEventListener("click", () => {
    $("edit-form").hidden = true;
    $("delete-confirm").hidden = false;
    $("delete-no").focus();
  });
  $("delete-no").addEventListener("click", () => {
    $("delete-confirm").hidden = true;
    $("photo-delete").focus();
  });
  $("delete-yes").addEventListener("click", deletePhoto);
}

function start() {
  for (const node of document.querySelectorAll("[data-auth]")) node.hidden = node.dataset.auth !== AUTH;
  $("filter-box").open = matchMedia("(min-width: 801px)").matches;
  wire();
  // back from the Cognito hosted sign-in (implicit grant): #id_token=…&access_token=…
  const handed = new URLSearchParams(location.hash.slice(1)).get("id_token");
  if (handed && AUTH === "cognito") {
    history.replaceState(null, "", `${location.pathname}${location.search}`);
    try {
      return signIn(handed);
    } catch (error) {
      return showSignIn(error.message);
    }
  }
  const params = new URLSearchParams(location.search);
  const asked = params.get("user");
  if (asked !== null && AUTH === "header") {
    params.delete("user"); // signed in by the link: the address goes back to the plain page
    const rest = params.toString();
    history.replaceState(null, "", `${location.pathname}${rest ? `?${rest}` : ""}${location.hash}`);
    try {
      return signIn(asked);
    } catch (error) {
      return showSignIn(`${asked}: ${error.message}`);
    }
  }
  const saved = stored(AUTH === "header" ? KEYS.user : KEYS.token);
  if (!saved) return showSignIn();
  try {
    enter(identityOf(saved));
  } catch (error) {
    store(KEYS.token, null);
    showSignIn(error.message);
  }
}

start();
