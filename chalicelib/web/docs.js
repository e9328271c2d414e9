// The interactive API documentation: Swagger UI (vendored, see mk/docs.mk) over the app's own
// /openapi.json, read from the API root this page came through (under API Gateway's or
// LocalStack's stage path too), and "try it out" sent back to that same root. The identity is
// given through Authorize (X-User-Id in header mode, an ID token in cognito mode), kept across
// reloads; when nothing is authorized yet, the gallery's sign-in on this origin is used.

const root = document.body.dataset.apiRoot || "";
const GALLERY_KEYS = { header: "gallery.user", bearer: "gallery.token" };

function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function fail(message) {
  const box = document.getElementById("docs-error");
  box.textContent = message;
  box.hidden = false;
}

function signInFromGallery(ui, spec) {
  const schemes = spec.components?.securitySchemes || {};
  if (ui.authSelectors.authorized().size) return; // Authorize was used: it wins
  for (const [name, scheme] of Object.entries(schemes)) {
    const kind = scheme.type === "apiKey" ? "header" : scheme.scheme === "bearer" ? "bearer" : "";
    const value = kind && stored(GALLERY_KEYS[kind]);
    if (value) ui.preauthorizeApiKey(name, value);
  }
}

async function start() {
  const response = await fetch(`${root}/openapi.json`, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`openapi.json answered ${response.status}`);
  const spec = await response.json();
  // The document names no server: requests go to the root this page was served from.
  spec.servers = [{ url: new URL(`${root}/`, location.href).href.replace(/\/$/, "") }];
  const ui = SwaggerUIBundle({
    spec,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    persistAuthorization: true,
    displayRequestDuration: true,
    validatorUrl: null, // no call to an outside validator: the page works offline
    onComplete: () => signInFromGallery(ui, spec),
  });
  window.ui = ui;
}

start().catch((error) => fail(`The API description could not be loaded: ${error.message}`));
