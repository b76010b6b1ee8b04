// Bootstrap: pin the page's Content-Security-Policy before any app code runs, then start
// the yew app. Only this origin may be contacted, plus the origin of a model URL the user
// gave explicitly (?model=https://…). The service worker (sw.js) is registered by the app.
const allowed = ["'self'"];
const model = new URLSearchParams(location.search).get("model");
if (model) {
  try {
    const origin = new URL(model, location.href).origin;
    if (origin !== location.origin) allowed.push(origin);
  } catch (_) { /* not a URL: the app reports it */ }
}
const policy = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  `connect-src ${allowed.join(" ")}`,
  "img-src 'self' data: blob:",
  "style-src 'self' 'unsafe-inline'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");
const meta = document.createElement("meta");
meta.httpEquiv = "Content-Security-Policy";
meta.content = policy;
document.head.prepend(meta);

import("./conan_web.js").then((m) => m.default());
